//! The parent's side of a configuration rollout (see
//! `relayd_proto::messages::lifecycle`): sending a configuration to every
//! child, each the parts its row of the process table wants, then waiting
//! for every verdict. All accepted: `Start` everywhere. One refused:
//! `Abort` everywhere, and every child keeps running what it ran.

use super::error::ParentError;
use super::links::{EngineMessage, Links};
use crate::proc::ProcId;
use relayd_config::Config;
use relayd_proto::config_parts;
use relayd_proto::messages::{Generation, Lifecycle, Refusal, Verdict};
use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::time::Duration;
use tokio::time::Instant;

/// Something that must reach one child with the configuration, before its
/// `ConfigDone` (a relay's listening socket, the pfe's route plan).
pub struct Extra {
    pub to: ProcId,
    pub message: EngineMessage,
    pub fd: Option<OwnedFd>,
}

/// Sends configuration `generation` to every child: `Reset`, the parts it
/// wants, its extras, `ConfigDone`.
pub fn send(
    links: &Links,
    generation: Generation,
    config: &Config,
    extras: Vec<Extra>,
) -> Result<(), ParentError> {
    for id in links.ids() {
        let link = links.get(id)?;
        link.lifecycle(Lifecycle::Reset { generation }, None)?;
        for part in config_parts(config, crate::procs::spec(id.kind).wants) {
            link.lifecycle(Lifecycle::Config(part), None)?;
        }
    }
    for extra in extras {
        links.get(extra.to)?.send(extra.message, extra.fd)?;
    }
    links.broadcast(&Lifecycle::ConfigDone)
}

/// What an answer means for the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Other children have not answered yet.
    Wait,
    /// Every child accepted: send `Start`.
    Commit,
    /// A child refused: send `Abort`.
    Abort { by: ProcId, refusal: Refusal },
    /// An answer for another rollout, or from a child not asked: ignored.
    Stale,
}

/// One rollout waiting for its verdicts.
#[derive(Debug)]
pub struct Rollout {
    generation: Generation,
    waiting: BTreeSet<ProcId>,
    deadline: Instant,
}

impl Rollout {
    /// Waits for `children`, at most `timeout`.
    pub fn new(
        generation: Generation,
        children: impl IntoIterator<Item = ProcId>,
        timeout: Duration,
    ) -> Rollout {
        Rollout {
            generation,
            waiting: children.into_iter().collect(),
            deadline: Instant::now() + timeout,
        }
    }

    /// When the children still waited for count as lost.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn waiting(&self) -> Vec<ProcId> {
        self.waiting.iter().copied().collect()
    }

    /// `from` says `verdict` on configuration `generation`.
    pub fn answer(&mut self, from: ProcId, generation: Generation, verdict: Verdict) -> Step {
        if generation != self.generation || !self.waiting.remove(&from) {
            return Step::Stale;
        }
        match verdict {
            Verdict::Refused(refusal) => Step::Abort { by: from, refusal },
            Verdict::Accepted if self.waiting.is_empty() => Step::Commit,
            Verdict::Accepted => Step::Wait,
        }
    }

    /// Sends what `step` calls for to every child: `Start` or `Abort`.
    pub fn conclude(&self, links: &Links, step: &Step) -> Result<(), ParentError> {
        let generation = self.generation;
        match step {
            Step::Commit => links.broadcast(&Lifecycle::Start { generation }),
            Step::Abort { .. } => links.broadcast(&Lifecycle::Abort { generation }),
            Step::Wait | Step::Stale => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::toy::{Seen, Toy};
    use crate::engine::{self};
    use crate::parent::links::ChildEvent;
    use relayd_proto::messages::LifecycleAnswer;
    use relayd_proto::ProcessKind;
    use std::os::unix::net::UnixStream;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    fn ca(instance: u32) -> ProcId {
        ProcId::numbered(ProcessKind::Ca, instance)
    }

    #[test]
    fn every_acceptance_commits() {
        let mut rollout = Rollout::new(3, [ca(0), ca(1)], Duration::from_secs(1));
        assert_eq!(rollout.answer(ca(1), 3, Verdict::Accepted), Step::Wait);
        assert_eq!(rollout.waiting(), [ca(0)]);
        assert_eq!(rollout.answer(ca(0), 3, Verdict::Accepted), Step::Commit);
    }

    #[test]
    fn the_first_refusal_aborts_and_later_answers_are_stale() {
        let mut rollout = Rollout::new(3, [ca(0), ca(1), ca(2)], Duration::from_secs(1));
        let refusal = Refusal::Redirections {
            reason: "no".into(),
        };
        assert_eq!(rollout.answer(ca(0), 3, Verdict::Accepted), Step::Wait);
        assert_eq!(
            rollout.answer(ca(1), 3, Verdict::Refused(refusal.clone())),
            Step::Abort { by: ca(1), refusal }
        );
        assert_eq!(rollout.answer(ca(1), 3, Verdict::Accepted), Step::Stale);
    }

    #[test]
    fn answers_of_other_rollouts_and_strangers_are_stale() {
        let mut rollout = Rollout::new(3, [ca(0)], Duration::from_secs(1));
        assert_eq!(rollout.answer(ca(0), 2, Verdict::Accepted), Step::Stale);
        assert_eq!(rollout.answer(ca(5), 3, Verdict::Accepted), Step::Stale);
        assert_eq!(rollout.answer(ca(0), 3, Verdict::Accepted), Step::Commit);
    }

    fn config(prefork: u32) -> Config {
        let mut config = Config::default();
        config.global.prefork = prefork;
        config
    }

    /// Rolls `config` out as the parent does; the step it ended with.
    async fn roll_out(
        links: &Links,
        events: &mut mpsc::UnboundedReceiver<ChildEvent>,
        generation: Generation,
        config: &Config,
    ) -> Step {
        let mut rollout = Rollout::new(generation, links.ids(), Duration::from_secs(10));
        send(links, generation, config, Vec::new()).unwrap();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("children answer")
                .expect("event");
            let ChildEvent::Lifecycle(
                from,
                LifecycleAnswer::ConfigDone {
                    generation,
                    verdict,
                },
            ) = event
            else {
                continue;
            };
            let step = rollout.answer(from, generation, verdict);
            if matches!(step, Step::Commit | Step::Abort { .. }) {
                rollout.conclude(links, &step).unwrap();
                return step;
            }
        }
    }

    /// Toy children on socketpairs, the one at `refuser` refusing prefork
    /// `refused`: their links, the events they send, what each saw.
    fn toys(
        count: u32,
        refuser: u32,
        refused: u32,
    ) -> (
        Links,
        mpsc::UnboundedReceiver<ChildEvent>,
        Vec<Arc<Mutex<Seen>>>,
    ) {
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut links = Links::default();
        let mut seen = Vec::new();
        for instance in 0..count {
            let id = ca(instance);
            let (ours, theirs) = UnixStream::pair().unwrap();
            let (toy, toy_seen) = Toy::new(if instance == refuser { refused } else { 0 });
            seen.push(toy_seen);
            tokio::spawn(engine::serve(id, theirs, Vec::new(), move |_| Ok(toy)));
            links.open(id, ours, &events_tx).unwrap();
        }
        (links, events, seen)
    }

    /// Waits until every toy shows `running`.
    async fn all_running(seen: &[Arc<Mutex<Seen>>], running: u32) -> bool {
        for _ in 0..500 {
            if seen
                .iter()
                .all(|s| s.lock().unwrap().running == Some(running))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_refusing_child_aborts_everywhere_and_the_old_configuration_stays() {
        // The second child refuses prefork 7.
        let (links, mut events, seen) = toys(3, 1, 7);

        let step = roll_out(&links, &mut events, 1, &config(2)).await;
        assert_eq!(step, Step::Commit);
        assert!(
            all_running(&seen, 2).await,
            "every child runs the first one"
        );

        let step = roll_out(&links, &mut events, 2, &config(7)).await;
        assert_eq!(
            step,
            Step::Abort {
                by: ca(1),
                refusal: Refusal::Relays {
                    reason: "prefork 7 is not for me".into()
                }
            }
        );
        // A rollout that commits proves the Abort was handled before it.
        let step = roll_out(&links, &mut events, 3, &config(3)).await;
        assert_eq!(step, Step::Commit);
        assert!(all_running(&seen, 3).await);
        let aborted: Vec<u32> = seen.iter().map(|s| s.lock().unwrap().aborted).collect();
        assert_eq!(
            aborted,
            [1, 0, 1],
            "those that accepted dropped it, the refusing one had nothing"
        );
    }

    #[tokio::test]
    async fn no_child_runs_a_refused_configuration_in_between() {
        let (links, mut events, seen) = toys(2, 1, 9);
        assert_eq!(
            roll_out(&links, &mut events, 1, &config(4)).await,
            Step::Commit
        );
        assert!(all_running(&seen, 4).await);
        assert!(matches!(
            roll_out(&links, &mut events, 2, &config(9)).await,
            Step::Abort { .. }
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let running: Vec<Option<u32>> = seen.iter().map(|s| s.lock().unwrap().running).collect();
        assert_eq!(running, [Some(4), Some(4)]);
    }
}
