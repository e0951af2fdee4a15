//! DPoP proof checks (RFC 9449 §4.3) on arbitrary proofs, and `htu` normalization on arbitrary
//! URLs: never a panic, and a proof that passes has a 43-character thumbprint. Inputs are split
//! at the first two newlines: proof, access token, `htu` to normalize.

#![no_main]

use bearer_guard::fuzzing::dpop_proof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let proof = parts.next().unwrap_or("");
    let token = parts.next().unwrap_or("");
    let htu = parts.next().unwrap_or("");
    let (jkt, _) = dpop_proof(proof, token, 1_562_262_616, htu);
    if let Some(jkt) = jkt {
        assert_eq!(jkt.len(), 43);
    }
});
