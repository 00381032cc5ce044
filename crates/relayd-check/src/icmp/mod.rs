//! `check icmp`: ICMP echo over raw sockets shared by every checked host.
//!
//! Raw sockets need root, so the privileged parent opens them
//! ([`IcmpSockets::open`]) and hands them to the check engine, which wraps
//! them in one [`IcmpPinger`]. The pinger sends each host's echo request on
//! the shared socket of its family and routes the replies back to the check
//! that waits for them, so any number of hosts costs two sockets.

mod packet;
mod pinger;
mod sockets;

pub use pinger::IcmpPinger;
pub use sockets::IcmpSockets;
