//! parent <-> ca (keeper of TLS private keys). The ca sends nothing beyond
//! the lifecycle answers.

use super::{NoMessage, RelayFile, ToChild, ToParent};
use crate::channel::ImsgChannel;
use serde::{Deserialize, Serialize};

/// parent -> ca, beside the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentToCa {
    /// A private key (or its certificate); the frame's descriptor.
    RelayFile(RelayFile),
}

/// The parent's end.
pub type ParentCaChannel = ImsgChannel<ToChild<ParentToCa>, ToParent<NoMessage>>;
/// The ca's end.
pub type CaParentChannel = ImsgChannel<ToParent<NoMessage>, ToChild<ParentToCa>>;
