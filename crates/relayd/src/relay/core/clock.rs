//! A running session's activity clock: when it last moved data, and
//! whether both its directions are at rest (which is when it may park).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// When a running session last moved data, shared between its two
/// directions and the session table without a lock, and whether both
/// directions are at rest (waiting for data with nothing in flight), which
/// is when the session may be parked.
pub struct ActivityClock {
    started: Instant,
    /// Milliseconds after `started`.
    last_ms: AtomicU64,
    /// Directions waiting for data with nothing in flight.
    resting: AtomicU8,
}

impl ActivityClock {
    pub fn new() -> ActivityClock {
        Self::resumed(Instant::now(), Instant::now())
    }

    /// The clock of a session started at `started`, last active at `last`.
    pub fn resumed(started: Instant, last: Instant) -> ActivityClock {
        ActivityClock {
            started,
            last_ms: AtomicU64::new(last.saturating_duration_since(started).as_millis() as u64),
            resting: AtomicU8::new(0),
        }
    }

    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
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
