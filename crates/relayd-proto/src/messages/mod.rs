//! One message enum per direction of each channel between relayd's
//! processes, after relayd's `enum imsg_type` and its `procs[]` tables.
//! Each module holds both directions of one socketpair and names the two
//! ends (`ParentSide`, `HceSide`, ...) as channel types.
//!
//! The variant index is the imsg `type` in the frame header, so add new
//! variants at the end of an enum to keep older numbers stable.

pub mod hce_pfe;
pub mod hce_relay;
pub mod parent_ca;
pub mod parent_hce;
pub mod parent_pfe;
pub mod parent_relay;
pub mod pfe_relay;
pub mod relay_ca;

mod common;

pub use common::*;
