//! One HTTP session, request after request: read and check the head, run
//! the filter rules, choose (or keep) the backend, run the exchange with
//! it (`exchange.rs`), decide whether the connection lives on. Nothing
//! malformed is forwarded; a refused request gets relayd's answer (an
//! error page with `return error`, otherwise the connection just closes).
//!
//! Between requests the session watches its idle backend and, when both
//! sides are plain TCP, ends with [`Ended::Parked`] after [`PARK_AFTER`]
//! so the caller can park it; a session with a layered side (TLS) keeps
//! its task and waits here for the whole session timeout. A TLS client
//! arrives already handshaken (`core/session.rs`): the proxy only reads
//! and writes its transport.

use super::backend::{Chooser, Link, Route};
use super::connection;
use super::error_page;
use super::filter::{Filter, Filtered};
use super::head::{self, HeadError, RequestHead};
use super::message::Head;
use super::plan::HttpPlan;
use super::refusal::Refusal;
use super::rules::{Marks, Verdict};
use super::wire::{ReadError, Wire};
use crate::relay::core::clock::{ActivityClock, Way};
use crate::relay::core::end::Ended;
use crate::relay::core::forward::{ForwardError, ForwardErrorKind};
use crate::relay::core::park::PARK_AFTER;
use crate::relay::core::plan::{RelayPlan, Target};
use crate::relay::core::session::Accepted;
use crate::relay::core::shared::Shared;
use crate::relay::core::stream::Transport;
use http::{Method, StatusCode};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What happens after an exchange.
pub enum Next {
    KeepAlive,
    Close,
    /// Close, but the client is still sending a request body.
    CloseLingering,
    /// `101 Switching Protocols`: the session is a byte stream from now on.
    Upgraded,
}

/// How an exchange ended early: the session is over.
pub type Stop = Ended;

/// What woke a session waiting for its next request.
enum Waited {
    Client(Result<usize, ReadError>),
    /// The idle backend sent something or closed.
    Backend,
}

pub struct Proxy {
    pub shared: Arc<Shared>,
    pub plan: Arc<RelayPlan>,
    pub http: Arc<HttpPlan>,
    pub id: u32,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
    /// An inspected client's SNI, for every backend connection it needs.
    pub sni: Option<Arc<str>>,
    pub clock: Arc<ActivityClock>,
    pub client: Wire,
    pub backend: Option<Link>,
    /// Tag and label set by the rules, kept across requests.
    pub marks: Marks,
    pub headerlen: usize,
    pub timeout: Duration,
}

impl Proxy {
    pub fn new(
        shared: Arc<Shared>,
        session: Accepted,
        http: Arc<HttpPlan>,
        client: Transport,
    ) -> Proxy {
        let Accepted {
            id,
            plan,
            peer,
            listen,
            clock,
            preconnected,
            sni,
        } = session;
        let backend = preconnected.map(|(stream, backend)| Link::new(&plan, stream, backend));
        let timeout = plan.session_timeout;
        let mut client = Wire::new(client, plan.tcp.nodelay, timeout);
        client.count_as(clock.tally(Way::Out));
        Proxy {
            shared,
            client,
            headerlen: http.headerlen(),
            plan,
            http,
            id,
            peer,
            listen,
            sni,
            clock,
            backend,
            marks: Marks::default(),
            timeout,
        }
    }

    /// A session coming back from the parking lot with its backend.
    pub fn resumed(mut self, backend: Link, marks: Marks) -> Proxy {
        self.backend = Some(backend);
        self.marks = marks;
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

    /// Whether the session may park between requests: both sides plain.
    fn parkable(&self) -> bool {
        let backend_plain = self
            .backend
            .as_ref()
            .is_some_and(|l| l.wire.stream.is_plain());
        backend_plain && self.client.stream.is_plain()
    }

    /// The next request head; `None` when the client closed between
    /// requests. The whole head must arrive within the session timeout,
    /// however slowly it trickles in. While no request is under way the
    /// backend connection is watched: if the backend closes it (or sends
    /// something unasked) it is dropped, and the next request connects
    /// anew.
    async fn read_request_head(&mut self) -> Result<Option<RequestHead>, Stop> {
        // The head's deadline starts with the first read that waits (a
        // head already buffered, as in a pipeline, reads no clock); each
        // wait then reads the clock once.
        let mut deadline = None;
        let timeout = self.timeout;
        loop {
            if !self.client.buffered().is_empty() {
                match head::parse_request(self.client.buffered(), self.headerlen) {
                    Ok(Some(head)) => return Ok(Some(head)),
                    Ok(None) => {}
                    Err(error) => return Err(self.refuse_head(error).await),
                }
            }
            let between = self.client.buffered().is_empty() && self.backend.is_some();
            let park = between && self.parkable();
            let until = || {
                let now = Instant::now();
                let head_due = *deadline.get_or_insert(now + timeout);
                if park {
                    head_due.min(now + PARK_AFTER)
                } else {
                    head_due
                }
            };
            let waited = match self.backend.as_mut().filter(|_| between) {
                Some(link) => {
                    let client = &mut self.client;
                    tokio::select! {
                        biased;
                        read = client.fill_by(until) => Waited::Client(read),
                        _ = link.wire.fill_untimed() => Waited::Backend,
                    }
                }
                None => Waited::Client(self.client.fill_by(until).await),
            };
            let read = match waited {
                Waited::Client(read) => read,
                Waited::Backend => {
                    self.let_idle_backend_go();
                    continue;
                }
            };
            match read {
                Ok(0) if self.client.buffered().is_empty() => return Ok(None),
                Ok(0) => return Err(Ended::ClientRead(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(ReadError::Timeout) if deadline.is_some_and(|due| Instant::now() >= due) => {
                    return Err(Ended::Timeout)
                }
                Err(ReadError::Timeout) if park => return Err(Ended::Parked),
                Err(ReadError::Timeout) => {}
                Err(ReadError::Io(e)) => return Err(Ended::ClientRead(e)),
            }
        }
    }

    /// The idle backend connection sent something or closed: it is out of
    /// step or gone, and is let go.
    fn let_idle_backend_go(&mut self) {
        if let Some(link) = self.backend.take() {
            tracing::debug!(
                "relay {}, session {}: backend {} closed its idle connection",
                self.plan.name,
                self.id,
                link.backend.addr
            );
        }
    }

    /// A head that cannot be forwarded, and the session ends. As relayd's
    /// `relay_abort_http`, headers over `headerlen` (413) and an
    /// absolute-form target naming another host than Host (400) get an
    /// error page with `return error` and a close otherwise; too many
    /// fields (431) and framing two parsers could read differently (400)
    /// always get a bare answer, so the client learns why.
    async fn refuse_head(&mut self, error: HeadError) -> Stop {
        let status = match error {
            HeadError::TooLarge => {
                let (status, message) =
                    (StatusCode::PAYLOAD_TOO_LARGE, "request headers too large");
                self.send_error(status, message, None).await;
                return Ended::Http(Refusal::BadRequestHead(error));
            }
            HeadError::HostMismatch => {
                self.send_error(StatusCode::BAD_REQUEST, "malformed host", None)
                    .await;
                return Ended::Http(Refusal::BadRequestHead(error));
            }
            HeadError::TooManyFields => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        self.answer_and_close(status, &error_page::bare(status))
            .await;
        Ended::Http(Refusal::BadRequestHead(error))
    }

    /// An answer of the relay's own (`status`, counted with the backends'
    /// answers), then the end of the session.
    pub async fn answer_and_close(&mut self, status: StatusCode, answer: &[u8]) {
        if self.client.write_all(answer).await.is_ok() {
            self.shared.http_answered(self.plan.id, status.as_u16());
            linger_close(&mut self.client).await;
        }
    }

    /// relayd's `relay_abort_http`: an error page with `return error`,
    /// otherwise the connection closes without an answer.
    pub async fn send_error(&mut self, status: StatusCode, message: &str, label: Option<&str>) {
        if let Some(how) = &self.http.return_error {
            let page = error_page::page(status, message, label, how.style.as_deref(), self.listen);
            self.answer_and_close(status, &page).await;
        }
    }

    /// [`send_error`](Self::send_error), and the session ends refused.
    pub async fn abort(&mut self, status: StatusCode, message: &'static str) -> Stop {
        self.send_error(status, message, None).await;
        Ended::Http(Refusal::Aborted { status, message })
    }

    /// A rule blocked the request or its answer: 403 with the label of the
    /// session's rules.
    pub async fn forbid(&mut self) -> Stop {
        let (status, message) = (StatusCode::FORBIDDEN, "Forbidden");
        let label = self.marks.label.clone();
        self.send_error(status, message, label.as_deref()).await;
        Ended::Http(Refusal::Aborted { status, message })
    }

    /// The session's view for the filter rules, beside the client's side
    /// (whose buffer holds the request head they look at).
    pub fn filter(&mut self) -> (Filter<'_>, &Wire) {
        let filter = Filter::new(
            &self.http,
            self.peer,
            self.listen,
            self.timeout,
            &mut self.marks,
        );
        (filter, &self.client)
    }

    /// The session is done with `link`: it goes to the pool if its last
    /// exchange left it reusable, and closes otherwise.
    pub fn release(&self, link: Link) {
        if !(link.poolable && link.reusable && link.wire.buffered().is_empty()) {
            return;
        }
        if !self.shared.may_pool(link.backend) {
            return;
        }
        if let Transport::Tcp(stream) = link.wire.stream {
            self.shared.backends.put(&self.plan, link.backend, stream);
        }
    }

    /// Checks and filters a request, makes sure the session has the
    /// backend the rules want, and runs the exchange with it.
    async fn exchange(&mut self, head: RequestHead) -> Result<Next, Stop> {
        if head.method == Method::CONNECT {
            return Err(self.abort(StatusCode::METHOD_NOT_ALLOWED, "CONNECT").await);
        }
        if head.upgrade && !self.http.options.websockets {
            return Err(self
                .abort(StatusCode::FORBIDDEN, "Websocket Forbidden")
                .await);
        }
        let (mut filter, client) = self.filter();
        let filtered = filter.request(&client.buffered()[..head.len]);
        let (verdict, out, variables) = match filtered {
            Filtered::Unfiltered => (Verdict::default(), Head::Buffered(head.len), None),
            Filtered::Blocked => return Err(self.forbid().await),
            Filtered::Passed {
                verdict,
                head: bytes,
                variables,
            } => {
                let out = Head::Rewritten {
                    len: head.len,
                    bytes,
                };
                (verdict, out, Some(variables))
            }
        };
        let (out, stripped) = self.keep_backend_open(&head, out);
        let mut link = self.route(&verdict).await?;
        // Set per request: a new link (and the one a session resumes
        // with) starts without a tally.
        link.wire.count_as(self.clock.tally(Way::In));
        let next = self
            .exchange_with(&mut link, &head, out, variables.as_ref(), stripped)
            .await;
        self.backend = Some(link);
        next
    }

    /// Whether this session's backend connections may be pooled: `http {
    /// reuse }`, and a backend chosen by the relay (a table host or its
    /// address), not the client's own source or destination.
    fn pools(&self) -> bool {
        self.http.options.reuse
            && !self.plan.transparent
            && !matches!(self.plan.target, Target::OriginalDestination(_))
    }

    /// With `http { reuse }`, a request saying `Connection: close` goes to
    /// the backend without it, so that the backend connection may serve
    /// another client; the client still gets its close. Whether that was
    /// done comes back with the head.
    fn keep_backend_open(&self, request: &RequestHead, out: Head) -> (Head, bool) {
        if !self.pools() || request.keep_alive || request.upgrade {
            return (out, false);
        }
        let (len, kept) = match &out {
            Head::Buffered(len) => (
                *len,
                connection::without_close(&self.client.buffered()[..*len]),
            ),
            Head::Rewritten { len, bytes } => (*len, connection::without_close(bytes)),
        };
        match kept {
            Some(bytes) => (Head::Rewritten { len, bytes }, true),
            None => (out, false),
        }
    }

    /// The backend for this request: the current one, or a new connection
    /// where the rules (or the first request) send it. A new link replaces
    /// the current one, which closes.
    async fn route(&mut self, verdict: &Verdict) -> Result<Link, Stop> {
        let route = Route {
            table: verdict.forward_to.as_deref(),
            hash: verdict.hash,
        };
        let chooser = Chooser {
            shared: &self.shared,
            plan: &self.plan,
            session: self.id,
            peer: self.peer,
            listen: self.listen,
            sni: self.sni.as_deref(),
            reuse: self.http.options.reuse,
        };
        let chosen = match self.backend.take() {
            None => chooser.first(&self.client.stream, route).await,
            Some(current) => match chooser.reroute(&current, route).await {
                Ok(None) => return Ok(current),
                Ok(Some(link)) => {
                    self.release(current);
                    Ok(link)
                }
                Err(error) => {
                    self.backend = Some(current);
                    Err(error)
                }
            },
        };
        match chosen {
            Ok(link) => {
                self.shared.session_connected(self.id, link.backend);
                Ok(link)
            }
            Err(error) => Err(self.no_backend(error).await),
        }
    }

    /// No backend connection for the request: relayd's answer for why.
    pub async fn no_backend(&mut self, error: ForwardError) -> Stop {
        tracing::debug!("relay {}, session {}: {error}", error.relay, error.session);
        let (status, message) = match error.kind() {
            ForwardErrorKind::TlsFailed => (StatusCode::BAD_GATEWAY, "TLS handshake failed"),
            kind if kind.is_connect() => (StatusCode::GATEWAY_TIMEOUT, "connect failed"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "no backend"),
        };
        self.send_error(status, message, None).await;
        Ended::Http(Refusal::NoBackend(error))
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
        // Each write counts as it happens (tunnel.rs).
        match tokio::io::copy_bidirectional(&mut client.counted(), &mut server.counted()).await {
            Ok(_) => Ended::Done,
            Err(e) => Ended::ClientRead(e),
        }
    }
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
    let _ = client.shutdown().await;
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

#[cfg(test)]
mod tests;
