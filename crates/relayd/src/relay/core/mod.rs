//! What every relay has, whatever its protocol: listeners, plans, sessions
//! and their parking lot, backend choice and connection, and the state one
//! relay process shares between its sessions.
//!
//! Module map: `plan` (a relay's common part and its protocol's part),
//! `accept` (listening sockets; TCP accepts sessions), `datagram` (UDP
//! listeners handing datagrams to a protocol), `session` (from accept to
//! the protocol, and back from the parking lot), `session_ids` (ids unique
//! across the relay processes), `stream` (the transport
//! seam: plain TCP or a layered stream such as TLS), `fresh` (an accepted
//! socket not yet registered with the runtime), `forward` (choosing
//! and connecting a backend), `natlook` (a datagram's original destination,
//! asked of the pfe), `schedule` (the table modes), `clock` (a
//! session's activity), `end` (how sessions end, their log line), `park`
//! (idle sessions without a task), `shared` (state the sessions share),
//! `sockopt` (`tcp { ... }`), `stats` (relayd's counters), `tls` (a relay's
//! TLS configurations, the server handshake's stream), `inspect` (TLS
//! inspection: backend first, its certificate copied and CA-signed).

pub mod accept;
pub mod clock;
pub mod datagram;
pub mod end;
pub mod forward;
pub mod fresh;
pub mod inspect;
pub mod natlook;
pub mod park;
pub mod plan;
pub mod schedule;
pub mod session;
pub mod session_ids;
pub mod shared;
pub mod sockopt;
pub mod stats;
pub mod stream;
#[cfg(test)]
pub mod testing;
pub mod tls;
