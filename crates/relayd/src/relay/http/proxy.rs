//! One HTTP session, request after request: read and check the head,
//! run the filter rules, choose (or keep) the backend, move the request
//! and then the answer, decide whether the connection lives on. Nothing
//! malformed is forwarded; a refused request gets relayd's answer (an
//! error page with `return error`, otherwise the connection just closes).

use super::backend::{Chooser, Link, Route};
use super::edit;
use super::error_page;
use super::head::{self, HeadError, RequestHead, ResponseHead};
use super::message::{self, send_head, Head, MessageError, Outgoing, Watched};
use super::rules::{self, Endpoints, Marks, Message, Verdict};
use super::variables::Variables;
use super::wire::{ReadError, Wire};
use crate::relay::core::plan::RelayPlan;
use crate::relay::core::session::ActivityClock;
use crate::relay::core::shared::Shared;
use crate::relay::tcp::pump::{Ended, PARK_AFTER};
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, Method, StatusCode};
use relayd_config::Direction;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// What happens after an exchange.
enum Next {
    KeepAlive,
    Close,
    /// Close, but the client is still sending a request body.
    CloseLingering,
    /// `101 Switching Protocols`: the session is a byte stream from now on.
    Upgraded,
}

/// How an exchange ended early: the session is over.
type Stop = Ended;

/// What the request rules made of a request.
enum Filtered {
    /// The protocol has no rules: the head goes out as it came.
    Unfiltered,
    Blocked,
    /// The rewritten head, and what the response rules will need.
    Passed {
        verdict: Verdict,
        head: Vec<u8>,
        variables: Variables,
    },
}

/// What woke a session waiting for its next request.
enum Waited {
    Client(Result<usize, ReadError>),
    Backend,
}

pub struct Proxy {
    pub shared: Arc<Shared>,
    pub plan: Arc<RelayPlan>,
    pub session: u32,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
    pub clock: Arc<ActivityClock>,
    pub client: Wire,
    pub backend: Option<Link>,
    /// Tag and label set by the rules, kept across requests.
    pub marks: Marks,
    /// The shared state counts this session on a backend host already.
    counted: bool,
    headerlen: usize,
    timeout: Duration,
}

impl Proxy {
    pub fn new(
        shared: Arc<Shared>,
        plan: Arc<RelayPlan>,
        session: u32,
        peer: SocketAddr,
        listen: SocketAddr,
        clock: Arc<ActivityClock>,
        client: Wire,
    ) -> Proxy {
        let headerlen = usize::try_from(plan.http.headerlen).unwrap_or(usize::MAX);
        let timeout = plan.session_timeout;
        Proxy {
            shared,
            plan,
            session,
            peer,
            listen,
            clock,
            client,
            backend: None,
            marks: Marks::default(),
            counted: false,
            headerlen,
            timeout,
        }
    }

    /// A session coming back from the parking lot with its backend.
    pub fn resumed(mut self, backend: Link, marks: Marks) -> Proxy {
        self.backend = Some(backend);
        self.marks = marks;
        self.counted = true;
        self
    }

    /// Serves requests until the session ends or, idle between requests
    /// with a backend connection, should be parked ([`Ended::Parked`]).
    pub async fn run(&mut self) -> Ended {
        loop {
            let head = match self.read_request_head().await {
                Ok(Some(head)) => head,
                Ok(None) => return Ended::Done,
                Err(stop) => return stop,
            };
            self.clock.touch();
            match self.exchange(head).await {
                Ok(Next::KeepAlive) => self.clock.touch(),
                // Dropping the socket closes it, which sends the FIN.
                Ok(Next::Close) => return Ended::Done,
                Ok(Next::CloseLingering) => {
                    self.backend = None;
                    linger_close(&mut self.client).await;
                    return Ended::Done;
                }
                Ok(Next::Upgraded) => return self.tunnel().await,
                Err(stop) => return stop,
            }
        }
    }

    /// The next request head; `None` when the client closed between
    /// requests. The whole head must arrive within the session timeout,
    /// however slowly it trickles in. While no request is under way the
    /// backend connection is watched: if the backend closes it (or sends
    /// something unasked) it is dropped, and the next request connects
    /// anew.
    async fn read_request_head(&mut self) -> Result<Option<RequestHead>, Stop> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if !self.client.buffered().is_empty() {
                match head::parse_request(self.client.buffered(), self.headerlen) {
                    Ok(Some(head)) => return Ok(Some(head)),
                    Ok(None) => {}
                    Err(error) => return Err(self.refuse_head(error).await),
                }
            }
            let between = self.client.buffered().is_empty() && self.backend.is_some();
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = if between { left.min(PARK_AFTER) } else { left };
            let waited = match self.backend.as_mut().filter(|_| between) {
                Some(link) => {
                    let client = &mut self.client;
                    tokio::select! {
                        biased;
                        read = client.fill(wait) => Waited::Client(read),
                        _ = link.wire.stream.readable() => Waited::Backend,
                    }
                }
                None => Waited::Client(self.client.fill(wait).await),
            };
            let read = match waited {
                Waited::Client(read) => read,
                Waited::Backend => {
                    self.check_idle_backend();
                    continue;
                }
            };
            match read {
                Ok(0) if self.client.buffered().is_empty() => return Ok(None),
                Ok(0) => return Err(Ended::ClientRead(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(ReadError::Timeout) if Instant::now() >= deadline => {
                    return Err(Ended::Timeout)
                }
                Err(ReadError::Timeout) if between => return Err(Ended::Parked),
                Err(ReadError::Timeout) => {}
                Err(ReadError::Io(e)) => return Err(Ended::ClientRead(e)),
            }
        }
    }

    /// The idle backend connection became readable: unless that was a
    /// stale wake-up, it is closed or out of step, and is let go.
    fn check_idle_backend(&mut self) {
        let Some(link) = self.backend.as_mut() else {
            return;
        };
        if let Ok(None) = link.wire.try_fill() {
            return;
        }
        tracing::debug!(
            "relay {}, session {}: backend {} closed its idle connection",
            self.plan.name,
            self.session,
            link.backend.addr
        );
        self.backend = None;
    }

    /// A head that cannot be forwarded: 431 for one too large, 400 for
    /// anything else, and the session ends.
    async fn refuse_head(&mut self, error: HeadError) -> Stop {
        let (status, why) = match error {
            HeadError::TooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request header too long",
            ),
            HeadError::TooManyFields => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many header fields",
            ),
            HeadError::Malformed(why) => (StatusCode::BAD_REQUEST, why),
        };
        self.answer_and_close(&error_page::bare(status)).await;
        Ended::Refused(format!("bad request: {why}"))
    }

    async fn answer_and_close(&mut self, answer: &[u8]) {
        if self.client.write_all(answer).await.is_ok() {
            linger_close(&mut self.client).await;
        }
    }

    /// relayd's `relay_abort_http`: an error page with `return error`,
    /// otherwise the connection closes without an answer.
    async fn abort(&mut self, status: StatusCode, message: &str, label: Option<&str>) -> Stop {
        if let Some(how) = &self.plan.return_error {
            let page = error_page::page(status, message, label, how.style.as_deref(), self.listen);
            self.answer_and_close(&page).await;
        }
        Ended::Refused(format!("{} {message}", status.as_u16()))
    }

    async fn exchange(&mut self, head: RequestHead) -> Result<Next, Stop> {
        if head.method == Method::CONNECT {
            return Err(self
                .abort(StatusCode::METHOD_NOT_ALLOWED, "CONNECT", None)
                .await);
        }
        if head.upgrade && !self.plan.http.websockets {
            return Err(self
                .abort(StatusCode::FORBIDDEN, "Websocket Forbidden", None)
                .await);
        }
        let (verdict, rewritten, variables) = match self.filter_request(&head) {
            Filtered::Unfiltered => (Verdict::default(), None, None),
            Filtered::Blocked => {
                let label = self.marks.label.clone();
                let stop = self.abort(StatusCode::FORBIDDEN, "Forbidden", label.as_deref());
                return Err(stop.await);
            }
            Filtered::Passed {
                verdict,
                head,
                variables,
            } => (verdict, Some(head), Some(variables)),
        };
        self.route(&verdict).await?;
        let out = match rewritten {
            Some(bytes) => Head::Rewritten {
                len: head.len,
                bytes,
            },
            None => Head::Buffered(head.len),
        };
        let mut request_body = Outgoing::new(head.framing);
        let link = self.backend.as_mut().expect("routed");
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
        let response = self.response_head(&head, &mut request_body).await?;
        if response.status == 101 {
            return self.switch_protocols(&head, &response).await;
        }
        let keep_alive = head.keep_alive && request_body.is_done() && response.keep_alive;
        // The client asked for more but the session ends after this answer.
        let announce_close = head.keep_alive && !keep_alive && !response.says_close;
        let out = match self.filter_response(&response, variables.as_ref(), announce_close) {
            Ok(out) => out,
            Err(()) => {
                let label = self.marks.label.clone();
                let stop = self.abort(StatusCode::FORBIDDEN, "Forbidden", label.as_deref());
                return Err(stop.await);
            }
        };
        let link = self.backend.as_mut().expect("routed");
        let sent = message::send(
            &mut link.wire,
            &mut self.client,
            out,
            response.framing,
            self.timeout,
        )
        .await;
        if let Err(e) = sent {
            return Err(response_failed(e));
        }
        if keep_alive {
            Ok(Next::KeepAlive)
        } else if request_body.is_done() {
            Ok(Next::Close)
        } else {
            Ok(Next::CloseLingering)
        }
    }

    /// Runs the request rules, if the protocol has any.
    fn filter_request(&mut self, head: &RequestHead) -> Filtered {
        if self.plan.rules.is_empty() {
            return Filtered::Unfiltered;
        }
        let bytes = &self.client.buffered()[..head.len];
        let Some(mut request) = edit::Request::parse(bytes, &self.plan.rules) else {
            return Filtered::Blocked;
        };
        let host = request
            .fields
            .map
            .get(HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .unwrap_or_default();
        let variables = Variables {
            host,
            remote: self.peer,
            server: self.listen,
            timeout_secs: self.timeout.as_secs(),
        };
        let mut message = Message {
            direction: Direction::Request,
            method: Some(&request.method),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: &mut request.fields.map,
        };
        let verdict = evaluate(
            &self.plan,
            &mut message,
            self.peer,
            self.listen,
            &variables,
            &mut self.marks,
        );
        let path = message.path;
        if verdict.blocked {
            return Filtered::Blocked;
        }
        request.path = path;
        Filtered::Passed {
            verdict,
            head: request.write(),
            variables,
        }
    }

    /// The response head to send: rewritten by the response rules, and
    /// saying `Connection: close` if `announce_close`. `Err` when a rule
    /// blocks it.
    fn filter_response(
        &mut self,
        response: &ResponseHead,
        variables: Option<&Variables>,
        announce_close: bool,
    ) -> Result<Head, ()> {
        let link = self.backend.as_ref().expect("routed");
        let bytes = &link.wire.buffered()[..response.len];
        let Some(variables) = variables else {
            if !announce_close {
                return Ok(Head::Buffered(response.len));
            }
            return Ok(Head::Rewritten {
                len: response.len,
                bytes: with_connection_close(bytes),
            });
        };
        let Some(mut edited) = edit::Response::parse(bytes, &self.plan.rules) else {
            return Err(());
        };
        let mut message = Message {
            direction: Direction::Response,
            method: None,
            path: String::new(),
            query: None,
            headers: &mut edited.fields.map,
        };
        let verdict = evaluate(
            &self.plan,
            &mut message,
            self.peer,
            self.listen,
            variables,
            &mut self.marks,
        );
        if verdict.blocked {
            return Err(());
        }
        if announce_close {
            edited
                .fields
                .map
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(Head::Rewritten {
            len: response.len,
            bytes: edited.write(),
        })
    }

    /// Makes sure the session has the backend the rules want.
    async fn route(&mut self, verdict: &Verdict) -> Result<(), Stop> {
        let route = Route {
            table: verdict.forward_to.as_deref(),
            hash: verdict.hash,
        };
        let chooser = Chooser {
            shared: &self.shared,
            plan: &self.plan,
            session: self.session,
            peer: self.peer,
            listen: self.listen,
        };
        let chosen = match &self.backend {
            None => Some(chooser.first(&self.client.stream, route).await),
            Some(current) => chooser.reroute(Some(current), route).await,
        };
        match chosen {
            None => Ok(()),
            Some(Ok(link)) => {
                if self.counted {
                    self.shared.session_moved(self.session, link.backend);
                } else {
                    self.shared.session_connected(self.session, link.backend);
                    self.counted = true;
                }
                self.backend = Some(link);
                Ok(())
            }
            Some(Err(why)) => {
                tracing::debug!("relay {}, session {}: {why}", self.plan.name, self.session);
                let (status, message) = if why.starts_with("connect to") {
                    (StatusCode::GATEWAY_TIMEOUT, "connect failed")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "no backend")
                };
                let _ = self.abort(status, message, None).await;
                Err(Ended::Refused(why))
            }
        }
    }

    /// Forwards the rest of the request body while waiting for the answer
    /// (the backend may answer early, or send `100 Continue` first), and
    /// returns the final response head. Interim answers go to the client
    /// as they come.
    async fn response_head(
        &mut self,
        request: &RequestHead,
        body: &mut Outgoing,
    ) -> Result<ResponseHead, Stop> {
        loop {
            if !body.is_done() {
                self.pump_request_body(body).await?;
            }
            let response = self.read_response_head(&request.method).await?;
            if (100..200).contains(&response.status) && response.status != 101 {
                let link = self.backend.as_mut().expect("routed");
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
    async fn pump_request_body(&mut self, outgoing: &mut Outgoing) -> Result<(), Stop> {
        let timeout = self.timeout;
        let link = self.backend.as_mut().expect("routed");
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
            let event = tokio::select! {
                biased;
                _ = server.stream.readable() => None,
                read = client.fill_streaming(timeout) => Some(read),
            };
            match event {
                None => match server.try_fill() {
                    Ok(None) => {}
                    Ok(Some(_)) => return Ok(()),
                    Err(e) => return Err(Ended::ServerRead(e)),
                },
                Some(Ok(0)) => break MessageError::Truncated,
                Some(Ok(_)) => {
                    if let Err(e) = outgoing.take(client) {
                        break MessageError::Chunk(e);
                    }
                }
                Some(Err(e)) => break MessageError::Read(e),
            }
        };
        Err(self.request_failed(failed).await)
    }

    async fn read_response_head(&mut self, method: &Method) -> Result<ResponseHead, Stop> {
        loop {
            let link = self.backend.as_mut().expect("routed");
            let buffered = link.wire.buffered();
            if !buffered.is_empty() {
                match head::parse_response(buffered, self.headerlen.max(64 * 1024), method) {
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) => {}
                    Err(error) => {
                        let why = format!("bad response from {}: {error:?}", link.backend.addr);
                        let _ = self
                            .abort(StatusCode::BAD_GATEWAY, "bad gateway", None)
                            .await;
                        return Err(Ended::Refused(why));
                    }
                }
            }
            match link.wire.fill(self.timeout).await {
                Ok(0) => {
                    let addr = link.backend.addr;
                    let _ = self
                        .abort(StatusCode::BAD_GATEWAY, "backend closed", None)
                        .await;
                    return Err(Ended::Refused(format!("{addr} closed without an answer")));
                }
                Ok(_) => {}
                Err(ReadError::Timeout) => {
                    let _ = self
                        .abort(StatusCode::GATEWAY_TIMEOUT, "timeout", None)
                        .await;
                    return Err(Ended::Timeout);
                }
                Err(ReadError::Io(e)) => {
                    let _ = self
                        .abort(StatusCode::BAD_GATEWAY, "backend failed", None)
                        .await;
                    return Err(Ended::ServerRead(e));
                }
            }
        }
    }

    /// A request that could not be sent whole: a malformed chunked body
    /// gets 400, the rest just ends the session.
    async fn request_failed(&mut self, error: MessageError) -> Stop {
        if let MessageError::Chunk(why) = error {
            self.answer_and_close(&error_page::bare(StatusCode::BAD_REQUEST))
                .await;
            return Ended::Refused(format!("bad request: {}", why.0));
        }
        request_failed_quietly(error)
    }

    /// `101 Switching Protocols` to a request that asked for it (and
    /// `http websockets` allows): the answer goes out, the tunnel opens.
    async fn switch_protocols(
        &mut self,
        request: &RequestHead,
        response: &ResponseHead,
    ) -> Result<Next, Stop> {
        if !request.upgrade {
            let _ = self
                .abort(StatusCode::BAD_GATEWAY, "unasked upgrade", None)
                .await;
            return Err(Ended::Refused("backend switched protocols unasked".into()));
        }
        let link = self.backend.as_mut().expect("routed");
        link.wire
            .forward(response.len, &mut self.client)
            .await
            .map_err(Ended::ClientWrite)?;
        Ok(Next::Upgraded)
    }

    /// After an upgrade: bytes move both ways, starting with what either
    /// side sent early, until both have closed.
    async fn tunnel(&mut self) -> Ended {
        let Some(link) = self.backend.as_mut() else {
            return Ended::Done;
        };
        let (client, server) = (&mut self.client, &mut link.wire);
        if let Err(e) = flush_buffered(client, server).await {
            return Ended::ServerWrite(e);
        }
        if let Err(e) = flush_buffered(server, client).await {
            return Ended::ClientWrite(e);
        }
        match tokio::io::copy_bidirectional(&mut client.stream, &mut server.stream).await {
            Ok(_) => Ended::Done,
            Err(e) => Ended::ClientRead(e),
        }
    }
}

fn evaluate(
    plan: &RelayPlan,
    message: &mut Message,
    peer: SocketAddr,
    listen: SocketAddr,
    variables: &Variables,
    marks: &mut Marks,
) -> Verdict {
    let endpoints = Endpoints {
        client: peer.ip(),
        server: listen.ip(),
        variables,
    };
    rules::evaluate(&plan.rules, message, &endpoints, marks)
}

/// How long a closing session keeps reading what the client still sends.
const LINGER_TOTAL: Duration = Duration::from_secs(5);
const LINGER_QUIET: Duration = Duration::from_secs(1);

/// Closes the client connection without destroying the answer: our FIN
/// goes first, then what the client still sends (the rest of a refused
/// body) is read and dropped until it closes too, for a few seconds at
/// most. Closing a socket with unread data would send a reset, and a reset
/// makes the client's system drop the answer it has not read yet.
async fn linger_close(client: &mut Wire) {
    let _ = client.stream.shutdown().await;
    let deadline = Instant::now() + LINGER_TOTAL;
    loop {
        let buffered = client.buffered().len();
        client.consume(buffered);
        let left = deadline.saturating_duration_since(Instant::now());
        match client.fill(left.min(LINGER_QUIET)).await {
            Ok(n) if n > 0 && !left.is_zero() => {}
            _ => return,
        }
    }
}

async fn flush_buffered(from: &mut Wire, to: &mut Wire) -> io::Result<()> {
    let n = from.buffered().len();
    from.forward(n, to).await
}

fn request_failed_quietly(error: MessageError) -> Stop {
    match error {
        MessageError::Read(ReadError::Timeout) => Ended::Timeout,
        MessageError::Read(ReadError::Io(e)) => Ended::ClientRead(e),
        MessageError::Truncated => Ended::ClientRead(io::ErrorKind::UnexpectedEof.into()),
        MessageError::Write(e) => Ended::ServerWrite(e),
        MessageError::Chunk(why) => Ended::Refused(format!("bad request: {}", why.0)),
    }
}

/// The answer broke off after its head went out: only the session ends.
fn response_failed(error: MessageError) -> Stop {
    match error {
        MessageError::Read(ReadError::Timeout) => Ended::Timeout,
        MessageError::Read(ReadError::Io(e)) => Ended::ServerRead(e),
        MessageError::Truncated => Ended::ServerRead(io::ErrorKind::UnexpectedEof.into()),
        MessageError::Write(e) => Ended::ClientWrite(e),
        MessageError::Chunk(why) => Ended::Refused(format!("bad response: {}", why.0)),
    }
}

/// `head` with `Connection: close` added before its empty line.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let body_start = if head.ends_with(b"\r\n\r\n") {
        head.len() - 2
    } else {
        head.len() - 1
    };
    let mut out = Vec::with_capacity(head.len() + 20);
    out.extend_from_slice(&head[..body_start]);
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}
