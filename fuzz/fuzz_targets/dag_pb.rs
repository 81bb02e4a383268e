#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| store_ipfs::fuzzing::dag_pb(data));
