//! When each table is checked, and the check rounds themselves.
//!
//! Every table has its own clock ticking every `interval`. A round checks all
//! the table's hosts at once in one task (a `JoinSet` of one small task per
//! host, on the engine's single runtime), each check bounded by the table's
//! `timeout`; results flow back to the engine as [`RoundEvent`]s while the
//! round runs. A round still running when the next one is due is aborted,
//! as relayd closes the sockets of unfinished checks; the hosts it left
//! unanswered then show `interval timeout`.
//!
//! `check script` rounds are not run here: scripts run in the parent, so
//! the engine asks it per host instead.

use relayd_check::{check_host, IcmpPinger, Outcome, Target};
use relayd_config::{Check, ObjectId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// What a running round reports to the engine.
#[derive(Debug)]
pub enum RoundEvent {
    Checked {
        round: u64,
        table_id: ObjectId,
        host_id: ObjectId,
        outcome: Outcome,
    },
    /// Every host of the round answered (or timed out).
    Finished { round: u64, table_id: ObjectId },
}

/// Where running rounds report; `false` once nobody listens any more.
pub type RoundSink = Arc<dyn Fn(RoundEvent) -> bool + Send + Sync>;

/// The clock and the running round of one table.
struct Clock {
    interval: Duration,
    next_due: Instant,
    /// Id of the table's latest round; results of older rounds are stale.
    round: u64,
    /// When the latest round began.
    began: Instant,
    running: Option<AbortHandle>,
}

/// The clocks of every checked table.
pub struct Scheduler {
    clocks: HashMap<ObjectId, Clock>,
    /// Round ids are unique across tables and reloads, so a late result of a
    /// replaced configuration can never pass for a current one.
    last_round: u64,
    events: RoundSink,
}

impl Scheduler {
    pub fn new(events: RoundSink) -> Scheduler {
        Scheduler {
            clocks: HashMap::new(),
            last_round: 0,
            events,
        }
    }

    /// Starts over with these tables (id, interval), all due now.
    pub fn set_tables(&mut self, tables: impl IntoIterator<Item = (ObjectId, Duration)>) {
        self.stop_all();
        for (id, interval) in tables {
            self.add_table(id, interval);
        }
    }

    /// Checks `table_id` every `interval` from now on, the first round now.
    pub fn add_table(&mut self, table_id: ObjectId, interval: Duration) {
        self.remove_table(table_id);
        let clock = Clock {
            interval: interval.max(Duration::from_secs(1)),
            next_due: Instant::now(),
            round: 0,
            began: Instant::now(),
            running: None,
        };
        self.clocks.insert(table_id, clock);
    }

    /// Stops checking `table_id`, aborting its running round.
    pub fn remove_table(&mut self, table_id: ObjectId) {
        if let Some(mut clock) = self.clocks.remove(&table_id) {
            if let Some(running) = clock.running.take() {
                running.abort();
            }
        }
    }

    /// Aborts every running round and forgets every table.
    pub fn stop_all(&mut self) {
        for clock in self.clocks.values_mut() {
            if let Some(running) = clock.running.take() {
                running.abort();
            }
        }
        self.clocks.clear();
    }

    /// When the next table is due, if any table is checked.
    pub fn next_due(&self) -> Option<Instant> {
        self.clocks.values().map(|c| c.next_due).min()
    }

    /// Tables due at `now`, in id order so rounds start predictably.
    pub fn due(&self, now: Instant) -> Vec<ObjectId> {
        let mut due: Vec<ObjectId> = self
            .clocks
            .iter()
            .filter(|(_, c)| c.next_due <= now)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        due
    }

    /// `relayctl poll`: every table is due now.
    pub fn all_due_now(&mut self) {
        let now = Instant::now();
        for clock in self.clocks.values_mut() {
            clock.next_due = now;
        }
    }

    /// Begins a new round of `table_id`: aborts the previous one if it still
    /// runs and moves the clock one interval on. Returns the new round's id
    /// (`None` for a table without a clock).
    pub fn begin_round(&mut self, table_id: ObjectId) -> Option<u64> {
        let clock = self.clocks.get_mut(&table_id)?;
        if let Some(running) = clock.running.take() {
            running.abort();
        }
        self.last_round += 1;
        clock.round = self.last_round;
        clock.began = Instant::now();
        clock.next_due = clock.began + clock.interval;
        Some(clock.round)
    }

    /// Runs a round's checks in a task of their own.
    pub fn spawn_round(&mut self, round: RoundPlan) {
        let Some(clock) = self.clocks.get_mut(&round.table_id) else {
            return;
        };
        let events = self.events.clone();
        let handle = tokio::spawn(run_round(round, events));
        clock.running = Some(handle.abort_handle());
    }

    /// Whether `round` is the latest round of `table_id`.
    pub fn is_current(&self, table_id: ObjectId, round: u64) -> bool {
        self.clocks.get(&table_id).is_some_and(|c| c.round == round)
    }

    /// The round ended: nothing to abort at the next tick. Returns how
    /// long it took.
    pub fn finished(&mut self, table_id: ObjectId, round: u64) -> Option<Duration> {
        let clock = self.clocks.get_mut(&table_id)?;
        if clock.round != round {
            return None;
        }
        clock.running = None;
        Some(clock.began.elapsed())
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Everything one round needs, owned, so it can run in its own task.
pub struct RoundPlan {
    pub round: u64,
    pub table_id: ObjectId,
    pub check: Arc<Check>,
    pub timeout: Duration,
    pub targets: Vec<(ObjectId, Target)>,
    pub icmp: Option<Arc<IcmpPinger>>,
}

async fn run_round(plan: RoundPlan, events: RoundSink) {
    let mut checks = JoinSet::new();
    for (host_id, target) in plan.targets {
        let check = plan.check.clone();
        let icmp = plan.icmp.clone();
        let timeout = plan.timeout;
        checks.spawn(async move {
            let outcome = check_host(&check, &target, timeout, icmp.as_deref()).await;
            (host_id, outcome)
        });
    }
    while let Some(joined) = checks.join_next().await {
        // A check task only fails by panicking; its host then simply shows
        // `interval timeout` at the next round.
        if let Ok((host_id, outcome)) = joined {
            let event = RoundEvent::Checked {
                round: plan.round,
                table_id: plan.table_id,
                host_id,
                outcome,
            };
            if !events(event) {
                return;
            }
        }
    }
    events(RoundEvent::Finished {
        round: plan.round,
        table_id: plan.table_id,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::sync::mpsc;

    /// A scheduler whose rounds report on a channel the test reads.
    fn scheduler() -> (Scheduler, mpsc::UnboundedReceiver<RoundEvent>) {
        let (tx, events) = mpsc::unbounded_channel();
        (
            Scheduler::new(Arc::new(move |e| tx.send(e).is_ok())),
            events,
        )
    }

    fn target(port: u16) -> Target {
        Target {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            ip_ttl: None,
        }
    }

    fn plan(
        round: u64,
        check: Check,
        timeout: Duration,
        targets: Vec<(ObjectId, Target)>,
    ) -> RoundPlan {
        RoundPlan {
            round,
            table_id: 1,
            check: Arc::new(check),
            timeout,
            targets,
            icmp: None,
        }
    }

    #[tokio::test]
    async fn a_round_reports_each_host_then_finishes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = listener.local_addr().expect("addr").port();
        let closed = {
            let spare = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            spare.local_addr().expect("addr").port()
        };
        let (mut scheduler, mut events) = scheduler();
        scheduler.add_table(1, Duration::from_secs(1));
        assert_eq!(scheduler.due(Instant::now()), vec![1]);
        let round = scheduler.begin_round(1).expect("clock");
        assert!(
            scheduler.due(Instant::now()).is_empty(),
            "next round in 1 s"
        );
        scheduler.spawn_round(plan(
            round,
            Check::Tcp,
            Duration::from_secs(2),
            vec![(10, target(open)), (11, target(closed))],
        ));
        let mut verdicts = HashMap::new();
        loop {
            match events.recv().await.expect("event") {
                RoundEvent::Checked {
                    host_id,
                    outcome,
                    round: r,
                    ..
                } => {
                    assert_eq!(r, round);
                    verdicts.insert(host_id, outcome.up);
                }
                RoundEvent::Finished { round: r, table_id } => {
                    assert_eq!((r, table_id), (round, 1));
                    break;
                }
            }
        }
        assert_eq!(verdicts, HashMap::from([(10, true), (11, false)]));
        assert!(scheduler.is_current(1, round));
    }

    #[tokio::test]
    async fn a_new_round_aborts_the_unfinished_one() {
        // Accepts and never answers: the send/expect check waits for its
        // whole timeout.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (mut scheduler, mut events) = scheduler();
        scheduler.add_table(1, Duration::from_secs(1));
        let silent = Check::Send {
            send: "PING".into(),
            expect: "PONG".into(),
            tls: false,
        };
        let first = scheduler.begin_round(1).expect("clock");
        scheduler.spawn_round(plan(
            first,
            silent.clone(),
            Duration::from_secs(5),
            vec![(10, target(port))],
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = scheduler.begin_round(1).expect("clock");
        assert!(!scheduler.is_current(1, first));
        scheduler.spawn_round(plan(
            second,
            Check::Tcp,
            Duration::from_secs(1),
            vec![(10, target(port))],
        ));
        match events.recv().await.expect("event") {
            RoundEvent::Checked { round, outcome, .. } => {
                assert_eq!(round, second, "the first round was aborted");
                assert!(outcome.up);
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(listener);
    }
}
