//! One query from one client, in a task of its own: for `forward to
//! destination` / `nat lookup` ask the pfe where the client sent it before
//! a redirection brought it here (`core/natlook`), pick a backend, send
//! the query from a new socket with the relay's ID, wait for the answer
//! from that backend with that ID, and send it to the client with the
//! client's ID, through the listening socket the query came in on. A
//! sending failure tries the next host (`retry`); datagrams on the query
//! socket that are not the answer are counted and dropped, and the query
//! waits on, until the session timeout or until a newer query pushes it
//! out of a full table.

use super::header::{self, MessageKind};
use super::pending::{Admitted, Dropped};
use super::{DnsState, Unanswered};
use crate::relay::core::clock::{ActivityClock, Way};
use crate::relay::core::end::{finish, Ended, Outcome};
use crate::relay::core::forward::{
    no_original_destination, no_usable_host, original_or_table, ForwardErrorKind,
};
use crate::relay::core::plan::{RelayPlan, Target};
use crate::relay::core::shared::{Backend, Shared};
use crate::relay::core::sockopt;
use relayd_config::{IpProto, ObjectId};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// The largest answer a backend can send (a UDP payload).
const MAX_ANSWER: usize = 65_535;

/// A query on its way, and everything its task needs.
pub struct Query {
    pub shared: Arc<Shared>,
    pub plan: Arc<RelayPlan>,
    pub state: Arc<DnsState>,
    /// The relay session standing for this query.
    pub session: u32,
    pub client: SocketAddr,
    pub listen: SocketAddr,
    /// The listening socket: the answer goes back through it.
    pub reply: Arc<UdpSocket>,
    /// The query as the client sent it.
    pub message: Vec<u8>,
    pub client_id: u16,
    /// The ID the backend sees.
    pub id: u16,
    pub admitted: Admitted,
    pub clock: Arc<ActivityClock>,
}

/// Relays one query; ends its session, counted and logged.
pub async fn relay(mut query: Query) {
    let outcome = query.run().await;
    query.state.pending.release(query.admitted.ticket);
    finish(
        &query.shared,
        &query.plan,
        query.session,
        query.client,
        &outcome,
    );
}

impl Query {
    async fn run(&mut self) -> Outcome {
        let deadline = Instant::now() + self.plan.session_timeout;
        header::set_id(&mut self.message, self.id);
        let original = match self.look_up(deadline).await {
            Ok(original) => original,
            Err(outcome) => return outcome,
        };
        let (socket, backend) = match self.send(original).await {
            Ok(sent) => sent,
            Err((outcome, dropped)) => {
                self.state.pending.count(dropped);
                return outcome;
            }
        };
        self.shared.session_connected(self.session, backend);
        self.clock.moved(Way::In, self.message.len());
        let relayed = |ended| Outcome::Relayed(backend.addr, ended);
        loop {
            tokio::select! {
                biased;
                _ = &mut self.admitted.evicted => {
                    return relayed(Ended::Dns(Unanswered::Evicted));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.state.pending.count(Dropped::Timeout);
                    return relayed(Ended::Timeout);
                }
                ready = socket.readable() => {
                    if let Err(e) = ready {
                        return relayed(Ended::ServerRead(e));
                    }
                    match self.receive(&socket, backend.addr) {
                        Ok(Some(mut answer)) => {
                            header::set_id(&mut answer, self.client_id);
                            return match self.reply.send_to(&answer, self.client).await {
                                Ok(sent) => {
                                    self.clock.moved(Way::Out, sent);
                                    relayed(Ended::Done)
                                }
                                Err(e) => relayed(Ended::ClientWrite(e)),
                            };
                        }
                        Ok(None) => {}
                        Err(e) => return relayed(Ended::ServerRead(e)),
                    }
                }
            }
        }
    }

    /// For `forward to destination` / `nat lookup`: the destination the
    /// client sent the query to, asked of the pfe within the session
    /// timeout (relayd's `relay_natlook`); `None` for other relays, for a
    /// query nothing redirected and when the lookup failed (logged).
    async fn look_up(&mut self, deadline: Instant) -> Result<Option<SocketAddr>, Outcome> {
        if !matches!(self.plan.target, Target::OriginalDestination(_)) {
            return Ok(None);
        }
        let natlook = &self.shared.natlook;
        let lookup = natlook.original_destination(
            IpProto::Udp,
            self.client,
            self.listen,
            deadline.into_std(),
        );
        tokio::select! {
            biased;
            _ = &mut self.admitted.evicted => {
                Err(Outcome::Unrouted(Ended::Dns(Unanswered::Evicted)))
            }
            result = lookup => match result {
                Ok(original) => Ok(original),
                Err(e) => {
                    natlook.log_failure(&self.plan.name, self.client, &e);
                    Ok(None)
                }
            },
        }
    }

    /// Sends the query to a backend from a new socket, trying the next
    /// host when sending fails (`retry`); a query that goes nowhere is
    /// dropped, counted by why.
    async fn send(
        &self,
        original: Option<SocketAddr>,
    ) -> Result<(UdpSocket, Backend), (Outcome, Dropped)> {
        let plan = &self.plan;
        let mut tried: Vec<ObjectId> = Vec::new();
        let mut failed = None;
        for _ in 0..=plan.retry {
            let backend = match self.choose(original, &tried) {
                Ok(backend) => backend,
                Err(ForwardErrorKind::NoOriginalDestination) => {
                    let why = no_original_destination(plan, self.session, self.client);
                    return Err((Outcome::NoBackend(why), Dropped::NoDestination));
                }
                Err(_) => break,
            };
            match send_from_new_socket(plan, &self.message, backend.addr).await {
                Ok(socket) => return Ok((socket, backend)),
                Err(e) => {
                    tracing::debug!(
                        "relay {}, session {}: query to {}: {e}",
                        plan.name,
                        self.session,
                        backend.addr
                    );
                    failed = Some((backend.addr, e));
                    if let Some(host) = backend.host {
                        tried.push(host);
                    }
                }
            }
        }
        let outcome = match failed {
            Some((addr, e)) => Outcome::Relayed(addr, Ended::ServerWrite(e)),
            None => Outcome::NoBackend(no_usable_host(plan, self.session, self.client)),
        };
        Err((outcome, Dropped::NoBackend))
    }

    /// The backend of the query: the relay's address, a host of its
    /// tables, or the query's `original` destination (then the tables), as
    /// a TCP relay picks.
    fn choose(
        &self,
        original: Option<SocketAddr>,
        tried: &[ObjectId],
    ) -> Result<Backend, ForwardErrorKind> {
        let (plan, client, listen) = (&self.plan, self.client, self.listen);
        match &plan.target {
            Target::Address(addr) => Ok(Backend {
                addr: *addr,
                host: None,
            }),
            Target::Tables(tables) => self
                .shared
                .choose(plan, tables, client, listen, tried)
                .ok_or(ForwardErrorKind::NoUsableHost),
            Target::OriginalDestination(tables) => {
                original_or_table(&self.shared, plan, tables, original, client, listen, tried)
            }
        }
    }

    /// Takes one datagram off the query socket: the answer, or `None` for
    /// anything else (counted) and for a spurious wake-up.
    fn receive(&self, socket: &UdpSocket, backend: SocketAddr) -> io::Result<Option<Vec<u8>>> {
        let mut answer = Vec::with_capacity(MAX_ANSWER);
        let from = match socket.try_recv_buf_from(&mut answer) {
            Ok((_, from)) => from,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let dropped = if from != backend {
            Some(Dropped::WrongSource)
        } else {
            match header::inspect(&answer) {
                Ok(h) if h.kind == MessageKind::Answer && h.id == self.id => None,
                Ok(h) if h.kind == MessageKind::Answer => Some(Dropped::UnknownId),
                _ => Some(Dropped::Malformed),
            }
        };
        match dropped {
            None => Ok(Some(answer)),
            Some(why) => {
                tracing::debug!(
                    "relay {}, session {}: dropped a datagram from {from} ({why:?})",
                    self.plan.name,
                    self.session
                );
                self.state.pending.count(why);
                Ok(None)
            }
        }
    }
}

/// A socket of the backend's family on a port the kernel picks, with the
/// protocol's socket options, after sending `message` to `backend`.
async fn send_from_new_socket(
    plan: &RelayPlan,
    message: &[u8],
    backend: SocketAddr,
) -> io::Result<UdpSocket> {
    let any = match backend {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(any).await?;
    sockopt::apply_datagram(&socket, &plan.tcp);
    socket.send_to(message, backend).await?;
    Ok(socket)
}
