//! What an `http protocol` relay decides from bytes alone, without I/O:
//! request and response heads and how their bodies are framed (`head`),
//! the request target and the canonical path the filter rules match
//! (`target`), and chunked framing followed byte by byte (`chunked`).
//! Anything two parsers could read differently is refused here. Kept out
//! of the daemon so the fuzz targets (`fuzz/`) build it alone.

pub mod chunked;
pub mod head;
pub mod target;
