//! `relayctl show sessions`: the parent asks every relay process for its
//! sessions and answers relayctl once all of them have listed theirs.

use super::Parent;
use crate::control::Answer;
use relayd_proto::control::ControlReply;
use relayd_proto::messages::parent_relay::ParentToRelay;
use relayd_proto::status::SessionRow;
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;

/// `show sessions` requests waiting for relay processes.
#[derive(Default)]
pub struct SessionQueries {
    next_id: u64,
    pending: HashMap<u64, Query>,
}

struct Query {
    answer: oneshot::Sender<Answer>,
    rows: Vec<SessionRow>,
    /// Relay instances that have not sent `SessionsEnd` yet.
    waiting: HashSet<u32>,
}

impl Query {
    fn finish(mut self) {
        self.rows.sort_by_key(|row| (row.process, row.id));
        let mut replies: Vec<ControlReply> =
            self.rows.into_iter().map(ControlReply::Session).collect();
        replies.push(ControlReply::End);
        let _ = self.answer.send(Answer::Replies(replies));
    }
}

impl Parent {
    pub(super) async fn start_session_query(&mut self, answer: oneshot::Sender<Answer>) {
        self.sessions.next_id += 1;
        let request_id = self.sessions.next_id;
        let mut waiting = HashSet::new();
        for instance in 0..self.tree.relay_count() {
            let request = ParentToRelay::ListSessions { request_id };
            match self.tree.send_relay(instance, &request, None).await {
                Ok(()) => {
                    waiting.insert(instance);
                }
                Err(e) => tracing::warn!("show sessions: relay {}: {e}", instance + 1),
            }
        }
        let query = Query {
            answer,
            rows: Vec::new(),
            waiting,
        };
        if query.waiting.is_empty() {
            query.finish();
        } else {
            self.sessions.pending.insert(request_id, query);
        }
    }

    pub(super) fn session_listed(&mut self, request_id: u64, session: SessionRow) {
        if let Some(query) = self.sessions.pending.get_mut(&request_id) {
            query.rows.push(session);
        }
    }

    pub(super) fn sessions_listed(&mut self, instance: u32, request_id: u64) {
        let done = match self.sessions.pending.get_mut(&request_id) {
            Some(query) => {
                query.waiting.remove(&instance);
                query.waiting.is_empty()
            }
            None => false,
        };
        if done {
            if let Some(query) = self.sessions.pending.remove(&request_id) {
                query.finish();
            }
        }
    }
}
