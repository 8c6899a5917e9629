//! libFuzzer target: see `onestop_fuzz::phone`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::phone(data));
