//! The chunked framing scanner (`relayd_http::chunked`): no panic, and
//! the same verdict and end however the bytes are split (as they arrive
//! in reads of any size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_http::chunked::ChunkScanner;

fn scan(pieces: &[&[u8]]) -> Result<(usize, bool), ()> {
    let mut scanner = ChunkScanner::default();
    let mut total = 0;
    for piece in pieces {
        let used = scanner.scan(piece).map_err(|_| ())?;
        assert!(used <= piece.len());
        total += used;
        if scanner.is_done() {
            return Ok((total, true));
        }
    }
    Ok((total, scanner.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = scan(&[body]);
    let at = usize::from(split) % (body.len() + 1);
    let (a, b) = body.split_at(at);
    assert_eq!(scan(&[a, b]), whole);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(scan(&bytes), whole);
});
