//! The one error type of the imsg layer. Every variant says what went wrong
//! with which frame, so a daemon log line is enough to find the faulty peer.

use std::io;

/// Why sending or receiving an imsg frame failed.
///
/// After any error other than [`ImsgError::Encode`] and
/// [`ImsgError::FrameTooLarge`] on the sending side, the channel is unusable:
/// the reader shuts the socket down so that the peer sees end-of-file.
#[derive(Debug, thiserror::Error)]
pub enum ImsgError {
    #[error("imsg socket I/O: {0}")]
    Io(#[from] io::Error),

    #[error("imsg frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },

    #[error("imsg header announces {len} bytes, less than the {header} byte header")]
    FrameTooShort { len: u32, header: usize },

    #[error("imsg stream ended in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },

    #[error("imsg frame not complete {limit:?} after its first byte ({buffered} bytes buffered)")]
    FrameTimeout {
        buffered: usize,
        limit: std::time::Duration,
    },

    #[error("imsg header has unknown flag bits {flags:#06x}")]
    UnknownFlags { flags: u16 },

    #[error("imsg frame type {kind} announces a descriptor but none arrived")]
    MissingFd { kind: u32 },

    #[error("imsg control data was truncated: the peer sent more descriptors than fit")]
    ControlTruncated,

    #[error("cannot encode imsg payload: {0}")]
    Encode(String),

    #[error("cannot decode imsg payload of frame type {kind} ({len} bytes): {reason}")]
    Decode {
        kind: u32,
        len: usize,
        reason: String,
    },

    #[error("imsg header type {header} does not match payload message type {payload} ({name})")]
    KindMismatch {
        header: u32,
        payload: u32,
        name: &'static str,
    },

    #[error("imsg channel already failed and was closed")]
    Closed,
}
