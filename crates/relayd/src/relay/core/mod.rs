//! What every relay has, whatever its protocol: listeners, plans, sessions
//! and their parking lot, backend choice and connection, and the state one
//! relay process shares between its sessions.

pub mod accept;
pub mod clock;
#[allow(
    dead_code,
    reason = "the dns relay (a later issue) listens on UDP; tested there"
)]
pub mod datagram;
pub mod end;
pub mod forward;
pub mod park;
pub mod plan;
pub mod schedule;
pub mod session;
pub mod shared;
pub mod sockopt;
pub mod stats;
pub mod stream;
#[cfg(test)]
pub mod testing;
