//! libFuzzer target: see `onestop_fuzz::case_no`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::case_no(data));
