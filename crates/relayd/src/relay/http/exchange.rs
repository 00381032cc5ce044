//! One request and its answer, with the backend the session chose: the
//! link is a parameter, so nothing here asks whether there is one. The
//! request head goes out with the body bytes that came with it, the rest
//! of the body streams while the backend is watched (it may answer early,
//! or send `100 Continue`), then the answer moves the same way.

use super::backend::Link;
use super::filter::Blocked;
use super::head::{self, Framing, RequestHead, ResponseHead};
use super::message::{self, plain_pair, send_head, Head, MessageError, Outgoing, Watched};
use super::proxy::{Next, Proxy, Stop};
use super::refusal::Refusal;
use super::replay;
use super::spliced::{SpliceFailed, Step};
use super::variables::Variables;
use super::wire::ReadError;
use crate::relay::core::end::Ended;
use http::{Method, StatusCode};
use std::io;

/// The smallest limit for a response head, whatever `headerlen` says.
const MIN_RESPONSE_HEAD_LIMIT: usize = 64 * 1024;

/// How a backend went away before any byte of its answer came.
#[derive(Debug)]
pub enum Unanswered {
    /// It closed the connection (end of stream).
    Closed,
    /// Reading failed (a reset, most often).
    Failed(io::Error),
    /// The request could not be written.
    Unwritten(io::Error),
}

impl Unanswered {
    /// Whether the connection just went away under the request, as a
    /// backend closing an idle connection does: a close or a reset, not
    /// some other failure.
    pub fn is_close(&self) -> bool {
        match self {
            Unanswered::Closed => true,
            Unanswered::Failed(e) | Unanswered::Unwritten(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ),
        }
    }
}

/// What came first while a request body is spliced.
enum Spliced {
    /// The backend looks readable: an early answer, or a close.
    Heard(io::Result<()>),
    Step(Result<Step, SpliceFailed>),
}

/// What came first while a request body streams.
enum BodyEvent {
    /// The backend sent something (an early answer) or closed.
    Backend(io::Result<usize>),
    /// More of the body, or the client's end.
    Client(Result<usize, ReadError>),
}

impl Proxy {
    /// Sends the request (`out` is its head) to `link` and the answer back.
    /// `close_kept` says the client's `Connection: close` was taken out of
    /// `out`, to keep the backend connection open for the pool.
    pub(super) async fn exchange_with(
        &mut self,
        link: &mut Link,
        request: &RequestHead,
        out: Head,
        variables: Option<&Variables>,
        close_kept: bool,
    ) -> Result<Next, Stop> {
        // Nothing but a clean end of this exchange makes it reusable again.
        // A connection that served an exchange before may be closed by the
        // backend just as this request goes out.
        let served_before = std::mem::take(&mut link.reusable);
        let mut request_body = Outgoing::new(request.framing, self.http.splice);
        let response = if served_before && replay::fits(request, self.client.buffered()) {
            self.replayable_exchange(link, request, out, &mut request_body)
                .await?
        } else {
            let sent = send_head(
                &mut self.client,
                &mut link.wire,
                out,
                &mut request_body.body,
            )
            .await;
            if let Err(e) = sent {
                return Err(self.request_failed(e).await);
            }
            self.response_head(link, request, &mut request_body).await?
        };
        if response.status == 101 {
            return self.switch_protocols(link, request, &response).await;
        }
        let keep_alive = request.keep_alive && request_body.is_done() && response.keep_alive;
        // What the backend was told about this connection.
        let backend_keep_alive = request.keep_alive || close_kept;
        // The session ends after this answer, which does not say so: the
        // client asked for more, or its close was kept from the backend.
        let announce_close = backend_keep_alive && !keep_alive && !response.says_close;
        let (mut filter, _) = self.filter();
        let head_bytes = &link.wire.buffered()[..response.len];
        let out = match filter.response(&response, head_bytes, variables, announce_close) {
            Ok(out) => out,
            Err(Blocked) => return Err(self.forbid().await),
        };
        let sent = message::send(
            &mut link.wire,
            &mut self.client,
            out,
            response.framing,
            self.timeout,
            self.http.splice.then_some(&self.shared.pipes),
        )
        .await;
        if let Err(e) = sent {
            return Err(response_failed(e));
        }
        // HAProxy's `http-reuse safe`: a whole request and a whole answer
        // framed by length or chunks, neither side closing, nothing more.
        link.reusable = backend_keep_alive
            && response.keep_alive
            && request_body.is_done()
            && response.framing != Framing::UntilClose
            && link.wire.buffered().is_empty();
        self.shared.http_answered(self.plan.id, response.status);
        if keep_alive {
            Ok(Next::KeepAlive)
        } else if request_body.is_done() {
            Ok(Next::Close)
        } else {
            Ok(Next::CloseLingering)
        }
    }

    /// Forwards the rest of the request body while waiting for the answer
    /// (the backend may answer early, or send `100 Continue` first), and
    /// returns the final response head. Interim answers go to the client
    /// as they come.
    pub(super) async fn response_head(
        &mut self,
        link: &mut Link,
        request: &RequestHead,
        body: &mut Outgoing,
    ) -> Result<ResponseHead, Stop> {
        loop {
            if !body.is_done() {
                self.pump_request_body(link, body).await?;
            }
            let response = self.read_response_head(link, &request.method).await?;
            if (100..200).contains(&response.status) && response.status != 101 {
                if let Err(e) = link.wire.forward(response.len, &mut self.client).await {
                    return Err(Ended::ClientWrite(e));
                }
                continue;
            }
            return Ok(response);
        }
    }

    /// Moves request body bytes until the body is complete or the backend
    /// has something to say; the backend is heard first.
    async fn pump_request_body(
        &mut self,
        link: &mut Link,
        outgoing: &mut Outgoing,
    ) -> Result<(), Stop> {
        let timeout = self.timeout;
        let shared = self.shared.clone();
        let (client, server) = (&mut self.client, &mut link.wire);
        let failed = loop {
            match outgoing.flush_watching(client, server, timeout).await {
                Ok(Watched::Forwarded) => {}
                Ok(Watched::PeerSpoke) => return Ok(()),
                Err(e) => break e,
            }
            if outgoing.is_done() {
                client.settle();
                return Ok(());
            }
            if outgoing.spliceable(client) {
                // Splicing waits on the client socket's readiness.
                if let Err(e) = client.register() {
                    break MessageError::Read(ReadError::Io(e));
                }
                if let Some((src, dst)) = plain_pair(client, server) {
                    let left = outgoing.body.splice_left();
                    let event = tokio::select! {
                        biased;
                        heard = dst.readable() => Spliced::Heard(heard),
                        step = outgoing.splice.step(&shared.pipes, src, dst, left, timeout) => {
                            Spliced::Step(step)
                        }
                    };
                    server.streaming();
                    match event {
                        Spliced::Heard(Err(e)) => return Err(Ended::ServerRead(e)),
                        // Readiness may be stale: only bytes (or a close) count.
                        Spliced::Heard(Ok(())) => match server.try_fill().await {
                            Ok(Some(_)) => return Ok(()),
                            Ok(None) => {}
                            Err(e) => return Err(Ended::ServerRead(e)),
                        },
                        Spliced::Step(Ok(Step::Filled(n))) => {
                            // What enters the pipe goes to the backend
                            // (or the session fails): counted once, here.
                            server.count(n);
                            outgoing.body.advance(n);
                        }
                        Spliced::Step(Ok(Step::Drained) | Err(SpliceFailed::Unsupported)) => {}
                        // It may have answered before it went away.
                        Spliced::Step(Err(SpliceFailed::Write(e))) => {
                            match server.try_fill().await {
                                Ok(Some(n)) if n > 0 => return Ok(()),
                                _ => break MessageError::Write(e),
                            }
                        }
                        Spliced::Step(Err(e)) => break e.into(),
                    }
                    continue;
                }
            }
            let event = tokio::select! {
                biased;
                heard = server.fill_untimed() => BodyEvent::Backend(heard),
                read = client.fill_streaming(timeout) => BodyEvent::Client(read),
            };
            match event {
                // The backend spoke (or closed) first: its answer decides.
                BodyEvent::Backend(Ok(_)) => return Ok(()),
                BodyEvent::Backend(Err(e)) => return Err(Ended::ServerRead(e)),
                BodyEvent::Client(Ok(0)) => break MessageError::Truncated,
                BodyEvent::Client(Ok(_)) => {
                    if let Err(e) = outgoing.take(client) {
                        break MessageError::Chunk(e);
                    }
                }
                BodyEvent::Client(Err(e)) => break MessageError::Read(e),
            }
        };
        Err(self.request_failed(failed).await)
    }

    /// The final or interim response head; a backend that goes away
    /// first gets the client a 502 (with `return error`).
    pub(super) async fn read_response_head(
        &mut self,
        link: &mut Link,
        method: &Method,
    ) -> Result<ResponseHead, Stop> {
        match self.try_response_head(link, method).await? {
            Ok(head) => Ok(head),
            Err(gone) => Err(self.unanswered(link, gone).await),
        }
    }

    /// A response head, or how the backend went away before a single byte
    /// of one came (the caller decides: a 502, or the request again over
    /// a fresh connection).
    pub(super) async fn try_response_head(
        &mut self,
        link: &mut Link,
        method: &Method,
    ) -> Result<Result<ResponseHead, Unanswered>, Stop> {
        let limit = self.headerlen.max(MIN_RESPONSE_HEAD_LIMIT);
        let backend = link.backend.addr;
        loop {
            let buffered = link.wire.buffered();
            if !buffered.is_empty() {
                match head::parse_response(buffered, limit, method) {
                    Ok(Some(head)) => return Ok(Ok(head)),
                    Ok(None) => {}
                    Err(error) => {
                        self.send_error(StatusCode::BAD_GATEWAY, "bad gateway", None)
                            .await;
                        return Err(Ended::Http(Refusal::BadResponseHead { backend, error }));
                    }
                }
            }
            let gone = match link.wire.fill(self.timeout).await {
                Ok(0) => Unanswered::Closed,
                Ok(_) => continue,
                Err(ReadError::Timeout) => {
                    self.send_error(StatusCode::GATEWAY_TIMEOUT, "timeout", None)
                        .await;
                    return Err(Ended::Timeout);
                }
                Err(ReadError::Io(e)) => Unanswered::Failed(e),
            };
            if link.wire.buffered().is_empty() {
                return Ok(Err(gone));
            }
            // Part of a head came: the answer broke off.
            return Err(self.unanswered(link, gone).await);
        }
    }

    /// The backend went away without an answer: 502 (with `return
    /// error`), or just the end when the request could not be written.
    pub(super) async fn unanswered(&mut self, link: &Link, gone: Unanswered) -> Stop {
        let backend = link.backend.addr;
        match gone {
            Unanswered::Closed => {
                self.send_error(StatusCode::BAD_GATEWAY, "backend closed", None)
                    .await;
                Ended::Http(Refusal::BackendClosed { backend })
            }
            Unanswered::Failed(e) => {
                self.send_error(StatusCode::BAD_GATEWAY, "backend failed", None)
                    .await;
                Ended::ServerRead(e)
            }
            Unanswered::Unwritten(e) => request_failed_quietly(MessageError::Write(e)),
        }
    }

    /// A request that could not be sent whole: a malformed chunked body
    /// gets 400, the rest just ends the session.
    pub(super) async fn request_failed(&mut self, error: MessageError) -> Stop {
        if let MessageError::Chunk(why) = error {
            let status = StatusCode::BAD_REQUEST;
            self.answer_and_close(status, &super::error_page::bare(status))
                .await;
            return Ended::Http(Refusal::BadRequestBody(why));
        }
        request_failed_quietly(error)
    }

    /// `101 Switching Protocols` to a request that asked for it (and
    /// `http websockets` allows): the answer goes out, the tunnel opens.
    async fn switch_protocols(
        &mut self,
        link: &mut Link,
        request: &RequestHead,
        response: &ResponseHead,
    ) -> Result<Next, Stop> {
        if !request.upgrade {
            self.send_error(StatusCode::BAD_GATEWAY, "unasked upgrade", None)
                .await;
            return Err(Ended::Http(Refusal::UnaskedUpgrade));
        }
        link.wire
            .forward(response.len, &mut self.client)
            .await
            .map_err(Ended::ClientWrite)?;
        self.shared.http_answered(self.plan.id, response.status);
        Ok(Next::Upgraded)
    }
}

fn request_failed_quietly(error: MessageError) -> Stop {
    match error {
        MessageError::Read(ReadError::Timeout) => Ended::Timeout,
        MessageError::Read(ReadError::Io(e)) => Ended::ClientRead(e),
        MessageError::Truncated => Ended::ClientRead(io::ErrorKind::UnexpectedEof.into()),
        MessageError::Write(e) => Ended::ServerWrite(e),
        MessageError::Chunk(why) => Ended::Http(Refusal::BadRequestBody(why)),
    }
}

/// The answer broke off after its head went out: only the session ends.
fn response_failed(error: MessageError) -> Stop {
    match error {
        MessageError::Read(ReadError::Timeout) => Ended::Timeout,
        MessageError::Read(ReadError::Io(e)) => Ended::ServerRead(e),
        MessageError::Truncated => Ended::ServerRead(io::ErrorKind::UnexpectedEof.into()),
        MessageError::Write(e) => Ended::ClientWrite(e),
        MessageError::Chunk(why) => Ended::Http(Refusal::BadResponseBody(why)),
    }
}
