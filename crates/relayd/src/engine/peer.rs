//! Helpers for channels between children.

use super::error::PeerError;
use crate::proc::ProcId;
use relayd_proto::{ImsgChannel, ImsgReader};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::unix::net::UnixStream;

/// The channel to `peer` on the socket the runtime handed over.
pub fn open<Tx, Rx>(peer: ProcId, socket: UnixStream) -> Result<ImsgChannel<Tx, Rx>, PeerError>
where
    Tx: Serialize,
    Rx: DeserializeOwned + Serialize,
{
    ImsgChannel::new(socket).map_err(|source| PeerError { peer, source })
}

/// Reads a channel from another child whose messages this engine does not
/// act on yet, logging them, so the sender never blocks on a full socket.
pub fn drain<Rx>(mut reader: ImsgReader<Rx>, peer: ProcId)
where
    Rx: DeserializeOwned + Serialize + std::fmt::Debug + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match reader.recv().await {
                Ok(Some(received)) => tracing::trace!("from {peer}: {:?}", received.msg),
                Ok(None) => return tracing::debug!("channel from {peer} closed"),
                Err(e) => return tracing::warn!("channel from {peer}: {e}"),
            }
        }
    });
}
