//! libFuzzer target: see `onestop_fuzz::credit_code`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::credit_code(data));
