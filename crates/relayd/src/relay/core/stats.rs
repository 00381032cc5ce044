//! Session counters of one relay in one relay process, computed as relayd
//! does on every statistics tick (every `interval` seconds): the total, the
//! sessions of the last interval, hour and day, and rough running averages.

use relayd_config::ObjectId;
use relayd_proto::status::{HttpAnswers, Statistics};

/// Counters of one relay; `started` counts sessions since the last tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayCounters {
    started: u32,
    ticks: u64,
    total: u64,
    avg: u32,
    hour: u32,
    avg_hour: u32,
    day: u32,
    avg_day: u32,
    /// Answers of an HTTP relay by status code, since the configuration
    /// started; `None` until the first.
    http_answers: Option<HttpAnswers>,
}

impl RelayCounters {
    /// An HTTP answer with `status` went to a client.
    pub fn http_answered(&mut self, status: u16) {
        let counts = &mut self
            .http_answers
            .get_or_insert_with(HttpAnswers::default)
            .by_status;
        *counts.entry(status).or_default() += 1;
    }

    /// A session was accepted.
    pub fn session_started(&mut self) {
        self.started = self.started.saturating_add(1);
    }

    /// Closes one interval and returns the figures to publish.
    pub fn tick(&mut self, relay: ObjectId, process: u32, interval_secs: u64) -> Statistics {
        let interval = interval_secs.max(1);
        let last = std::mem::take(&mut self.started);
        self.ticks += 1;
        self.total += u64::from(last);
        self.avg = halfway(last, self.avg);
        self.hour = self.hour.saturating_add(last);
        self.day = self.day.saturating_add(last);
        let report = Statistics {
            id: relay,
            process,
            interval_secs: interval,
            count: self.total,
            last,
            avg: self.avg,
            last_hour: self.hour,
            avg_hour: self.avg_hour,
            last_day: self.day,
            avg_day: self.avg_day,
            dns: None,
            http: None,
            http_answers: self.http_answers.clone(),
            // The shared state fills these in from the relay's byte counters.
            bytes_in: 0,
            bytes_out: 0,
        };
        if self.ticks.is_multiple_of((3600 / interval).max(1)) {
            self.avg_hour = halfway(self.hour, self.avg_hour);
            self.hour = 0;
        }
        if self.ticks.is_multiple_of((86_400 / interval).max(1)) {
            self.avg_day = halfway(self.day, self.avg_day);
            self.day = 0;
        }
        report
    }
}

/// relayd's "average": the mean of the new figure and the old average.
fn halfway(new: u32, old: u32) -> u32 {
    ((u64::from(new) + u64::from(old)) / 2) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_reports_the_interval_and_adds_it_to_the_total() {
        let mut counters = RelayCounters::default();
        for _ in 0..4 {
            counters.session_started();
        }
        let first = counters.tick(7, 2, 10);
        assert_eq!((first.id, first.process, first.interval_secs), (7, 2, 10));
        assert_eq!((first.count, first.last, first.avg), (4, 4, 2));
        assert_eq!((first.last_hour, first.last_day), (4, 4));
        counters.session_started();
        let second = counters.tick(7, 2, 10);
        assert_eq!((second.count, second.last, second.avg), (5, 1, 1));
        assert_eq!(second.last_hour, 5);
        let quiet = counters.tick(7, 2, 10);
        assert_eq!((quiet.count, quiet.last, quiet.avg), (5, 0, 0));
    }

    #[test]
    fn http_answers_are_counted_by_status_and_kept_across_ticks() {
        let mut counters = RelayCounters::default();
        assert_eq!(
            counters.tick(1, 0, 10).http_answers,
            None,
            "no HTTP answer yet"
        );
        for status in [200, 200, 404] {
            counters.http_answered(status);
        }
        counters.tick(1, 0, 10);
        counters.http_answered(200);
        let http = counters.tick(1, 0, 10).http_answers.unwrap_or_default();
        let counts: Vec<(u16, u64)> = http.by_status.into_iter().collect();
        assert_eq!(counts, [(200, 3), (404, 1)]);
    }

    #[test]
    fn the_hourly_figures_roll_over_after_an_hour_of_ticks() {
        let mut counters = RelayCounters::default();
        for _ in 0..(3600 / 600) {
            counters.session_started();
            counters.session_started();
            counters.tick(1, 0, 600);
        }
        // Six ticks of two sessions: the hour is averaged and restarted.
        let next = counters.tick(1, 0, 600);
        assert_eq!(next.avg_hour, 6);
        assert_eq!(next.last_hour, 0);
        assert_eq!(next.last_day, 12);
    }
}
