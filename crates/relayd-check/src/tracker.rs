//! Host states from check results, with relayd's rules (`hce_notify_done`
//! in hce.c): `retry N` tolerance, availability counters, and `parent N`
//! inheritance. Pure logic: the engine feeds it outcomes and reports the
//! transitions it returns.

use std::collections::HashMap;

use relayd_config::{Host, ObjectId};

use crate::{HostError, Outcome};

/// relayd's `enum host_status`, shared with the engines and relayctl.
pub use relayd_proto::status::HostState;

/// The state before and after one recorded result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: HostState,
    pub to: HostState,
}

impl Transition {
    /// relayd logs these with `log state changes` and tells the pfe to
    /// update the redirection / relay tables.
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

/// What the check engine knows about one host between checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTracker {
    state: HostState,
    /// `retry N` of the host: failures tolerated before going down.
    retry: u32,
    /// Failures still tolerated. Starts at 0, as in relayd: the very first
    /// failure of a host counts, tolerance applies from then on.
    retries_left: u32,
    check_count: u64,
    up_count: u64,
    last_error: HostError,
    last_http_code: Option<u16>,
    check_pending: bool,
    disabled: bool,
}

impl HostTracker {
    pub fn new(retry: u32) -> HostTracker {
        HostTracker {
            state: HostState::Unknown,
            retry,
            retries_left: 0,
            check_count: 0,
            up_count: 0,
            last_error: HostError::None,
            last_http_code: None,
            check_pending: false,
            disabled: false,
        }
    }

    pub fn state(&self) -> HostState {
        self.state
    }

    /// Result code of the last check (or `interval timeout`).
    pub fn last_error(&self) -> HostError {
        self.last_error
    }

    pub fn last_http_code(&self) -> Option<u16> {
        self.last_http_code
    }

    /// Failures still tolerated before the host goes down (relayctl prints
    /// `, N retries` while this is not 0).
    pub fn retries_left(&self) -> u32 {
        self.retries_left
    }

    pub fn check_count(&self) -> u64 {
        self.check_count
    }

    pub fn up_count(&self) -> u64 {
        self.up_count
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Up checks / counted checks, in percent; `None` before any.
    pub fn availability(&self) -> Option<f64> {
        (self.check_count > 0).then(|| self.up_count as f64 / self.check_count as f64 * 100.0)
    }

    /// As relayctl's `Avlblty` column: `99.50%`, or empty before any check.
    pub fn availability_text(&self) -> String {
        self.availability()
            .map(|percent| format!("{percent:.2}%"))
            .unwrap_or_default()
    }

    /// Call when a new check of the host starts. A check of the previous
    /// interval that never reported leaves `interval timeout` as the last
    /// error (the state is kept).
    pub fn start_check(&mut self) {
        if self.check_pending {
            self.last_error = HostError::IntervalTimeout;
        }
        self.check_pending = true;
    }

    /// Applies a check result. A failure while retries are left keeps the
    /// previous state and uses one retry; any other result sets the state
    /// and restores the retries. Results of disabled hosts are ignored.
    ///
    /// For a host with `parent N`, feed it the parent's own outcome (before
    /// the parent's retries were applied), as relayd does: the child then
    /// applies its own `retry`.
    pub fn record(&mut self, outcome: &Outcome) -> Transition {
        let from = self.state;
        self.check_pending = false;
        if self.disabled {
            return Transition { from, to: from };
        }
        self.last_error = outcome.error;
        self.last_http_code = outcome.http_code;

        let result = if outcome.up {
            HostState::Up
        } else {
            HostState::Down
        };
        let to = if result == HostState::Down && self.retries_left > 0 {
            self.retries_left -= 1;
            from
        } else {
            self.retries_left = self.retry;
            result
        };
        if to != HostState::Unknown {
            self.check_count += 1;
            if to == HostState::Up {
                self.up_count += 1;
            }
        }
        self.state = to;
        Transition { from, to }
    }

    /// `relayctl host disable`: unknown, counters cleared, results ignored.
    pub fn disable(&mut self) {
        self.disabled = true;
        self.state = HostState::Unknown;
        self.check_count = 0;
        self.up_count = 0;
        self.last_error = HostError::None;
    }

    /// `relayctl host enable`: unknown until the next check.
    pub fn enable(&mut self) {
        self.disabled = false;
        self.state = HostState::Unknown;
        self.last_error = HostError::None;
    }

    /// A disabled or re-enabled table makes its hosts unknown.
    pub fn set_unknown(&mut self) {
        self.state = HostState::Unknown;
    }

    /// The tracker a reload hands to the same host of the new
    /// configuration: state, counters and last error kept, `retry` as the
    /// new configuration says (the retries left no more than it allows),
    /// no check pending (the new configuration's rounds start over). A
    /// disabled host starts afresh: the switches of relayctl do not
    /// survive a reload.
    pub fn carried_over(&self, retry: u32) -> HostTracker {
        if self.disabled {
            return HostTracker::new(retry);
        }
        HostTracker {
            retry,
            retries_left: self.retries_left.min(retry),
            check_pending: false,
            ..self.clone()
        }
    }
}

/// Which hosts inherit their state from which (`parent N`): hosts with a
/// parent are not checked; each result of the parent is recorded for them
/// too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentLinks {
    children: HashMap<ObjectId, Vec<ObjectId>>,
}

impl ParentLinks {
    /// Links every host with a valid `parent` to it. As relayd, a parent
    /// must exist, differ from the host and not have a parent itself;
    /// invalid links are returned so the caller can report them (the config
    /// validation should have refused them already).
    pub fn new<'a>(hosts: impl IntoIterator<Item = &'a Host>) -> (ParentLinks, Vec<ObjectId>) {
        let hosts: Vec<&Host> = hosts.into_iter().collect();
        let parent_of: HashMap<ObjectId, Option<ObjectId>> =
            hosts.iter().map(|host| (host.id, host.parent)).collect();
        let mut links = ParentLinks::default();
        let mut invalid = Vec::new();
        for host in &hosts {
            let Some(parent) = host.parent else {
                continue;
            };
            let valid = parent != host.id && matches!(parent_of.get(&parent), Some(None));
            if valid {
                links.children.entry(parent).or_default().push(host.id);
            } else {
                invalid.push(host.id);
            }
        }
        (links, invalid)
    }

    /// Hosts that take over `parent`'s results.
    pub fn children(&self, parent: ObjectId) -> &[ObjectId] {
        self.children.get(&parent).map_or(&[], Vec::as_slice)
    }

    /// True when the host is checked itself rather than inheriting.
    pub fn is_checked(host: &Host) -> bool {
        host.parent.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn up() -> Outcome {
        Outcome::up(HostError::TcpConnectOk, Duration::from_millis(1))
    }

    fn down() -> Outcome {
        Outcome::down(HostError::TcpConnectFail, Duration::from_millis(1))
    }

    #[test]
    fn a_reload_carries_the_state_over_but_not_a_disabled_host() {
        let mut host = HostTracker::new(3);
        host.record(&up());
        host.start_check();
        let carried = host.carried_over(1);
        assert_eq!(carried.state(), HostState::Up);
        assert_eq!((carried.check_count(), carried.up_count()), (1, 1));
        assert_eq!(carried.retries_left(), 1, "clamped to the new retry");
        let mut next = carried.clone();
        next.start_check();
        assert_ne!(
            next.last_error(),
            HostError::IntervalTimeout,
            "no check of the old configuration is pending"
        );
        assert!(!next.record(&up()).changed());
        host.disable();
        let fresh = host.carried_over(1);
        assert!(!fresh.is_disabled());
        assert_eq!(fresh.state(), HostState::Unknown);
    }

    #[test]
    fn without_retry_every_result_counts() {
        let mut host = HostTracker::new(0);
        assert_eq!(host.state(), HostState::Unknown);
        assert_eq!(host.availability_text(), "");

        let t = host.record(&up());
        assert_eq!(
            (t.from, t.to, t.changed()),
            (HostState::Unknown, HostState::Up, true)
        );
        let t = host.record(&up());
        assert!(!t.changed());
        let t = host.record(&down());
        assert_eq!((t.from, t.to), (HostState::Up, HostState::Down));
        assert_eq!(host.last_error(), HostError::TcpConnectFail);
        assert_eq!(host.check_count(), 3);
        assert_eq!(host.up_count(), 2);
        assert_eq!(host.availability_text(), "66.67%");
    }

    #[test]
    fn retry_tolerates_n_failures_then_goes_down() {
        let mut host = HostTracker::new(2);
        host.record(&up());
        assert_eq!(host.retries_left(), 2);

        // Two failures are absorbed: still up, counted as up checks.
        assert!(!host.record(&down()).changed());
        assert_eq!(host.retries_left(), 1);
        assert!(!host.record(&down()).changed());
        assert_eq!(host.retries_left(), 0);
        assert_eq!(host.state(), HostState::Up);
        assert_eq!(host.last_error(), HostError::TcpConnectFail);

        // The third goes through.
        let t = host.record(&down());
        assert_eq!((t.from, t.to), (HostState::Up, HostState::Down));
        assert_eq!(host.retries_left(), 2);
        assert_eq!(host.check_count(), 4);
        assert_eq!(host.up_count(), 3);
    }

    #[test]
    fn success_restores_retries() {
        let mut host = HostTracker::new(1);
        host.record(&up());
        host.record(&down());
        assert_eq!(host.retries_left(), 0);
        host.record(&up());
        assert_eq!(host.retries_left(), 1);
        assert!(!host.record(&down()).changed(), "retry is available again");
    }

    #[test]
    fn first_failure_counts_even_with_retry() {
        // relayd starts hosts with no retries left.
        let mut host = HostTracker::new(3);
        let t = host.record(&down());
        assert_eq!((t.from, t.to), (HostState::Unknown, HostState::Down));
        assert_eq!(host.retries_left(), 3);
        // Down hosts also keep their state while retrying: no flapping up.
        assert!(!host.record(&down()).changed());
        assert_eq!(host.record(&up()).to, HostState::Up);
    }

    #[test]
    fn interval_timeout_marks_an_unfinished_check() {
        let mut host = HostTracker::new(0);
        host.start_check();
        host.record(&up());
        host.start_check();
        assert_eq!(host.last_error(), HostError::TcpConnectOk);
        host.start_check();
        assert_eq!(host.last_error(), HostError::IntervalTimeout);
        assert_eq!(host.state(), HostState::Up, "state is kept");
    }

    #[test]
    fn disabled_hosts_ignore_results() {
        let mut host = HostTracker::new(0);
        host.record(&up());
        host.disable();
        assert_eq!(host.state(), HostState::Unknown);
        assert_eq!(host.check_count(), 0);
        assert!(!host.record(&up()).changed());
        assert_eq!(host.state(), HostState::Unknown);
        host.enable();
        assert_eq!(host.record(&up()).to, HostState::Up);
    }

    fn host(id: ObjectId, parent: Option<ObjectId>, retry: u32) -> Host {
        Host {
            id,
            name: format!("10.0.0.{id}"),
            addr: std::net::IpAddr::from([10, 0, 0, id as u8]),
            retry,
            parent,
            priority: None,
            ip_ttl: None,
        }
    }

    #[test]
    fn parent_links_follow_relayd_rules() {
        let hosts = [
            host(1, None, 0),
            host(2, Some(1), 0),
            host(3, Some(1), 0),
            host(4, Some(2), 0),  // parent has a parent
            host(5, Some(5), 0),  // itself
            host(6, Some(99), 0), // missing
        ];
        let (links, invalid) = ParentLinks::new(&hosts);
        assert_eq!(links.children(1), &[2, 3]);
        assert_eq!(links.children(2), &[] as &[ObjectId]);
        assert_eq!(invalid, vec![4, 5, 6]);
        assert!(ParentLinks::is_checked(&hosts[0]));
        assert!(!ParentLinks::is_checked(&hosts[1]));
    }

    #[test]
    fn children_inherit_the_raw_result_with_their_own_retry() {
        let mut parent = HostTracker::new(2);
        let mut child = HostTracker::new(0);
        for tracker in [&mut parent, &mut child] {
            tracker.record(&up());
        }
        // The parent absorbs the failure, the child (retry 0) does not:
        // the child gets the parent's raw result, not its state.
        let failure = down();
        assert!(!parent.record(&failure).changed());
        let t = child.record(&failure);
        assert_eq!((t.from, t.to), (HostState::Up, HostState::Down));
        assert_eq!(child.last_error(), HostError::TcpConnectFail);
    }
}
