//! Helpers for channels between children.

use super::error::PeerError;
use crate::proc::ProcId;
use relayd_proto::ImsgChannel;
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
