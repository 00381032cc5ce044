//! Request and response heads (`relayd_http::head`) and the request
//! target (`relayd_http::target`): no panic on any bytes, and what is
//! accepted holds the invariants the relay relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_http::head::{parse_request, parse_response, Framing};
use relayd_http::target::{canonical_path, path_and_query};

/// `http headerlen`'s default.
const LIMIT: usize = 8192;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_request(data, LIMIT) {
        assert!(head.len <= data.len() && head.len <= LIMIT);
        // Every accepted head ends in CRLF CRLF, and has no bare LF.
        assert!(data[..head.len].ends_with(b"\r\n\r\n"));
        for (at, &byte) in data[..head.len].iter().enumerate() {
            assert!(byte != b'\n' || (at > 0 && data[at - 1] == b'\r'));
        }
    }
    for method in [http::Method::GET, http::Method::HEAD] {
        if let Ok(Some(head)) = parse_response(data, LIMIT, &method) {
            assert!(head.len <= data.len());
            if method == http::Method::HEAD {
                assert_eq!(head.framing, Framing::Empty);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (path, _query) = path_and_query(text);
        let canonical = canonical_path(path);
        // Canonical is a fixed point, has no dot segments or empty ones.
        assert_eq!(canonical_path(&canonical), canonical);
        if canonical.starts_with('/') {
            assert!(!canonical.contains("//"), "{canonical:?}");
            assert!(!canonical.split('/').any(|s| s == "." || s == ".."));
        }
    }
});
