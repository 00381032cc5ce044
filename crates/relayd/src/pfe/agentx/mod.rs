//! The pfe as AgentX subagent (`agentx`, and the older `snmp` spelling;
//! relayd's agentx_control.c): it opens a session with the master over a
//! socket the parent connected and passed (`ParentToPfe::AgentxSocket`),
//! registers OPENBSD-RELAYD-MIB (enterprises.30155.3) in the configured
//! context, and answers Get, GetNext and GetBulk from a view of relayd's
//! state it asks the parent for (`mib`); a view answers the requests of
//! the next quarter second too, so a walk does not cost a view per
//! variable. Sets are refused (the MIB is read-only), no traps are sent
//! (as relayd).
//!
//! Reconnecting: when the session ends (the master closed it, went away,
//! sent what cannot be decoded, or refused the Open or the registration)
//! the pfe asks the parent for a new socket at once; a connect the parent
//! could not make is asked again every `RETRY` (relayd: 3 s). A
//! configuration that drops `agentx` closes the session; one that changes
//! its context or path opens a new one.

mod mib;
mod session;

pub use session::SessionEvent;

use mib::{Mib, RELAYD_MIB};
use relayd_agentx::pdu::{self, Header, Ids};
use relayd_agentx::{Oid, Pdu, PduType, Request};
use relayd_config::Config;
use relayd_proto::correlate::RequestId;
use relayd_proto::messages::agentx::MibView;
use relayd_proto::messages::parent_pfe::PfeToParent;
use session::{Connection, Received};
use std::os::fd::OwnedFd;
use std::time::Duration;
use tokio::time::Instant;

/// How long after a failed connect the pfe asks again (relayd's
/// AGENTX_RECONNECT_TIMEOUT).
pub const RETRY: Duration = Duration::from_secs(3);

/// How long the master waits for an answer (the Open's timeout): a view
/// takes the parent at most half a second to gather.
const MASTER_TIMEOUT_SECS: u8 = 5;

/// How long a view may take before the requests waiting for it are
/// answered with genErr.
const VIEW_BOUND: Duration = Duration::from_secs(2);

/// How long a view answers the requests that follow it: a walk is a
/// request per variable, and each view costs the relay processes a
/// listing of their sessions.
const VIEW_REUSE: Duration = Duration::from_millis(250);

/// Requests waiting for one view, at most; more are answered genErr.
const PENDING_LIMIT: usize = 64;

/// Default registration priority (RFC 2741 6.2.3).
const PRIORITY: u8 = 127;

/// The Response to a request, from a view.
fn answer(mib: &Mib, header: &Header, request: &Request) -> Vec<u8> {
    match mib.answer(request) {
        Some(varbinds) => pdu::response(header, pdu::NO_ERROR, 0, &varbinds),
        // tooBig (RFC 3416): the request asked for more than a PDU holds.
        None => pdu::response(header, 1, 0, &[]),
    }
}

/// What the pfe's engine hands to the subagent to send to the parent.
pub type Reports = Vec<PfeToParent>;

/// Where the session is.
enum State {
    /// `agentx` not configured.
    Off,
    /// A socket was asked of the parent.
    Connecting,
    /// The parent could not connect: ask again then.
    Waiting(Instant),
    /// Open sent, or Register sent: waiting for the master's Response.
    Opening(Connection),
    Registering(Connection, u32),
    Ready(Connection, u32),
}

pub struct Subagent {
    /// `agentx context` and `path` (or `snmp`'s path), while configured:
    /// a change of either opens a new session.
    context: Option<(Option<String>, Option<String>)>,
    state: State,
    connections: u64,
    packet_id: u32,
    /// Requests waiting for the view asked under that id, since then.
    pending: Vec<(Header, Request)>,
    view: Option<(RequestId, Instant)>,
    next_view: RequestId,
    /// The last view, laid out, and when it came.
    recent: Option<(Instant, Mib)>,
    /// The last connect failure logged, so a master that stays away is
    /// logged once, not every 3 s.
    logged_failure: Option<String>,
}

impl Subagent {
    pub fn new() -> Self {
        Subagent {
            context: None,
            state: State::Off,
            connections: 0,
            packet_id: 0,
            pending: Vec::new(),
            view: None,
            next_view: 0,
            recent: None,
            logged_failure: None,
        }
    }

    /// A new configuration runs: start, stop or restart the session.
    pub fn configure(&mut self, config: &Config, reports: &mut Reports) {
        let global = &config.global;
        let wanted = match (&global.agentx, &global.snmp) {
            (Some(agentx), _) => Some((agentx.context.clone(), agentx.path.clone())),
            (None, Some(snmp)) => Some((None, snmp.path.clone())),
            (None, None) => None,
        };
        if wanted == self.context {
            return;
        }
        self.end_session("the configuration changed");
        self.context = wanted;
        if self.context.is_some() {
            self.connect(reports);
        } else {
            self.state = State::Off;
        }
    }

    /// Closes the session (relayd is stopping).
    pub fn stop(&mut self) {
        self.end_session("relayd is stopping");
        self.state = State::Off;
    }

    pub fn next_timer(&self) -> Option<Instant> {
        let retry = match self.state {
            State::Waiting(at) => Some(at),
            _ => None,
        };
        let view = self.view.map(|(_, since)| since + VIEW_BOUND);
        [retry, view].into_iter().flatten().min()
    }

    pub fn on_timer(&mut self, now: Instant, reports: &mut Reports) {
        if matches!(self.state, State::Waiting(at) if at <= now) {
            self.connect(reports);
        }
        if self
            .view
            .is_some_and(|(_, since)| since + VIEW_BOUND <= now)
        {
            tracing::warn!("agentx: no view from the parent in time");
            self.view = None;
            self.fail_pending();
        }
    }

    /// The parent's answer to `AgentxConnect`.
    pub fn on_socket(
        &mut self,
        error: Option<String>,
        fd: Option<OwnedFd>,
        events: impl Fn(SessionEvent) -> bool + Send + 'static,
    ) {
        if !matches!(self.state, State::Connecting) {
            return;
        }
        let fd = match (error, fd) {
            (None, Some(fd)) => fd,
            (error, _) => {
                let why = error.unwrap_or_else(|| "no descriptor came".to_string());
                if self.logged_failure.as_ref() != Some(&why) {
                    tracing::warn!("agentx: {why}; trying again every {}s", RETRY.as_secs());
                    self.logged_failure = Some(why);
                }
                self.state = State::Waiting(Instant::now() + RETRY);
                return;
            }
        };
        self.connections += 1;
        match Connection::start(fd, self.connections, events) {
            Ok(connection) => {
                let open = pdu::open(
                    self.next_packet(),
                    MASTER_TIMEOUT_SECS,
                    &Oid::default(),
                    "relayd",
                );
                match connection.send(open) {
                    Ok(()) => self.state = State::Opening(connection),
                    Err(e) => self.retry_later(&e.to_string()),
                }
            }
            Err(e) => self.retry_later(&e.to_string()),
        }
    }

    /// A PDU from the master, or the end of the connection.
    pub fn on_event(&mut self, event: SessionEvent, reports: &mut Reports) {
        if self.connection().map(|c| c.number) != Some(event.connection) {
            return;
        }
        match event.what {
            // A session that was serving is asked again at once; one that
            // never got there waits, so a master refusing us is not
            // hammered.
            Received::Ended(why) if matches!(self.state, State::Ready(..)) => {
                tracing::warn!("agentx: {why}");
                self.reconnect(reports);
            }
            Received::Ended(why) => {
                tracing::warn!("agentx: {why}");
                self.retry_later(&why);
            }
            Received::Pdu(header, pdu) => self.on_pdu(header, pdu, reports),
        }
    }

    /// The parent's view: every request waiting for it is answered.
    pub fn on_view(&mut self, request_id: RequestId, view: &MibView) {
        if self.view.map(|(id, _)| id) != Some(request_id) {
            return;
        }
        self.view = None;
        let mib = Mib::new(view);
        tracing::trace!("agentx: a view of {} variables", mib.len());
        for (header, request) in std::mem::take(&mut self.pending) {
            self.send(answer(&mib, &header, &request));
        }
        self.recent = Some((Instant::now(), mib));
    }

    fn on_pdu(&mut self, header: Header, pdu: Pdu, reports: &mut Reports) {
        match (&self.state, pdu) {
            (State::Opening(_), Pdu::Response(response)) => {
                if response.error != pdu::NO_ERROR {
                    let why = format!("the master refused the session (error {})", response.error);
                    tracing::warn!("agentx: {why}");
                    return self.retry_later(&why);
                }
                let session_id = header.session_id;
                let ids = Ids {
                    session_id,
                    transaction_id: 0,
                    packet_id: self.next_packet(),
                };
                let context = self.context.clone().and_then(|(context, _)| context);
                let register = pdu::register(
                    ids,
                    context.as_deref().map(str::as_bytes),
                    PRIORITY,
                    &Oid::from_slice(&RELAYD_MIB).unwrap_or_default(),
                );
                if let State::Opening(connection) =
                    std::mem::replace(&mut self.state, State::Connecting)
                {
                    self.state = State::Registering(connection, session_id);
                    self.send(register);
                }
            }
            (State::Registering(..), Pdu::Response(response)) => {
                if response.error != pdu::NO_ERROR {
                    let why = format!(
                        "the master refused to register enterprises.30155.3 (error {})",
                        response.error
                    );
                    tracing::warn!("agentx: {why}");
                    return self.retry_later(&why);
                }
                if let State::Registering(connection, session_id) =
                    std::mem::replace(&mut self.state, State::Connecting)
                {
                    tracing::info!("agentx: registered OPENBSD-RELAYD-MIB, session {session_id}");
                    self.logged_failure = None;
                    self.state = State::Ready(connection, session_id);
                }
            }
            (State::Ready(..), Pdu::Request(request)) => self.queue(header, request, reports),
            (State::Ready(..), Pdu::Set(kind)) => {
                // CleanupSet has no answer; the others are refused.
                if kind != PduType::CleanupSet {
                    self.send(pdu::response(&header, pdu::NOT_WRITABLE, 1, &[]));
                }
            }
            (_, Pdu::Close { reason }) => {
                tracing::info!("agentx: the master closed the session (reason {reason})");
                self.reconnect(reports);
            }
            (_, Pdu::Response(_)) => {}
            (_, pdu) => tracing::debug!("agentx: ignored {pdu:?}"),
        }
    }

    fn queue(&mut self, header: Header, request: Request, reports: &mut Reports) {
        tracing::debug!(
            "agentx: {:?} for {} variables, packet {}",
            request.kind,
            request.ranges.len(),
            header.packet_id
        );
        if let Some((_, mib)) = self
            .recent
            .as_ref()
            .filter(|(at, _)| at.elapsed() < VIEW_REUSE)
        {
            let bytes = answer(mib, &header, &request);
            return self.send(bytes);
        }
        if self.pending.len() >= PENDING_LIMIT {
            self.send(pdu::response(&header, pdu::GEN_ERR, 0, &[]));
            return;
        }
        self.pending.push((header, request));
        if self.view.is_none() {
            self.next_view += 1;
            self.view = Some((self.next_view, Instant::now()));
            reports.push(PfeToParent::MibView {
                request_id: self.next_view,
            });
        }
    }

    fn fail_pending(&mut self) {
        for (header, _) in std::mem::take(&mut self.pending) {
            self.send(pdu::response(&header, pdu::GEN_ERR, 0, &[]));
        }
    }

    fn connection(&self) -> Option<&Connection> {
        match &self.state {
            State::Opening(c) | State::Registering(c, _) | State::Ready(c, _) => Some(c),
            _ => None,
        }
    }

    fn send(&mut self, bytes: Vec<u8>) {
        let Some(connection) = self.connection() else {
            return;
        };
        if let Err(e) = connection.send(bytes) {
            tracing::warn!("agentx: {e}");
            // The loop's next event (or timer) asks for a new socket.
            self.retry_later(&e.to_string());
        }
    }

    fn next_packet(&mut self) -> u32 {
        self.packet_id = self.packet_id.wrapping_add(1);
        self.packet_id
    }

    /// Ends the session, saying so to the master if it is open.
    fn end_session(&mut self, why: &str) {
        if let State::Registering(connection, session_id) | State::Ready(connection, session_id) =
            &self.state
        {
            tracing::debug!("agentx: closing session {session_id}: {why}");
            let ids = Ids {
                session_id: *session_id,
                transaction_id: 0,
                packet_id: self.packet_id.wrapping_add(1),
            };
            let _ = connection.send(pdu::close(ids, pdu::CLOSE_SHUTDOWN));
        }
        self.pending.clear();
        self.view = None;
        self.state = State::Off;
    }

    /// The session broke: ask the parent for a new socket now.
    fn reconnect(&mut self, reports: &mut Reports) {
        self.pending.clear();
        self.view = None;
        self.state = State::Off;
        self.connect(reports);
    }

    fn retry_later(&mut self, why: &str) {
        tracing::debug!("agentx: {why}");
        self.pending.clear();
        self.view = None;
        self.state = State::Waiting(Instant::now() + RETRY);
    }

    fn connect(&mut self, reports: &mut Reports) {
        self.recent = None;
        if self.context.is_none() {
            return;
        }
        self.state = State::Connecting;
        reports.push(PfeToParent::AgentxConnect);
    }
}
