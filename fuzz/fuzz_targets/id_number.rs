//! libFuzzer target: see `onestop_fuzz::id_number`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::id_number(data));
