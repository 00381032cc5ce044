//! `relayctl show sessions`: the parent asks every relay process for its
//! sessions (a fan-out request, see `relayd_proto::correlate`) and answers
//! relayctl once all of them have listed theirs, or after a timeout with
//! the lists it has. The AgentX view (`agentx.rs`) gathers them the same
//! way, with a shorter bound.

use super::links::EngineMessage;
use super::Parent;
use crate::control::Answer;
use relayd_proto::control::ControlReply;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::status::SessionRow;
use relayd_proto::ProcessKind;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long relayctl waits at most for a relay process that does not list
/// its sessions.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

impl Parent {
    pub(super) fn start_session_query(&mut self, answer: oneshot::Sender<Answer>) {
        let gathering = self.gather_sessions(LIST_TIMEOUT, "show sessions");
        tokio::spawn(async move {
            let mut replies: Vec<ControlReply> = gathering
                .await
                .into_iter()
                .map(ControlReply::Session)
                .collect();
            replies.push(ControlReply::End);
            let _ = answer.send(Answer::Replies(replies));
        });
    }

    /// Asks every relay process for its sessions; the future gives them,
    /// by process and id, once all answered or `bound` passed (`what`
    /// names the asker in the log).
    pub(super) fn gather_sessions(
        &mut self,
        bound: Duration,
        what: &'static str,
    ) -> impl Future<Output = Vec<SessionRow>> + Send + 'static {
        let relays: Vec<_> = self.links.of_kind(ProcessKind::Relay).cloned().collect();
        let (request_id, gathering) = self.sessions.register(relays.iter().map(|r| r.id()));
        for relay in &relays {
            let request = EngineMessage::Relay(ParentToRelay::ListSessions { request_id });
            if let Err(e) = relay.send(request, None) {
                tracing::warn!("{what}: {e}");
                self.sessions.gone(&relay.id());
            }
        }
        let gathering = gathering.with_deadline(Instant::now() + bound);
        async move {
            let gathered = gathering.wait().await;
            for relay in &gathered.missing {
                tracing::warn!("{what}: {relay} did not list its sessions");
            }
            let mut rows: Vec<SessionRow> =
                gathered.parts.into_iter().map(|(_, row)| row).collect();
            rows.sort_by_key(|row| (row.process, row.id));
            rows
        }
    }
}
