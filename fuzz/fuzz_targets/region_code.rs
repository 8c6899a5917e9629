//! libFuzzer target: see `onestop_fuzz::region_code`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::region_code(data));
