//! The queries one dns relay has sent and not had answered, in one relay
//! process, and what it dropped. The table is bounded: when it is full, a
//! new query pushes out the oldest pending one (its task ends and its
//! socket closes), so a flood of queries to a backend that stays silent
//! holds at most [`PENDING_LIMIT`] sockets and never stops new queries
//! from being relayed. Each pending query is a session of the relay's
//! session table as well (`show sessions`).

use relayd_proto::status::DnsDrops;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Pending queries per dns relay and relay process.
pub const PENDING_LIMIT: usize = 4096;

/// Why a datagram or a query was dropped; one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not a DNS query (to the listener) or answer (to a query socket).
    Malformed,
    /// An answer with another ID than its query went out with.
    UnknownId,
    /// An answer from another address or port than the backend asked.
    WrongSource,
    /// No usable backend, or sending the query failed.
    NoBackend,
    /// `forward to destination` / `nat lookup` without tables: the query
    /// was not redirected here, or its original destination could not be
    /// looked up.
    NoDestination,
    /// No answer within the session timeout.
    Timeout,
}

/// A query in the table; its task ends when `evicted` resolves.
pub struct Admitted {
    pub ticket: u64,
    pub evicted: oneshot::Receiver<()>,
}

pub struct PendingQueries {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    /// Oldest first; dropping a sender ends its query's task.
    queries: BTreeMap<u64, oneshot::Sender<()>>,
    drops: DnsDrops,
}

impl PendingQueries {
    pub fn new(limit: usize) -> PendingQueries {
        PendingQueries {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Counters and senders stay consistent whatever panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a new query in, pushing out the oldest one if the table is
    /// full (counted as `evicted`).
    pub fn admit(&self) -> Admitted {
        let mut state = self.state();
        while state.queries.len() >= self.limit {
            if state.queries.pop_first().is_some() {
                state.drops.evicted += 1;
            }
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let (sender, evicted) = oneshot::channel();
        state.queries.insert(ticket, sender);
        Admitted { ticket, evicted }
    }

    /// The query is answered or given up; an evicted one is already gone.
    pub fn release(&self, ticket: u64) {
        self.state().queries.remove(&ticket);
    }

    pub fn count(&self, dropped: Dropped) {
        let drops = &mut self.state().drops;
        let counter = match dropped {
            Dropped::Malformed => &mut drops.malformed,
            Dropped::UnknownId => &mut drops.unknown_id,
            Dropped::WrongSource => &mut drops.wrong_source,
            Dropped::NoBackend => &mut drops.no_backend,
            Dropped::NoDestination => &mut drops.no_destination,
            Dropped::Timeout => &mut drops.timeouts,
        };
        *counter += 1;
    }

    pub fn drops(&self) -> DnsDrops {
        self.state().drops
    }

    pub fn len(&self) -> usize {
        self.state().queries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneshot::error::TryRecvError;

    #[test]
    fn a_full_table_pushes_out_its_oldest_query() {
        let pending = PendingQueries::new(2);
        let mut first = pending.admit();
        let mut second = pending.admit();
        assert_eq!(pending.len(), 2);
        let mut third = pending.admit();
        assert_eq!(pending.len(), 2, "the table never grows past its limit");
        assert_eq!(first.evicted.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(second.evicted.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(third.evicted.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(pending.drops().evicted, 1);
        // Releasing an evicted query changes nothing; the others leave.
        pending.release(first.ticket);
        pending.release(second.ticket);
        assert_eq!(pending.len(), 1);
        pending.release(third.ticket);
        assert_eq!(pending.len(), 0);
    }

    #[test]
    fn every_reason_has_its_counter() {
        let pending = PendingQueries::new(8);
        for dropped in [
            Dropped::Malformed,
            Dropped::UnknownId,
            Dropped::UnknownId,
            Dropped::WrongSource,
            Dropped::NoBackend,
            Dropped::Timeout,
        ] {
            pending.count(dropped);
        }
        let drops = pending.drops();
        assert_eq!(
            (drops.malformed, drops.unknown_id, drops.wrong_source),
            (1, 2, 1)
        );
        assert_eq!((drops.evicted, drops.no_backend, drops.timeouts), (0, 1, 1));
    }
}
