//! One query from one client, in a task of its own: pick a backend, send
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
use crate::relay::core::clock::ActivityClock;
use crate::relay::core::end::{finish, Ended, Outcome};
use crate::relay::core::forward::no_usable_host;
use crate::relay::core::plan::{RelayPlan, Target};
use crate::relay::core::shared::{Backend, Shared};
use crate::relay::core::sockopt;
use relayd_config::ObjectId;
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
        let (socket, backend) = match self.send().await {
            Ok(sent) => sent,
            Err(outcome) => {
                self.state.pending.count(Dropped::NoBackend);
                return outcome;
            }
        };
        self.shared.session_connected(self.session, backend);
        self.clock.touch();
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
                            self.clock.touch();
                            return match self.reply.send_to(&answer, self.client).await {
                                Ok(_) => relayed(Ended::Done),
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

    /// Sends the query to a backend from a new socket, trying the next
    /// host when sending fails (`retry`).
    async fn send(&self) -> Result<(UdpSocket, Backend), Outcome> {
        let plan = &self.plan;
        let mut tried: Vec<ObjectId> = Vec::new();
        let mut failed = None;
        for _ in 0..=plan.retry {
            let Some(backend) = self.choose(&tried) else {
                break;
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
        Err(match failed {
            Some((addr, e)) => Outcome::Relayed(addr, Ended::ServerWrite(e)),
            None => Outcome::NoBackend(no_usable_host(plan, self.session, self.client)),
        })
    }

    fn choose(&self, tried: &[ObjectId]) -> Option<Backend> {
        match &self.plan.target {
            Target::Address(addr) => Some(Backend {
                addr: *addr,
                host: None,
            }),
            // `forward to destination` is refused for dns relays at load:
            // only the tables remain.
            Target::Tables(tables) | Target::OriginalDestination(tables) => {
                self.shared
                    .choose(&self.plan, tables, self.client, self.listen, tried)
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
