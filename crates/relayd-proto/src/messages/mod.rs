//! One message enum per direction of each channel between relayd's
//! processes, after relayd's `enum imsg_type` and its `procs[]` tables.
//! Each module holds both directions of one socketpair and names its two
//! ends `<Holder><Peer>Channel` (`ParentHceChannel` is the parent's end of
//! the parent <-> hce channel, `HceParentChannel` the hce's).
//!
//! Parent <-> child channels carry [`ToChild`] / [`ToParent`]: the shared
//! [`Lifecycle`] beside the engine's own messages. The variant index is the
//! imsg `type` in the frame header (an envelope keeps both levels, see
//! `kind`), so add new variants at the end of an enum to keep older numbers
//! stable.

pub mod agentx;
pub mod hce_pfe;
pub mod hce_relay;
pub mod lifecycle;
pub mod parent_ca;
pub mod parent_hce;
pub mod parent_metrics;
pub mod parent_pfe;
pub mod parent_relay;
pub mod pfe_relay;
pub mod relay_ca;

mod common;

pub use common::*;
pub use lifecycle::{Generation, Lifecycle, LifecycleAnswer, Refusal, ToChild, ToParent, Verdict};
