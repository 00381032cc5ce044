//! `tcp protocol` relays (and relays without a protocol): bytes moved both
//! ways unchanged, with splice(2) where the kernel can.

pub mod copy;
pub mod pump;
pub mod splice;
