//! JWKS documents (`KeySet::from_jwks`), then each key it keeps offered a signature (RFC 7515
//! A.3's ES256 example) as the validator would, with and without a `kid`.

#![no_main]

use libfuzzer_sys::fuzz_target;

const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fuzz_target!(|document: &[u8]| {
    let Some((len, verified)) = bearer_guard::fuzzing::key_set(document, None, MESSAGE, SIGNATURE)
    else {
        return;
    };
    assert!((1..=64).contains(&len), "{len} keys");
    assert!(verified <= len);
    let _ = bearer_guard::fuzzing::key_set(document, Some("ec-p256-1"), MESSAGE, SIGNATURE);
});
