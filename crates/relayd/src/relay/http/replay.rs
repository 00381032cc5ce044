//! A request sent again over a fresh connection: a backend may close an
//! idle keep-alive connection just as a request goes out on it (its idle
//! timer and our request cross; the pool's peek in `pool.rs` only sees
//! closes that arrived before). HAProxy's `retry-on conn-failure
//! empty-response` for `http-reuse safe`: when the connection had served
//! an exchange before, the request is idempotent and went out whole (head
//! and body in one write, still at hand), and the backend closed or reset
//! the connection before a single byte of answer, the request goes once
//! more over a new connection to the same backend, and the client never
//! knows. Anything else keeps its outcome: a 502, or the end.

use super::backend::Link;
use super::exchange::Unanswered;
use super::head::{Framing, RequestHead, ResponseHead};
use super::message::{Body, Head, MessageError, Outgoing};
use super::proxy::{Proxy, Stop};
use super::wire::Wire;
use crate::relay::core::clock::Way;
use crate::relay::core::end::Ended;
use std::io;

/// Whether `request` (whose head starts `buffered`) may be sent again:
/// idempotent, and its whole body already read.
pub fn fits(request: &RequestHead, buffered: &[u8]) -> bool {
    let body_buffered = buffered.len().saturating_sub(request.len) as u64;
    request.method.is_idempotent()
        && match request.framing {
            Framing::Empty => true,
            Framing::Length(n) => body_buffered >= n,
            Framing::Chunked | Framing::UntilClose => false,
        }
}

/// What went out, to go out again.
enum Replay {
    /// The first `n` buffered bytes of the client's side, consumed only
    /// once an answer came.
    Buffered(usize),
    /// A head the rules rewrote, with the body after it.
    Owned(Vec<u8>),
}

impl Replay {
    fn new(from: &mut Wire, head: Head, body: &mut Body) -> Result<Replay, MessageError> {
        match head {
            Head::Buffered(len) => {
                let taken = body
                    .take(&from.buffered()[len..])
                    .map_err(MessageError::Chunk)?;
                Ok(Replay::Buffered(len + taken))
            }
            Head::Rewritten { len, mut bytes } => {
                from.consume(len);
                let taken = body.take(from.buffered()).map_err(MessageError::Chunk)?;
                bytes.extend_from_slice(&from.buffered()[..taken]);
                from.consume(taken);
                Ok(Replay::Owned(bytes))
            }
        }
    }

    async fn send(&self, from: &Wire, to: &mut Wire) -> io::Result<()> {
        match self {
            Replay::Buffered(n) => to.write_all(&from.buffered()[..*n]).await,
            Replay::Owned(bytes) => to.write_all(bytes).await,
        }
    }

    /// An answer came: the request is no longer needed.
    fn answered(self, from: &mut Wire) {
        if let Replay::Buffered(n) = self {
            from.consume(n);
        }
    }
}

impl Proxy {
    /// Sends a request that [`fits`] over `link`, a connection that served
    /// before, and returns the final response head; once over a fresh
    /// connection (which replaces `link`) if the backend went away
    /// without answering.
    pub(super) async fn replayable_exchange(
        &mut self,
        link: &mut Link,
        request: &RequestHead,
        out: Head,
        body: &mut Outgoing,
    ) -> Result<ResponseHead, Stop> {
        let replay = match Replay::new(&mut self.client, out, &mut body.body) {
            Ok(replay) => replay,
            Err(e) => return Err(self.request_failed(e).await),
        };
        let mut fresh = false;
        let gone = loop {
            let gone = match replay.send(&self.client, &mut link.wire).await {
                Err(e) => Unanswered::Unwritten(e),
                Ok(()) => match self.try_response_head(link, &request.method).await? {
                    Ok(head) => {
                        replay.answered(&mut self.client);
                        if (100..200).contains(&head.status) && head.status != 101 {
                            // An interim answer: from here on as any request.
                            if let Err(e) = link.wire.forward(head.len, &mut self.client).await {
                                return Err(Ended::ClientWrite(e));
                            }
                            return self.response_head(link, request, body).await;
                        }
                        return Ok(head);
                    }
                    Err(gone) => gone,
                },
            };
            if fresh || !gone.is_close() {
                break gone;
            }
            tracing::debug!(
                "relay {}, session {}: backend {} closed a kept connection \
                 under the request ({gone:?}), sending it again",
                self.plan.name,
                self.id,
                link.backend.addr
            );
            let reconnected = link
                .reconnect(
                    &self.shared,
                    &self.plan,
                    self.id,
                    (self.peer, self.sni.as_deref()),
                )
                .await;
            *link = match reconnected {
                Ok(mut new) => {
                    new.wire.count_as(self.clock.tally(Way::In));
                    new
                }
                Err(error) => return Err(self.no_backend(error).await),
            };
            fresh = true;
        };
        Err(self.unanswered(link, gone).await)
    }
}
