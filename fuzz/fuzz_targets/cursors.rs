//! Pagination cursors: any text is a cursor of this query or an error, never a panic, and a
//! changed cursor never verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use liftos::storage::cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for parts in 1..=4 {
        if let Ok(k) = cursor::decode("fuzz|records|meta", text, parts) {
            // Only a cursor we issued verifies; re-encoding what it holds gives one that does.
            assert_eq!(
                cursor::decode("fuzz|records|meta", &cursor::encode("fuzz|records|meta", k.clone()), parts).ok(),
                Some(k)
            );
        }
    }
    let issued = cursor::encode("fuzz|records|meta", vec![text.to_string(), "x".into()]);
    assert!(cursor::decode("other|records|meta", &issued, 2).is_err());
});
