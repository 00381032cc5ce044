//! One relay session from accept to close: register it, connect to a
//! backend (with retries over other hosts), relay the data, log the end
//! as `log connection` asks, and unregister. A session idle for a moment
//! is parked (see `park`) and resumed by a new task when data arrives.

use super::forward::connect_backend;
use super::park::ParkedSession;
use super::plan::RelayPlan;
use super::shared::{Backend, Shared};
use super::sockopt;
use crate::relay::tcp::pump::{pump, Ended};
use relayd_config::{ConnectionLog, ObjectId, ProtocolKind};
use relayd_proto::status::SessionRow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// When a running session last moved data, shared between its two
/// directions and the session table without a lock, and whether both
/// directions are at rest (waiting for data with nothing in flight), which
/// is when the session may be parked.
pub struct ActivityClock {
    started: Instant,
    /// Milliseconds after `started`.
    last_ms: AtomicU64,
    /// Directions waiting for data with nothing in flight.
    resting: AtomicU8,
}

impl ActivityClock {
    pub fn new() -> ActivityClock {
        Self::resumed(Instant::now(), Instant::now())
    }

    /// The clock of a session started at `started`, last active at `last`.
    pub fn resumed(started: Instant, last: Instant) -> ActivityClock {
        ActivityClock {
            started,
            last_ms: AtomicU64::new(last.saturating_duration_since(started).as_millis() as u64),
            resting: AtomicU8::new(0),
        }
    }

    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn last_active(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    pub fn idle(&self) -> Duration {
        self.last_active().elapsed()
    }

    /// A direction starts waiting for data with nothing in flight.
    pub fn rest(&self) {
        self.resting.fetch_add(1, Ordering::Relaxed);
    }

    /// A direction has data again.
    pub fn wake(&self) {
        self.resting.fetch_sub(1, Ordering::Relaxed);
    }

    /// Both directions wait for data and hold nothing.
    pub fn both_resting(&self) -> bool {
        self.resting.load(Ordering::Relaxed) >= 2
    }
}

/// A session's timing as the session table keeps it.
enum Activity {
    Running(Arc<ActivityClock>),
    Parked { last: Instant },
}

/// A session as the session table keeps it.
pub struct SessionEntry {
    relay: ObjectId,
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

/// Runs one accepted connection until it ends or is parked.
pub async fn run(
    shared: Arc<Shared>,
    plan: Arc<RelayPlan>,
    client: TcpStream,
    peer: SocketAddr,
    listen: SocketAddr,
) {
    let clock = Arc::new(ActivityClock::new());
    let id = shared.open_session(plan.id, peer, clock.clone());
    sockopt::apply_accepted(&client, &plan.tcp);
    if plan.kind == ProtocolKind::Http {
        // As relayd: the backend is chosen once the first request is read.
        let session = crate::relay::http::Accepted {
            id,
            plan,
            peer,
            listen,
            clock,
        };
        return crate::relay::http::relay(shared, session, client).await;
    }
    match connect_backend(&shared, &plan, id, &client, peer, listen).await {
        Ok((server, backend)) => {
            shared.session_connected(id, backend);
            let session = Connected {
                id,
                plan,
                peer,
                backend,
            };
            relay(shared, session, client, server, clock).await;
        }
        Err(why) => finish(&shared, &plan, id, peer, &Outcome::NoBackend(why)),
    }
}

/// Continues a parked session whose client or backend has sent something.
pub async fn resume(shared: Arc<Shared>, mut parked: ParkedSession) {
    if let Some(between) = parked.http.take() {
        return crate::relay::http::resume(shared, parked, between).await;
    }
    let ParkedSession {
        session,
        client,
        server,
        started,
        last,
        ..
    } = parked;
    let streams = TcpStream::from_std(client).and_then(|c| Ok((c, TcpStream::from_std(server)?)));
    match streams {
        Ok((client, server)) => {
            let clock = Arc::new(ActivityClock::resumed(started, last));
            shared.resume_session(session.id, clock.clone());
            relay(shared, session, client, server, clock).await;
        }
        Err(e) => {
            let outcome = Outcome::Relayed(session.backend.addr, Ended::ServerRead(e));
            finish(&shared, &session.plan, session.id, session.peer, &outcome);
        }
    }
}

/// A session connected to its backend: what it needs to go on after
/// being parked.
pub struct Connected {
    pub id: u32,
    pub plan: Arc<RelayPlan>,
    pub peer: SocketAddr,
    pub backend: Backend,
}

async fn relay(
    shared: Arc<Shared>,
    session: Connected,
    client: TcpStream,
    server: TcpStream,
    clock: Arc<ActivityClock>,
) {
    let ended = pump(&shared, &session.plan, &client, &server, &clock).await;
    let ended = match ended {
        Ended::Parked => match (client.into_std(), server.into_std()) {
            (Ok(client), Ok(server)) => {
                let parked = ParkedSession {
                    session,
                    client,
                    server,
                    started: clock.started(),
                    last: clock.last_active(),
                    http: None,
                };
                drop(clock);
                shared.park(parked);
                return;
            }
            (Err(e), _) | (_, Err(e)) => Ended::Park(e),
        },
        ended => ended,
    };
    let outcome = Outcome::Relayed(session.backend.addr, ended);
    finish(&shared, &session.plan, session.id, session.peer, &outcome);
}

/// Unregisters a session and logs its end.
pub fn finish(shared: &Shared, plan: &RelayPlan, id: u32, peer: SocketAddr, outcome: &Outcome) {
    shared.close_session(id);
    log_end(shared, plan, id, peer, outcome);
}

pub enum Outcome {
    Relayed(SocketAddr, Ended),
    NoBackend(String),
    /// An HTTP session that ended before it needed a backend.
    Unrouted(Ended),
}

fn log_end(shared: &Shared, plan: &RelayPlan, id: u32, peer: SocketAddr, outcome: &Outcome) {
    let error = match outcome {
        Outcome::Relayed(_, ended) | Outcome::Unrouted(ended) => ended.is_error(),
        Outcome::NoBackend(_) => true,
    };
    let info = match shared.connection_log() {
        Some(ConnectionLog::All) => true,
        Some(ConnectionLog::ErrorsOnly) => error,
        None => false,
    };
    // Formatting costs more than the rest of a short session's end.
    if !info && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let (backend, message) = match outcome {
        Outcome::Relayed(addr, ended) => (addr.to_string(), ended.to_string()),
        Outcome::NoBackend(why) => ("-".to_string(), why.clone()),
        Outcome::Unrouted(ended) => ("-".to_string(), ended.to_string()),
    };
    let text = format!(
        "relay {}, session {id} ({} active), {peer} -> {backend}, {message}",
        plan.name,
        shared.session_count()
    );
    if info {
        tracing::info!("{text}");
    } else {
        tracing::debug!("{text}");
    }
}
