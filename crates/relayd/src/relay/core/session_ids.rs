//! Session ids: each relay process numbers its sessions in a space of its
//! own, so an id names one session across all relay processes. relayd
//! counts per process from 1 (`relay_conid`), and OPENBSD-RELAYD-MIB
//! indexes sessions by relay and session id only: with `prefork` two
//! processes would give two sessions of a relay the same row. Here the
//! top bits of an id are the process (`prefork` is at most 32, 5 bits),
//! the rest a counter from 1; process 0's ids are relayd's 1, 2, 3...

use std::sync::atomic::{AtomicU32, Ordering};

/// Bits of an id that count; the ones above hold the process instance.
const COUNTER_BITS: u32 = 27;
const COUNTER_MASK: u32 = (1 << COUNTER_BITS) - 1;
/// The most relay processes `prefork` allows.
pub const MAX_PROCESSES: u32 = 1 << (32 - COUNTER_BITS);

/// The session ids of one relay process.
pub struct SessionIds {
    prefix: u32,
    next: AtomicU32,
}

impl SessionIds {
    /// Ids for relay process `instance` (0-based). An instance past
    /// [`MAX_PROCESSES`] (the configuration refuses that `prefork`) shares
    /// the space of `instance % MAX_PROCESSES`.
    pub fn new(instance: u32) -> SessionIds {
        SessionIds {
            prefix: (instance % MAX_PROCESSES) << COUNTER_BITS,
            next: AtomicU32::new(0),
        }
    }

    /// The next id: never 0, unique in this process until its counter
    /// wraps after 2^27 - 1 sessions (by then the session that had the id
    /// is long gone), and no other process makes it.
    pub fn next(&self) -> u32 {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % COUNTER_MASK;
        self.prefix | (n + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay process instance an id belongs to.
    fn instance_of(id: u32) -> u32 {
        id >> COUNTER_BITS
    }

    #[test]
    fn process_zero_counts_as_relayd_does() {
        let ids = SessionIds::new(0);
        assert_eq!([ids.next(), ids.next(), ids.next()], [1, 2, 3]);
    }

    #[test]
    fn processes_never_share_an_id() {
        let first = SessionIds::new(0);
        let second = SessionIds::new(1);
        let last = SessionIds::new(MAX_PROCESSES - 1);
        let a: Vec<u32> = (0..100).map(|_| first.next()).collect();
        let b: Vec<u32> = (0..100).map(|_| second.next()).collect();
        let c: Vec<u32> = (0..100).map(|_| last.next()).collect();
        assert!(a.iter().all(|id| !b.contains(id) && !c.contains(id)));
        assert!(b.iter().all(|id| !c.contains(id)));
        assert!(b.iter().all(|id| instance_of(*id) == 1));
        assert!(c.iter().all(|id| instance_of(*id) == MAX_PROCESSES - 1));
    }

    #[test]
    fn the_counter_wraps_inside_its_process_and_skips_zero() {
        let ids = SessionIds::new(3);
        ids.next.store(COUNTER_MASK - 1, Ordering::Relaxed);
        let at_end = ids.next();
        let wrapped = ids.next();
        assert_eq!(at_end & COUNTER_MASK, COUNTER_MASK);
        assert_eq!(wrapped & COUNTER_MASK, 1);
        assert_eq!(instance_of(at_end), 3);
        assert_eq!(instance_of(wrapped), 3);
    }

    #[test]
    fn prefork_fits_the_id_space() {
        // relayd.conf's `prefork` is 1..=32.
        assert_eq!(MAX_PROCESSES, 32);
    }
}
