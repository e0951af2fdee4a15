//! The client's reading of a token endpoint's answer (RFC 6749 §5.1, §5.2): arbitrary status
//! and body.

#![no_main]

use bearer_guard::client::TokenError;
use bearer_guard::fuzzing::{MAX_LIFETIME, token_response};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

/// `server_text`'s bound: 256 characters and an ellipsis.
const MAX_TEXT_CHARS: usize = 257;

fn check_text(text: &str) {
    assert!(text.chars().count() <= MAX_TEXT_CHARS, "{text:?}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_le_bytes(*status) % 500;
    let sent_at = Instant::now();
    match token_response(status, body, sent_at) {
        Ok(token) => {
            assert!((200..300).contains(&status));
            let secret = token.secret();
            assert!(!secret.is_empty());
            assert!(secret.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(token.authorization(), format!("Bearer {secret}").as_str());
            assert!(token.expires_at() <= sent_at + MAX_LIFETIME);
        }
        Err(TokenError::Rejected(response)) => {
            assert_eq!(response.status(), status);
            check_text(&response.code().to_string());
            if let Some(description) = response.description() {
                check_text(description);
            }
            if let Some(uri) = response.uri() {
                check_text(uri);
            }
        }
        Err(TokenError::UnsupportedTokenType(kind)) => check_text(&kind),
        Err(_) => {}
    }
});
