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

/// A relay process's end.
pub type RelaySide = ImsgChannel<RelayToCa, CaToRelay>;
/// ca's end.
pub type CaSide = ImsgChannel<CaToRelay, RelayToCa>;
