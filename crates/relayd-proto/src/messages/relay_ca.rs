//! relay <-> ca: private key operations for TLS handshakes.

use super::{KeyOperation, KeyOperationResult};
use crate::channel::ImsgChannel;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayToCa {
    KeyOperation(KeyOperation),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaToRelay {
    KeyOperationResult(KeyOperationResult),
}

/// A relay process's end (to the ca of the same instance).
pub type RelayCaChannel = ImsgChannel<RelayToCa, CaToRelay>;
/// The ca's end.
pub type CaRelayChannel = ImsgChannel<CaToRelay, RelayToCa>;
