//! Periodic work of an engine (statistics, sweeps) as deadlines the runtime
//! waits for, rather than timers each engine polls itself.

use std::time::Duration;
use tokio::time::Instant;

/// Something due every `period`.
#[derive(Debug, Clone)]
pub struct Periodic {
    period: Duration,
    next: Instant,
}

impl Periodic {
    /// First due one period from now.
    pub fn new(period: Duration) -> Periodic {
        Periodic {
            period,
            next: Instant::now() + period,
        }
    }

    /// First due at once.
    pub fn due_now(period: Duration) -> Periodic {
        Periodic {
            period,
            next: Instant::now(),
        }
    }

    pub fn next(&self) -> Instant {
        self.next
    }

    /// Whether it is due at `now`; if so, the next period starts now (a
    /// late tick is not made up for).
    pub fn tick(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.period;
        true
    }
}

/// The earliest of some deadlines.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_per_period_without_catching_up() {
        let mut every = Periodic::new(Duration::from_secs(10));
        let start = every.next() - Duration::from_secs(10);
        assert!(!every.tick(start + Duration::from_secs(9)));
        assert!(every.tick(start + Duration::from_secs(35)));
        assert_eq!(every.next(), start + Duration::from_secs(45));
        assert!(!every.tick(start + Duration::from_secs(40)));
        assert_eq!(earliest([None, Some(start), None]), Some(start));
        assert_eq!(earliest([None]), None);
    }
}
