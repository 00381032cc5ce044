//! What the fuzz targets check, kept in the ordinary test run: the
//! canonical path is its own canonical path (the http_head target found a
//! `%` that made a new escape), and the chunk scanner's verdict does not
//! depend on how the bytes are split.

use proptest::prelude::*;
use relayd_http::chunked::ChunkScanner;
use relayd_http::target::canonical_path;

fn scan(pieces: &[&[u8]]) -> Result<(usize, bool), ()> {
    let mut scanner = ChunkScanner::default();
    let mut total = 0;
    for piece in pieces {
        total += scanner.scan(piece).map_err(|_| ())?;
        if scanner.is_done() {
            break;
        }
    }
    Ok((total, scanner.is_done()))
}

proptest! {
    #[test]
    fn the_canonical_path_is_a_fixed_point(path in "/[a-z%./0-9A-F]{0,24}") {
        let once = canonical_path(&path);
        prop_assert_eq!(canonical_path(&once), once.clone());
        prop_assert!(!once.contains("//"));
        prop_assert!(!once.split('/').any(|s| s == "." || s == ".."));
    }

    #[test]
    fn chunked_verdicts_do_not_depend_on_the_split(
        body in "([0-9a-f]{1,3}(;x)?\r\n[a-z]{0,20}\r\n){0,3}0\r\n\r\n|[0-9a-fA-F;\r\nxz ]{0,40}",
        at in 0usize..64,
    ) {
        let bytes = body.as_bytes();
        let at = at.min(bytes.len());
        let (a, b) = bytes.split_at(at);
        prop_assert_eq!(scan(&[a, b]), scan(&[bytes]));
    }
}
