//! A running session's activity clock: when it last moved data, and
//! whether both its directions are at rest (which is when it may park).

use nix::time::{clock_gettime, ClockId};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// When a running session last moved data, shared between its two
/// directions and the session table without a lock, and whether both
/// directions are at rest (waiting for data with nothing in flight), which
/// is when the session may be parked.
pub struct ActivityClock {
    started: Instant,
    /// The coarse clock at `started`, in milliseconds.
    started_tick_ms: u64,
    /// Milliseconds after `started`, by the coarse clock.
    last_ms: AtomicU64,
    /// Directions waiting for data with nothing in flight.
    resting: AtomicU8,
    /// The byte counters of the session's relay, set when the session is
    /// registered; bytes move before that only in unit tests.
    bytes: OnceLock<Arc<RelayBytes>>,
}

/// Bytes one relay moved in this relay process since its configuration
/// started: `inbound` from clients to backends, `outbound` from backends
/// to clients. Atomics so that the data paths add to them per call
/// without taking the shared state's lock.
#[derive(Debug, Default)]
pub struct RelayBytes {
    pub inbound: AtomicU64,
    pub outbound: AtomicU64,
}

/// A relay's counter for one way, for a transport that counts what is
/// written to it (an HTTP session's client or backend connection).
#[derive(Debug, Clone)]
pub struct Tally {
    bytes: Arc<RelayBytes>,
    way: Way,
}

impl Tally {
    pub fn add(&self, n: u64) {
        self.bytes.add(self.way, n);
    }
}

impl RelayBytes {
    pub fn add(&self, way: Way, n: u64) {
        let counter = match way {
            Way::In => &self.inbound,
            Way::Out => &self.outbound,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Which way bytes moved: `In` from the client to the backend, `Out`
/// from the backend to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    In,
    Out,
}

impl ActivityClock {
    /// The clock of a session starting now: one read of each clock, as
    /// every connection starts one.
    pub fn new() -> ActivityClock {
        Self::with_origin(Instant::now(), coarse_ms(), 0)
    }

    /// The clock of a session started at `started`, last active at `last`.
    pub fn resumed(started: Instant, last: Instant) -> ActivityClock {
        let since_started = started.elapsed().as_millis() as u64;
        Self::with_origin(
            started,
            coarse_ms().saturating_sub(since_started),
            last.saturating_duration_since(started).as_millis() as u64,
        )
    }

    /// `started` and `started_tick_ms` are the same moment on the two
    /// clocks; the last activity was `last_ms` after it.
    fn with_origin(started: Instant, started_tick_ms: u64, last_ms: u64) -> ActivityClock {
        ActivityClock {
            started,
            started_tick_ms,
            last_ms: AtomicU64::new(last_ms),
            resting: AtomicU8::new(0),
            bytes: OnceLock::new(),
        }
    }

    /// Bytes this session moves count into `bytes` (its relay's).
    pub fn count_into(&self, bytes: Arc<RelayBytes>) {
        // A clock belongs to one session of one relay; a second call (a
        // resumed session registered again) names the same counters.
        let _ = self.bytes.set(bytes);
    }

    /// `n` bytes moved `way`: the session is active and its relay counts
    /// them. Called once per read, write or splice, not per byte.
    pub fn moved(&self, way: Way, n: usize) {
        self.touch();
        if let Some(bytes) = self.bytes.get() {
            bytes.add(way, n as u64);
        }
    }

    /// The counter of this session's relay for bytes moving `way`; `None`
    /// before the session is registered.
    pub fn tally(&self, way: Way) -> Option<Tally> {
        let bytes = self.bytes.get()?.clone();
        Some(Tally { bytes, way })
    }

    /// Called per request, and per read or write of a TCP session: it
    /// reads the coarse clock, which is last activity's precision.
    pub fn touch(&self) {
        let now = coarse_ms().saturating_sub(self.started_tick_ms);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn last_active(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    pub fn idle(&self) -> Duration {
        self.last_active().elapsed()
    }

    /// A direction starts waiting for data with nothing in flight.
    pub fn rest(&self) {
        self.resting.fetch_add(1, Ordering::Relaxed);
    }

    /// A direction has data again.
    pub fn wake(&self) {
        self.resting.fetch_sub(1, Ordering::Relaxed);
    }

    /// Both directions wait for data and hold nothing.
    pub fn both_resting(&self) -> bool {
        self.resting.load(Ordering::Relaxed) >= 2
    }
}

/// CLOCK_MONOTONIC_COARSE in milliseconds: the monotonic clock as of the
/// last timer tick (a few milliseconds behind at most), read without the
/// time stamp counter. On the 2-core VM relayd is benchmarked on it costs
/// 9 ns where `Instant::now` costs 52. Activity is shown in seconds and
/// parks sessions after half a second, so a tick's lag does not matter.
fn coarse_ms() -> u64 {
    // Linux has had this clock since 2.6.32; should the call fail all
    // the same, activity reads as at the session's start.
    clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE).map_or(0, |now| {
        now.tv_sec() as u64 * 1000 + now.tv_nsec() as u64 / 1_000_000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Activity kept by the coarse clock agrees with `Instant` to within
    /// a tick or so: a touch resets the idle time, and a resumed clock
    /// keeps the last activity it was given.
    #[test]
    fn touches_move_last_activity_on_the_instant_timeline() {
        let tick = Duration::from_millis(20);
        let started = Instant::now() - Duration::from_secs(3);
        let clock = ActivityClock::resumed(started, started + Duration::from_secs(1));
        let idle = clock.idle();
        assert!(
            idle >= Duration::from_secs(2) && idle < Duration::from_secs(2) + tick,
            "{idle:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        clock.touch();
        assert!(clock.idle() < tick, "{:?}", clock.idle());
        let since_start = clock.last_active() - clock.started();
        let three = Duration::from_millis(3050);
        assert!(
            since_start + tick > three && since_start < three + tick,
            "{since_start:?}"
        );
    }
}
