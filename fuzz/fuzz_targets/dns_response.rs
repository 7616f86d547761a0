//! The stub resolver's DNS answer parser: any bytes a DNS server (or anything
//! spoofing one) may send must parse or fail cleanly, never panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    outpost_proxy::fuzzing::dns_response(data);
});
