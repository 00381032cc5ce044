//! How a session ends: the reasons, typed by side and direction, and the
//! line `log connection` writes for them.

use super::forward::ForwardError;
use super::park::ParkError;
use super::plan::RelayPlan;
use super::shared::Shared;
use crate::relay::dns::Unanswered;
use crate::relay::http::Refusal;
use relayd_config::ConnectionLog;
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// How a relayed session ended.
#[derive(Debug)]
pub enum Ended {
    /// Both sides closed their sending direction.
    Done,
    /// `session timeout` passed without data.
    Timeout,
    /// The client's TLS handshake failed (not TLS, a protocol error, the
    /// ca could not sign).
    Handshake(io::Error),
    /// Reading from the client failed (e.g. it reset the connection).
    ClientRead(io::Error),
    /// Reading from the backend failed.
    ServerRead(io::Error),
    ClientWrite(io::Error),
    ServerWrite(io::Error),
    /// Both directions were at rest long enough: the caller parks the
    /// session (its sockets stay open).
    Parked,
    /// Parking failed; the session is closed.
    Park(ParkError),
    /// An HTTP relay refused a request or an answer and closed the session.
    Http(Refusal),
    /// A dns relay gave a query up before its timeout.
    Dns(Unanswered),
}

impl Ended {
    pub fn is_error(&self) -> bool {
        !matches!(self, Ended::Done | Ended::Parked)
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Done => write!(f, "done"),
            Ended::Timeout => write!(f, "session timeout"),
            Ended::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Ended::ClientRead(e) => write!(f, "read from client failed: {e}"),
            Ended::ServerRead(e) => write!(f, "read from server failed: {e}"),
            Ended::ClientWrite(e) => write!(f, "write to client failed: {e}"),
            Ended::ServerWrite(e) => write!(f, "write to server failed: {e}"),
            Ended::Parked => write!(f, "parked"),
            Ended::Park(e) => write!(f, "cannot park the idle session: {e}"),
            Ended::Http(refusal) => write!(f, "{refusal}"),
            Ended::Dns(unanswered) => write!(f, "{unanswered}"),
        }
    }
}

pub enum Outcome {
    Relayed(SocketAddr, Ended),
    NoBackend(ForwardError),
    /// An HTTP session that ended before it had a backend.
    Unrouted(Ended),
}

/// Unregisters a session and logs its end.
pub fn finish(shared: &Shared, plan: &RelayPlan, id: u32, peer: SocketAddr, outcome: &Outcome) {
    shared.close_session(id);
    log_end(shared, plan, id, peer, outcome);
}

fn log_end(shared: &Shared, plan: &RelayPlan, id: u32, peer: SocketAddr, outcome: &Outcome) {
    let error = match outcome {
        Outcome::Relayed(_, ended) | Outcome::Unrouted(ended) => ended.is_error(),
        Outcome::NoBackend(_) => true,
    };
    let info = match shared.connection_log() {
        Some(ConnectionLog::All) => true,
        Some(ConnectionLog::ErrorsOnly) => error,
        None => false,
    };
    // Formatting costs more than the rest of a short session's end.
    if !info && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (backend, message) = match outcome {
        Outcome::Relayed(addr, ended) => (addr.to_string(), ended.to_string()),
        Outcome::NoBackend(why) => ("-".to_string(), why.to_string()),
        Outcome::Unrouted(ended) => ("-".to_string(), ended.to_string()),
    };
    let text = format!(
        "relay {}, session {id} ({} active), {peer} -> {backend}, {message}",
        plan.name,
        shared.session_count()
    );
    if info {
        tracing::info!("{text}");
    } else {
        tracing::debug!("{text}");
    }
}
