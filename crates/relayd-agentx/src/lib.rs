//! AgentX (RFC 2741) as relayd's subagent speaks it: the 20-byte header
//! and its framing (`pdu::Header`, payloads at most [`MAX_PDU`] bytes),
//! object identifiers (`oid`), and the PDUs a subagent sends (Open,
//! Register, Close, Response) and receives (Response, Get, GetNext,
//! GetBulk, Close, the Set family), decoded from untrusted bytes without
//! panicking. Kept out of the daemon so the fuzz target (`fuzz/`) builds
//! it alone.

pub mod oid;
pub mod pdu;
mod wire;

pub use oid::{Oid, OidError};
pub use pdu::{
    DecodeError, Header, Pdu, PduType, Request, RequestKind, ResponsePdu, SearchRange, Value,
    VarBind,
};

/// The largest payload (after the header) this subagent accepts or sends.
/// relayd's MIB answers are far smaller; a larger PDU from the master
/// ends the session.
pub const MAX_PDU: usize = 64 * 1024;
