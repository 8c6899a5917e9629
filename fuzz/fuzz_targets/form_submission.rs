//! libFuzzer target: see `onestop_fuzz::form_submission`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::form_submission(data));
