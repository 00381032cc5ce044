//! Graceful stop (`relayctl drain [SECONDS]`, SIGUSR2; not in OpenBSD's
//! relayd): every relay process stops accepting and the parent closes its
//! copies of the listening sockets, so new connections are refused; the
//! sessions already open go on. relayd exits once every relay process said
//! its last session ended, or when the bound passes (then the sessions
//! still open are closed), whichever comes first. SIGTERM, `relayctl
//! stop` and a second signal still stop at once; a reload is refused while
//! draining.

use super::error::ParentError;
use super::links::EngineMessage;
use super::Parent;
use crate::proc::ProcId;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::ProcessKind;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// How long a drain waits for sessions when no bound is given.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(60);
/// The longest bound a drain takes.
pub const MAX_DRAIN: Duration = Duration::from_secs(3600);

/// A drain under way.
pub struct Drain {
    deadline: Instant,
    bound: Duration,
    /// Relay processes that still have sessions.
    waiting: BTreeSet<ProcId>,
}

impl Drain {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Every relay process is out of sessions.
    pub fn done(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// A drain that could not start.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("a reload is in progress")]
    Busy,
    #[error(transparent)]
    Send(#[from] ParentError),
}

impl Parent {
    /// Starts draining with `bound` (the default when `None`, at most
    /// `MAX_DRAIN`). A drain under way keeps going; a shorter bound moves
    /// its end closer.
    pub(super) fn start_drain(&mut self, bound: Option<Duration>) -> Result<(), DrainError> {
        if self.current.is_some() {
            return Err(DrainError::Busy);
        }
        let bound = bound.unwrap_or(DEFAULT_DRAIN).min(MAX_DRAIN);
        let deadline = Instant::now() + bound;
        if let Some(drain) = &mut self.draining {
            if deadline < drain.deadline {
                drain.deadline = deadline;
                drain.bound = bound;
            }
            return Ok(());
        }
        let relays: BTreeSet<ProcId> = self
            .links
            .of_kind(ProcessKind::Relay)
            .map(|relay| relay.id())
            .collect();
        self.links
            .to_every(|| EngineMessage::Relay(ParentToRelay::Drain))?;
        self.listeners.close_all();
        tracing::info!(
            "draining: accepting nothing more, exiting once the open sessions end \
             (at most {}s)",
            bound.as_secs()
        );
        self.draining = Some(Drain {
            deadline,
            bound,
            waiting: relays,
        });
        Ok(())
    }

    /// Relay process `id` has no session left.
    pub(super) fn relay_drained(&mut self, id: ProcId) {
        if let Some(drain) = &mut self.draining {
            drain.waiting.remove(&id);
            if drain.done() {
                tracing::info!("drained: every session ended");
            }
        }
    }

    /// The bound passed: the sessions still open end with relayd.
    pub(super) fn drain_timed_out(&self) {
        if let Some(drain) = &self.draining {
            let left: Vec<String> = drain.waiting.iter().map(ProcId::to_string).collect();
            tracing::warn!(
                "drain: sessions still open after {}s in {}, closing them",
                drain.bound.as_secs(),
                left.join(", ")
            );
        }
    }
}
