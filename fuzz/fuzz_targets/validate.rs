//! `Validator::validate` on arbitrary strings.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let before = common::now();
    let result = common::validate(&token);
    if let Ok(claims) = result {
        common::check_accepted(&claims, before, common::now());
    }
});
