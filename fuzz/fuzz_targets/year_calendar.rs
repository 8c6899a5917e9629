//! libFuzzer target: see `onestop_fuzz::year_calendar`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::year_calendar(data));
