//! Why the relay itself ended an HTTP session: what it refused from the
//! client or the backend. The words are those of the session's end in the
//! log (`log connection`).

use super::chunked::ChunkError;
use super::head::HeadError;
use crate::relay::core::forward::ForwardError;
use http::StatusCode;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A request head that cannot be forwarded safely (400, 413 or 431).
    #[error("bad request: {0}")]
    BadRequestHead(HeadError),
    /// A request body with broken chunked framing (400).
    #[error("bad request: {0}")]
    BadRequestBody(ChunkError),
    /// relayd's `relay_abort_http`: the client got `status` (an error page
    /// with `return error`, otherwise just the close).
    #[error("{} {message}", .status.as_u16())]
    Aborted {
        status: StatusCode,
        message: &'static str,
    },
    /// No backend could be reached (503 or 504).
    #[error(transparent)]
    NoBackend(ForwardError),
    /// The backend's answer head cannot be forwarded safely (502).
    #[error("bad response from {backend}: {error:?}")]
    BadResponseHead {
        backend: SocketAddr,
        error: HeadError,
    },
    /// An answer body with broken chunked framing, after its head went out.
    #[error("bad response: {0}")]
    BadResponseBody(ChunkError),
    /// The backend closed before its answer's head was complete (502).
    #[error("{backend} closed without an answer")]
    BackendClosed { backend: SocketAddr },
    /// `101 Switching Protocols` to a request that did not ask (502).
    #[error("backend switched protocols unasked")]
    UnaskedUpgrade,
}
