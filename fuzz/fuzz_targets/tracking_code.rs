//! libFuzzer target: see `onestop_fuzz::tracking_code`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::tracking_code(data));
