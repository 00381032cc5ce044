//! The opening of every control connection: relayctl says its protocol
//! version, relayd answers with its own, and a relayctl of another build
//! stops with both numbers instead of misreading what follows.

use relayd_proto::control::{check_version, ControlClient, ControlReply, VersionMismatch};
use relayd_proto::ImsgError;

/// Why the daemon's first answer was not a matching `Hello`.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Version(#[from] VersionMismatch),
    #[error("relayd did not say its protocol version (a relayd from before protocol versions?)")]
    NoHello,
    #[error("read error: {0}")]
    Read(#[from] ImsgError),
}

impl HandshakeError {
    /// The read ran out of time (`-t`).
    pub fn timed_out(&self) -> bool {
        matches!(self, HandshakeError::Read(e) if crate::is_timeout(e))
    }
}

/// Reads relayd's `Hello` and checks it against `ours`.
pub fn expect_hello(channel: &mut ControlClient, ours: u32) -> Result<(), HandshakeError> {
    match channel.recv()? {
        Some(received) => match received.msg {
            ControlReply::Hello { version } => Ok(check_version(ours, version)?),
            _ => Err(HandshakeError::NoHello),
        },
        None => Err(HandshakeError::NoHello),
    }
}
