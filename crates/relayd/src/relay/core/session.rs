//! One relay session from accept to its protocol: register it, apply the
//! socket options, set up the client's transport and hand the session to
//! the relay's protocol (`tcp` or `http`). A parked session comes back
//! here when a side has data and goes to its protocol again, with what
//! that protocol kept ([`Resume`]). Also the session as the session table
//! keeps it.

use super::clock::ActivityClock;
use super::end::{finish, Ended, Outcome};
use super::fresh::Fresh;
use super::inspect;
use super::park::ParkedSession;
use super::plan::{ProtocolPlan, RelayPlan};
use super::shared::{Backend, Shared};
use super::sockopt;
use super::stream::Transport;
use crate::relay::http::{self, Between};
use crate::relay::tcp::{self, TcpPlan};
use relayd_config::ObjectId;
use relayd_proto::status::SessionRow;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// An accepted session, not yet connected to any backend.
pub struct Accepted {
    pub id: u32,
    pub plan: Arc<RelayPlan>,
    pub peer: SocketAddr,
    pub listen: SocketAddr,
    pub clock: Arc<ActivityClock>,
    /// TLS inspection connected the backend before the client's handshake
    /// was done: the protocol relays to it instead of connecting.
    pub preconnected: Option<(Transport, Backend)>,
    /// TLS inspection: the client's SNI, sent on every backend connection
    /// the session opens (an HTTP session reconnects, retries, moves to
    /// another host), not on the first alone.
    pub sni: Option<Arc<str>>,
}

/// A session connected to its backend: what every protocol keeps while
/// the session is parked.
pub struct Connected {
    pub id: u32,
    pub plan: Arc<RelayPlan>,
    pub peer: SocketAddr,
    pub backend: Backend,
}

/// What a parked session's protocol keeps besides its sockets.
pub enum Resume {
    Tcp(TcpPlan),
    Http(Between),
}

/// Runs one accepted connection until it ends or is parked. A plain HTTP
/// client's socket starts unregistered (`fresh.rs`): a short exchange
/// reads and writes it without the runtime. A TLS
/// listener's session (`tls` is its server configuration) first runs its
/// handshake here, in its own task and within the session timeout; the
/// protocol then gets `Transport::Layered`. An inspecting relay connects
/// the backend during that handshake (`inspect.rs`) and passes it on. A failed or slow handshake
/// ends this session alone, logged like any other end.
pub async fn run(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    client: std::net::TcpStream,
    peer: SocketAddr,
    listen: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
) {
    let clock = Arc::new(ActivityClock::new());
    let id = shared.open_session(plan.id, peer, clock.clone());
    sockopt::apply_accepted(&client, &plan.tcp);
    let mut session = Accepted {
        id,
        plan,
        peer,
        listen,
        clock,
        preconnected: None,
        sni: None,
    };
    if tls.is_none() && matches!(session.plan.protocol, ProtocolPlan::Http(_)) {
        let client = Transport::Fresh(Fresh::new(client));
        return serve(shared, session, client).await;
    }
    let plan = session.plan.clone();
    let client = match TcpStream::from_std(client) {
        Ok(client) => client,
        Err(e) => {
            let outcome = Outcome::Unrouted(Ended::ClientRead(e));
            return finish(&shared, &plan, id, peer, &outcome);
        }
    };
    let client = match (tls, plan.tls.inspection.clone()) {
        (None, _) => Transport::Tcp(client),
        (Some(_), Some(inspection)) => {
            let addresses = (peer, listen);
            match inspect::handshake(&shared, &plan, id, addresses, client, &inspection).await {
                Ok((stream, server, backend)) => {
                    shared.session_connected(id, backend);
                    session.preconnected = Some((server, backend));
                    session.sni = stream.get_ref().1.server_name().map(Arc::from);
                    Transport::Layered(Box::new(stream))
                }
                Err(outcome) => return finish(&shared, &plan, id, peer, &outcome),
            }
        }
        (Some(config), None) => match handshake(&plan, peer, client, config).await {
            Ok(stream) => Transport::Layered(Box::new(stream)),
            Err(ended) => return finish(&shared, &plan, id, peer, &Outcome::Unrouted(ended)),
        },
    };
    serve(shared, session, client).await
}

/// Hands an accepted (and, with TLS, handshaken) session to its protocol.
async fn serve(shared: Arc<Shared>, session: Accepted, client: Transport) {
    match &session.plan.protocol {
        ProtocolPlan::Tcp(tcp) => {
            let tcp = *tcp;
            tcp::serve(shared, session, tcp, client).await
        }
        ProtocolPlan::Http(http) => {
            let http = http.clone();
            http::serve(shared, session, http, client).await
        }
        // A dns relay listens on UDP only (`accept.rs` refuses a TCP
        // socket for it): nothing to relay on a connection.
        ProtocolPlan::Dns(_) => shared.close_session(session.id),
    }
}

/// The server side of a TLS session's handshake.
async fn handshake(
    plan: &RelayPlan,
    peer: SocketAddr,
    client: TcpStream,
    config: Arc<ServerConfig>,
) -> Result<TlsStream<TcpStream>, Ended> {
    let accepting = relayd_tls::accept::accept(client, config);
    match tokio::time::timeout(plan.session_timeout, accepting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => {
            // The ca's failure, not the client's: always worth a line.
            if relayd_tls::sign::sign_error(&e).is_some() {
                tracing::warn!("relay {}: TLS handshake with {peer} failed: {e}", plan.name);
            }
            Err(Ended::Handshake(e))
        }
        Err(_) => Err(Ended::Timeout),
    }
}

/// Continues a parked session whose client or backend has sent something.
pub async fn resume(shared: Arc<Shared>, parked: ParkedSession) {
    let ParkedSession {
        session,
        client,
        server,
        started,
        last,
        resume,
    } = parked;
    // An HTTP client comes back as it was accepted, unregistered: it has
    // something to read, and a last short exchange may end without the
    // runtime.
    let client = match resume {
        Resume::Tcp(_) => TcpStream::from_std(client).map(Transport::Tcp),
        Resume::Http(_) => Ok(Transport::Fresh(Fresh::new(client))),
    };
    let streams = client.and_then(|c| Ok((c, TcpStream::from_std(server)?)));
    let (client, server) = match streams {
        Ok(streams) => streams,
        Err(e) => {
            let outcome = Outcome::Relayed(session.backend.addr, Ended::ServerRead(e));
            return finish(&shared, &session.plan, session.id, session.peer, &outcome);
        }
    };
    let clock = Arc::new(ActivityClock::resumed(started, last));
    shared.resume_session(session.id, clock.clone());
    match (resume, client) {
        (Resume::Tcp(tcp), Transport::Tcp(client)) => {
            tcp::relay_plain(shared, session, tcp, client, server, clock).await
        }
        (Resume::Http(between), client) => {
            http::resume(shared, session, between, client, server, clock).await
        }
        // A TCP relay's client was registered just above.
        (Resume::Tcp(_), _) => shared.close_session(session.id),
    }
}

/// A session's timing as the session table keeps it.
enum Activity {
    Running(Arc<ActivityClock>),
    Parked { last: Instant },
}

/// A session as the session table keeps it.
pub struct SessionEntry {
    pub relay: ObjectId,
    client: SocketAddr,
    pub backend: Option<Backend>,
    started: Instant,
    activity: Activity,
}

impl SessionEntry {
    pub fn new(relay: ObjectId, client: SocketAddr, clock: Arc<ActivityClock>) -> SessionEntry {
        SessionEntry {
            relay,
            client,
            backend: None,
            started: clock.started(),
            activity: Activity::Running(clock),
        }
    }

    /// The session moved to the parking lot; its clock is dropped so that
    /// nothing small stays allocated per parked session.
    pub fn park(&mut self, last: Instant) {
        self.activity = Activity::Parked { last };
    }

    pub fn resume(&mut self, clock: Arc<ActivityClock>) {
        self.activity = Activity::Running(clock);
    }

    pub fn row(&self, id: u32, process: u32, pid: u32) -> SessionRow {
        let idle = match &self.activity {
            Activity::Running(clock) => clock.idle(),
            Activity::Parked { last } => last.elapsed(),
        };
        SessionRow {
            process,
            id,
            relay_id: self.relay,
            client: self.client,
            backend: self.backend.map(|b| b.addr),
            done: false,
            age_secs: self.started.elapsed().as_secs(),
            idle_secs: idle.as_secs(),
            pid,
            tag: None,
        }
    }
}
