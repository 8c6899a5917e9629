//! libFuzzer target: see `onestop_fuzz::workflow_json`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| onestop_fuzz::workflow_json(data));
