//! Session statistics of a redirect in relayd's format (`ctl_stats`):
//! every interval the total of redirected connections is read from the
//! redirect's nftables counter and turned into "last" and "average" rates
//! per interval, hour and day, the way relayd's pfe_statistics does. The
//! bytes of its flows come from its byte counters (`bytes.rs`).

use relayd_config::ObjectId;
use relayd_proto::status::Statistics;

/// Rolling statistics of one redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectStats {
    stats: Statistics,
    ticks: u64,
}

impl RedirectStats {
    pub fn new(id: ObjectId, interval_secs: u32) -> RedirectStats {
        RedirectStats {
            stats: Statistics {
                id,
                process: 0,
                interval_secs: u64::from(interval_secs.max(1)),
                ..Statistics::default()
            },
            ticks: 0,
        }
    }

    pub fn current(&self) -> &Statistics {
        &self.stats
    }

    /// The byte counters read `inbound` (from clients) and `outbound`
    /// (from hosts) since the configuration started.
    pub fn set_bytes(&mut self, inbound: u64, outbound: u64) {
        self.stats.bytes_in = inbound;
        self.stats.bytes_out = outbound;
    }

    /// One interval passed and the counter now reads `total`.
    pub fn tick(&mut self, total: u64) {
        let cur = &mut self.stats;
        let last = u32::try_from(total.saturating_sub(cur.count)).unwrap_or(u32::MAX);
        cur.last = last;
        cur.count = total;
        self.ticks += 1;
        cur.avg = average(last, cur.avg);
        cur.last_hour = cur.last_hour.saturating_add(last);
        cur.last_day = cur.last_day.saturating_add(last);
        let per_hour = (3600 / cur.interval_secs).max(1);
        let per_day = (86_400 / cur.interval_secs).max(1);
        if self.ticks.is_multiple_of(per_hour) {
            cur.avg_hour = average(cur.last_hour, cur.avg_hour);
            cur.last_hour = 0;
        }
        if self.ticks.is_multiple_of(per_day) {
            cur.avg_day = average(cur.last_day, cur.avg_day);
            cur.last_day = 0;
        }
    }
}

fn average(a: u32, b: u32) -> u32 {
    u32::try_from((u64::from(a) + u64::from(b)) / 2).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_counter() {
        let mut stats = RedirectStats::new(4, 1800);
        stats.tick(10);
        assert_eq!(stats.current().count, 10);
        assert_eq!(stats.current().last, 10);
        assert_eq!(stats.current().avg, 5);
        assert_eq!(stats.current().last_hour, 10);
        // Second tick: an hour is two intervals of 1800 s.
        stats.tick(14);
        assert_eq!(stats.current().last, 4);
        assert_eq!(stats.current().avg, 4);
        assert_eq!(stats.current().avg_hour, 7);
        assert_eq!(stats.current().last_hour, 0);
        assert_eq!(stats.current().last_day, 14);
        // A counter that went back (table rebuilt) counts no new sessions.
        stats.tick(3);
        assert_eq!(stats.current().last, 0);
        assert_eq!(stats.current().id, 4);
        assert_eq!(stats.current().interval_secs, 1800);
    }
}
