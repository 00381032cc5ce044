//! What every parent -> child channel carries besides the engine's own
//! messages, and what every child answers: the configuration lifecycle, one
//! enum for all children, and the two envelopes that put it beside an
//! engine's messages on the wire.
//!
//! A configuration is rolled out in two phases so that no child runs one
//! another child refused:
//!
//! ```text
//! parent -> each child   Reset{g}, Config(part)..., [engine messages with fds], ConfigDone
//! each child -> parent   ConfigDone{g, Accepted | Refused(why)}   (checked, ready, nothing changed yet)
//! parent -> each child   Start{g}   when every child accepted:     run it
//!                        Abort{g}   when one refused:              drop it, keep running the old one
//! ```
//!
//! The generation `g` numbers the rollouts of one parent; answers for an
//! older generation are stale and ignored.

use super::PeerChannel;
use crate::config_sync::ConfigPart;
use serde::{Deserialize, Serialize};

/// Numbers the configuration rollouts of one parent, from 1.
pub type Generation = u64;

/// parent -> any child: the lifecycle.
// Messages live only between building and sending, so the size of the
// `Config` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    /// A configuration of `generation` follows: forget the parts collected
    /// so far (not the running configuration).
    Reset {
        generation: Generation,
    },
    Config(ConfigPart),
    /// Every part was sent: check the configuration and get ready to run it
    /// without changing what runs; answer `ConfigDone` with the verdict.
    ConfigDone,
    /// Every child accepted `generation`: run it now.
    Start {
        generation: Generation,
    },
    /// A child refused `generation`: drop it and keep running the
    /// configuration you have.
    Abort {
        generation: Generation,
    },
    /// New log verbosity (0 brief, higher more verbose).
    SetVerbose(u32),
    /// A socket to another child; the frame's descriptor.
    PeerChannel(PeerChannel),
    Shutdown,
}

/// any child -> parent: the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleAnswer {
    /// Started and waiting for configuration.
    Ready,
    /// The verdict on the configuration of `generation`.
    ConfigDone {
        generation: Generation,
        verdict: Verdict,
    },
}

/// A child's answer to a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Checked and ready to run at `Start`.
    Accepted,
    /// Cannot be run; the parent aborts the rollout everywhere.
    Refused(Refusal),
}

/// Why a child cannot run a configuration it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The relays cannot be set up as configured (the reason names the
    /// relay and its place in the file).
    #[error("{reason}")]
    Relays { reason: String },
    /// The kernel refuses the nftables rules the redirections need.
    #[error("nftables refuses the redirections: {reason}")]
    Redirections { reason: String },
    /// A message that must come with a descriptor came without one.
    #[error("{what} arrived without its descriptor")]
    MissingDescriptor { what: String },
    /// A TLS key or certificate cannot be used.
    #[error("keypair {keypair}: {reason}")]
    Keypair { keypair: String, reason: String },
    /// The pfe was sent a configuration without its routers' plan.
    #[error("the routers' plan did not come with the configuration")]
    MissingRoutePlan,
    /// The metrics process cannot serve the socket it was sent.
    #[error("metrics: {reason}")]
    Metrics { reason: String },
}

/// What a parent -> child channel carries: the lifecycle or the engine's
/// own messages `E`. The frame type keeps both levels (see `kind`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToChild<E> {
    Lifecycle(Lifecycle),
    Engine(E),
}

/// What a child -> parent channel carries: the lifecycle answers or the
/// engine's own reports `R`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToParent<R> {
    Lifecycle(LifecycleAnswer),
    Engine(R),
}
