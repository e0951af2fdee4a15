//! A JWT payload read as validation reads it (only the members the claim rules use are
//! built) against the whole object read strictly: both must refuse the same inputs (bad
//! syntax, numbers out of range, a name given twice at any depth), and the members built must
//! be exactly the whole object's.

#![no_main]

use bearer_guard::fuzzing::claims_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|json: &[u8]| {
    let (whole, selected, keep) = claims_json(json);
    let expected = whole.map(|mut map| {
        map.retain(|name, _| keep(name));
        map
    });
    assert_eq!(selected, expected);
});
