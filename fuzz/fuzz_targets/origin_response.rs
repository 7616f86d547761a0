//! Any bytes as an origin's HTTP/1.1 response, read by Outpost's own client
//! codec (head, then a chunked body), split into pieces of varying size.
//! None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_proxy::fuzzing;

fuzz_target!(|data: &[u8]| {
    fuzzing::origin_response(data);
});
