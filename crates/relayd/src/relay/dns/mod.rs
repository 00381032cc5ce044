//! `dns protocol` relays, as relayd's relay_udp.c: UDP only (DNS over TCP
//! is a `tcp` relay on port 53). Each query from a client goes to a backend
//! of the relay's tables (every mode, health checks, backup tables), or to
//! where the client sent it before a DNAT rule brought it here (`forward
//! to destination`, `nat lookup`: the pfe asks conntrack), from a
//! socket of its own, so the kernel picks a fresh source port, with its
//! DNS ID replaced by a random non-zero one (`ids`); the answer is taken
//! only from that backend's address and port and only with that ID, gets
//! the client's ID back and leaves through the listening socket it came
//! in on. A query no backend answers ends at the session timeout.
//!
//! Module map: `header` (the fixed DNS header, read with hickory-proto),
//! `ids` (random IDs), `pending` (the bounded table of pending queries and
//! the drop counters), `query` (one query's task: backend, socket, answer).
//!
//! Every pending query is a session of the relay (counted, listed by
//! `show sessions`); what is dropped is counted per reason and published
//! with the relay's statistics (`show relays`). Nothing dropped, and no
//! answer that is not the one asked for, reaches a client.

mod header;
mod ids;
mod pending;
mod query;
#[cfg(test)]
mod tests;

pub use pending::PENDING_LIMIT;

use crate::relay::core::accept::ListenerError;
use crate::relay::core::clock::ActivityClock;
use crate::relay::core::datagram::{self, Datagram, DatagramHandler};
use crate::relay::core::plan::RelayPlan;
use crate::relay::core::shared::Shared;
use header::MessageKind;
use ids::IdSource;
use pending::{Dropped, PendingQueries};
use relayd_proto::status::DnsDrops;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// What a dns relay adds to the common plan: its pending queries and drop
/// counters in this relay process, shared by its listeners, for as long
/// as its configuration runs (a new configuration starts a new table;
/// queries of the old one end on their own).
#[derive(Clone)]
pub struct DnsPlan {
    state: Arc<DnsState>,
}

struct DnsState {
    pending: PendingQueries,
    ids: Mutex<IdSource>,
}

impl DnsPlan {
    pub fn new() -> DnsPlan {
        Self::with_limit(PENDING_LIMIT)
    }

    /// A plan whose table holds at most `limit` pending queries.
    pub fn with_limit(limit: usize) -> DnsPlan {
        DnsPlan {
            state: Arc::new(DnsState {
                pending: PendingQueries::new(limit),
                ids: Mutex::new(IdSource::new()),
            }),
        }
    }

    /// What the relay dropped so far, for its statistics.
    pub fn drops(&self) -> DnsDrops {
        self.state.pending.drops()
    }

    /// Queries waiting for their answer.
    pub fn pending(&self) -> usize {
        self.state.pending.len()
    }
}

impl fmt::Debug for DnsPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsPlan")
            .field("pending", &self.pending())
            .finish()
    }
}

/// How a query ended without an answer, besides the common ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("dropped for a newer query: too many queries pending")]
    Evicted,
}

/// Starts relaying the queries that reach the UDP socket `fd`.
pub fn start(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    dns: &DnsPlan,
    listen: SocketAddr,
    fd: OwnedFd,
) -> Result<JoinHandle<()>, ListenerError> {
    let handler = DnsRelay {
        shared,
        plan: plan.clone(),
        state: dns.state.clone(),
    };
    datagram::start(plan, listen, fd, Arc::new(handler))
}

/// The handler of a dns relay's listeners.
struct DnsRelay {
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    state: Arc<DnsState>,
}

impl DatagramHandler for DnsRelay {
    fn datagram(&self, datagram: Datagram<'_>) {
        let client_id = match header::inspect(datagram.payload) {
            Ok(header) if header.kind == MessageKind::Query => header.id,
            inspected => {
                tracing::trace!(
                    "relay {}: dropped a datagram from {} that is no query: {inspected:?}",
                    self.plan.name,
                    datagram.from
                );
                return self.state.pending.count(Dropped::Malformed);
            }
        };
        let clock = Arc::new(ActivityClock::new());
        let session = self
            .shared
            .open_session(self.plan.id, datagram.from, clock.clone());
        let admitted = self.state.pending.admit();
        let id = self
            .state
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_id();
        tokio::spawn(query::relay(query::Query {
            shared: self.shared.clone(),
            plan: self.plan.clone(),
            state: self.state.clone(),
            session,
            client: datagram.from,
            listen: datagram.listen,
            reply: datagram.socket.clone(),
            message: datagram.payload.to_vec(),
            client_id,
            id,
            admitted,
            clock,
        }));
    }
}
