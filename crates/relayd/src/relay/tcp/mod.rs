//! `tcp protocol` relays (and relays without a protocol): bytes moved both
//! ways unchanged. A session connects to its backend at once; two plain
//! TCP sockets are pumped with splice(2) where the kernel can (`pump`,
//! `splice`, `copy`) and parked when idle; a session with a layered side
//! (TLS) is copied through its streams and keeps its task
//! (`layered`).

pub mod copy;
mod layered;
pub mod pump;
pub mod splice;

use crate::relay::core::clock::ActivityClock;
use crate::relay::core::end::{finish, Ended, Outcome};
use crate::relay::core::forward::connect_backend;
use crate::relay::core::park::{ParkError, ParkedSession};
use crate::relay::core::session::{Accepted, Connected, Resume};
use crate::relay::core::shared::Shared;
use crate::relay::core::stream::Transport;
use pump::pump;
use relayd_config::TcpOptions;
use std::sync::Arc;
use tokio::net::TcpStream;

/// What a TCP relay adds to the common plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPlan {
    /// `tcp { [no] splice }`: move bytes with splice(2), not through a
    /// buffer.
    pub splice: bool,
}

impl TcpPlan {
    pub fn new(options: &TcpOptions) -> TcpPlan {
        TcpPlan {
            splice: options.splice,
        }
    }
}

/// Connects an accepted session to its backend and relays it.
pub async fn serve(shared: Arc<Shared>, mut session: Accepted, tcp: TcpPlan, client: Transport) {
    let (id, peer) = (session.id, session.peer);
    let connected = match session.preconnected.take() {
        Some(connected) => Ok(connected),
        None => {
            let addresses = (peer, session.listen);
            let sni = session.sni.as_deref();
            connect_backend(&shared, &session.plan, id, &client, addresses, sni).await
        }
    };
    match connected {
        Ok((server, backend)) => {
            shared.session_connected(id, backend);
            let connected = Connected {
                id,
                plan: session.plan,
                peer,
                backend,
            };
            match (client, server) {
                (Transport::Tcp(client), Transport::Tcp(server)) => {
                    relay_plain(shared, connected, tcp, client, server, session.clock).await
                }
                (client, server) => {
                    relay_layered(shared, connected, client, server, session.clock).await
                }
            }
        }
        Err(error) => finish(&shared, &session.plan, id, peer, &Outcome::NoBackend(error)),
    }
}

/// A layered side: copied through the streams, never parked.
async fn relay_layered(
    shared: Arc<Shared>,
    session: Connected,
    client: Transport,
    server: Transport,
    clock: Arc<ActivityClock>,
) {
    let ended = layered::relay(session.plan.session_timeout, client, server, &clock).await;
    let outcome = Outcome::Relayed(session.backend.addr, ended);
    finish(&shared, &session.plan, session.id, session.peer, &outcome);
}

/// Two plain sockets: spliced, and parked when both directions rest. A
/// session leaving the parking lot goes on here too.
pub async fn relay_plain(
    shared: Arc<Shared>,
    session: Connected,
    tcp: TcpPlan,
    client: TcpStream,
    server: TcpStream,
    clock: Arc<ActivityClock>,
) {
    let timeout = session.plan.session_timeout;
    let ended = pump(&shared, tcp.splice, timeout, &client, &server, &clock).await;
    let ended = match ended {
        Ended::Parked => match (client.into_std(), server.into_std()) {
            (Ok(client), Ok(server)) => {
                let parked = ParkedSession {
                    session,
                    client,
                    server,
                    started: clock.started(),
                    last: clock.last_active(),
                    resume: Resume::Tcp(tcp),
                };
                drop(clock);
                shared.park(parked);
                return;
            }
            (Err(e), _) | (_, Err(e)) => Ended::Park(ParkError::Deregister(e)),
        },
        ended => ended,
    };
    let outcome = Outcome::Relayed(session.backend.addr, ended);
    finish(&shared, &session.plan, session.id, session.peer, &outcome);
}
