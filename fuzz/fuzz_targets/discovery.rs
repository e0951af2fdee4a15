//! Discovery metadata documents (`jwks_uri`, `token_endpoint`), and the metadata locations of
//! arbitrary issuer URLs.

#![no_main]

use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://idp.example.com";

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let token_endpoint = flags & 1 != 0;
    let allow_http = flags & 2 != 0;
    if let Some(url) = bearer_guard::fuzzing::discovery(body, ISSUER, token_endpoint, allow_http) {
        let secure = match url.scheme() {
            "https" => true,
            "http" => allow_http || is_loopback(&url),
            _ => false,
        };
        assert!(secure, "{url}");
    }

    // The same bytes as an issuer identifier.
    let issuer = String::from_utf8_lossy(body);
    if let Some([oidc, rfc8414]) = bearer_guard::fuzzing::metadata_locations(&issuer) {
        let issuer = url::Url::parse(&issuer).expect("parsed before");
        if matches!(issuer.scheme(), "http" | "https") {
            // Always the issuer's own origin, at the well-known paths.
            for location in [&oidc, &rfc8414] {
                assert_eq!(location.origin(), issuer.origin(), "{issuer}");
            }
            let path = issuer.path().trim_end_matches('/');
            assert_eq!(
                oidc.path(),
                format!("{path}/.well-known/openid-configuration"),
                "{issuer}"
            );
            assert_eq!(
                rfc8414.path(),
                format!("/.well-known/oauth-authorization-server{path}"),
                "{issuer}"
            );
        }
    }
});
