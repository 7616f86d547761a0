//! Any bytes as an HTTP/1.1 request head, parsed as hyper does (httparse),
//! then through Outpost's own request-head handling: host normalization,
//! routing, static-file path mapping, range parsing and hop-by-hop/forwarded
//! header rewriting. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_proxy::fuzzing;

fuzz_target!(|data: &[u8]| {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(data) else { return };
    let (Some(method), Some(path)) = (req.method, req.path) else { return };
    let mut map = http::HeaderMap::new();
    for h in req.headers.iter() {
        if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(h.name.as_bytes()), http::HeaderValue::from_bytes(h.value)) {
            map.append(n, v);
        }
    }
    fuzzing::request_head(method, path, map);
});
