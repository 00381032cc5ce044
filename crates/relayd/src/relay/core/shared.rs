//! The state one relay process shares between its sessions: host states
//! from the hce, enable/disable switches from the parent, the round-robin
//! positions and per-host session counts the scheduler needs, the table of
//! running sessions and the statistics counters.
//!
//! A relay process runs one single-threaded runtime, so the lock is never
//! contended; it only makes the state shareable with spawned tasks.

use super::clock::{ActivityClock, RelayBytes};
use super::end::{finish, Ended, Outcome};
use super::natlook::NatLook;
use super::park::{ParkedSession, ParkingLot};
use super::plan::{RelayPlan, TableTarget, Target};
use super::schedule::{self, Candidate, Request};
use super::session::SessionEntry;
use super::session_ids::SessionIds;
use super::stats::RelayCounters;
use crate::relay::http::pool::BackendPool;
use crate::relay::tcp::splice::PipePool;
use indexmap::IndexMap;
use relayd_config::{Check, ConnectionLog, ObjectId};
use relayd_proto::status::{HostState, SessionRow, Statistics};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// A backend picked for one connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    pub addr: SocketAddr,
    /// The table host, `None` for a fixed address or original destination.
    pub host: Option<ObjectId>,
}

/// A session's request for a socket bound to its client's address
/// (`transparent forward`), which only the parent may open.
pub struct BindAnyCall {
    pub relay: ObjectId,
    pub addr: SocketAddr,
    pub reply: oneshot::Sender<Result<OwnedFd, BindAnyError>>,
}

/// Why the parent's socket for a transparent connect did not come.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindAnyError {
    /// The relay process's message loop is gone.
    #[error("relay process is shutting down")]
    ShuttingDown,
    /// The request was dropped unanswered (a new configuration, an exit).
    #[error("no answer to the bind-any request")]
    Unanswered,
    /// The parent could not open the socket, in its words.
    #[error("{0}")]
    Refused(String),
    /// The parent's answer came without a descriptor.
    #[error("bind-any answer without a socket")]
    NoSocket,
}

pub struct Shared {
    pub instance: u32,
    bind_any: mpsc::UnboundedSender<BindAnyCall>,
    pub pid: u32,
    pub pipes: PipePool,
    /// Idle HTTP backend connections (`http { reuse }`).
    pub backends: BackendPool,
    pub lot: ParkingLot,
    /// `nat lookup` questions to the pfe and their answers.
    pub natlook: NatLook,
    /// Sessions were parked since the last sweep: freed task memory can
    /// go back to the system.
    parked_since_sweep: AtomicBool,
    session_ids: SessionIds,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    host_states: HashMap<ObjectId, HostState>,
    disabled_hosts: HashSet<ObjectId>,
    disabled_tables: HashSet<ObjectId>,
    /// Round-robin position per (relay, table).
    cursors: HashMap<(ObjectId, ObjectId), usize>,
    /// Connected sessions per table host, for least-states.
    active: HashMap<ObjectId, u32>,
    /// Dense, as the parking lot (`park.rs`): thousands of idle
    /// keep-alive sessions keep an entry here each.
    sessions: IndexMap<u32, SessionEntry>,
    counters: HashMap<ObjectId, RelayCounters>,
    /// Bytes per relay, shared with its sessions' clocks.
    bytes: HashMap<ObjectId, Arc<RelayBytes>>,
    connection_log: Option<ConnectionLog>,
    random: u64,
}

impl Shared {
    pub fn new(
        instance: u32,
        bind_any: mpsc::UnboundedSender<BindAnyCall>,
    ) -> std::io::Result<Shared> {
        let seed = Instant::now().elapsed().as_nanos() as u64
            ^ (u64::from(std::process::id()) << 32)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        Ok(Shared {
            instance,
            bind_any,
            pid: std::process::id(),
            pipes: PipePool::new(),
            backends: BackendPool::default(),
            lot: ParkingLot::new()?,
            natlook: NatLook::default(),
            parked_since_sweep: AtomicBool::new(false),
            session_ids: SessionIds::new(instance),
            state: Mutex::new(State {
                random: seed | 1,
                ..State::default()
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave this state half-updated in a way
        // that matters more than stopping the relay would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new configuration, whose relays have `plans`: switches and
    /// counters start over, as the parent's picture does; host states stay
    /// until the hce updates them; idle backend connections the new plans
    /// can use stay.
    pub fn reconfigure(&self, connection_log: Option<ConnectionLog>, plans: &[Arc<RelayPlan>]) {
        let mut state = self.state();
        state.disabled_hosts.clear();
        state.disabled_tables.clear();
        state.cursors.clear();
        state.counters.clear();
        state.bytes.clear();
        state.connection_log = connection_log;
        drop(state);
        self.backends.carry_over(plans);
    }

    pub fn connection_log(&self) -> Option<ConnectionLog> {
        self.state().connection_log
    }

    /// A host no longer up loses its idle backend connections.
    pub fn set_host_state(&self, host: ObjectId, host_state: HostState) {
        self.state().host_states.insert(host, host_state);
        if host_state != HostState::Up {
            self.backends.forget_hosts(&[host]);
        }
    }

    /// A host disabled loses its idle backend connections.
    pub fn set_host_enabled(&self, host: ObjectId, enabled: bool) {
        let mut state = self.state();
        if enabled {
            state.disabled_hosts.remove(&host);
        } else {
            state.disabled_hosts.insert(host);
            drop(state);
            self.backends.forget_hosts(&[host]);
        }
    }

    /// Whether a backend connection to `backend` may wait in the pool: its
    /// host is neither disabled nor known to be down. (A disabled table's
    /// hosts are forgotten where the relay knows its tables.)
    pub fn may_pool(&self, backend: Backend) -> bool {
        let Some(host) = backend.host else {
            return true;
        };
        let state = self.state();
        !state.disabled_hosts.contains(&host)
            && state
                .host_states
                .get(&host)
                .is_none_or(|s| *s == HostState::Up)
    }

    pub fn set_table_enabled(&self, table: ObjectId, enabled: bool) {
        let mut state = self.state();
        if enabled {
            state.disabled_tables.remove(&table);
        } else {
            state.disabled_tables.insert(table);
        }
    }

    /// Picks a backend among the relay's tables, skipping the hosts in
    /// `tried` (earlier failed attempts of the same session).
    pub fn choose(
        &self,
        plan: &RelayPlan,
        tables: &[TableTarget],
        client: SocketAddr,
        listen: SocketAddr,
        tried: &[ObjectId],
    ) -> Option<Backend> {
        let mut state = self.state();
        for target in tables {
            let table = &target.table;
            if table.disabled || state.disabled_tables.contains(&table.id) {
                continue;
            }
            let checked = table.check != Check::None;
            let candidates: Vec<Candidate> = table
                .hosts
                .iter()
                .map(|host| Candidate {
                    usable: !state.disabled_hosts.contains(&host.id)
                        && !tried.contains(&host.id)
                        && (!checked || state.host_states.get(&host.id) == Some(&HostState::Up)),
                    active_sessions: state.active.get(&host.id).copied().unwrap_or(0),
                })
                .collect();
            let request = Request {
                client: client.ip(),
                listen,
                key: target.key,
            };
            let mut random = state.random;
            let mut cursor = state
                .cursors
                .get(&(plan.id, table.id))
                .copied()
                .unwrap_or(0);
            let picked = schedule::pick(
                target.forward.mode,
                &candidates,
                &request,
                &mut cursor,
                |n| {
                    random ^= random << 13;
                    random ^= random >> 7;
                    random ^= random << 17;
                    (random % n.max(1) as u64) as usize
                },
            );
            state.random = random;
            state.cursors.insert((plan.id, table.id), cursor);
            if let Some(index) = picked {
                let host = &table.hosts[index];
                let port = table.port?;
                return Some(Backend {
                    addr: SocketAddr::new(host.addr, port),
                    host: Some(host.id),
                });
            }
        }
        None
    }

    /// The relay's targets in words, for the log.
    pub fn describe_target(plan: &RelayPlan) -> String {
        match &plan.target {
            Target::Address(addr) => addr.to_string(),
            Target::Tables(tables) | Target::OriginalDestination(tables) => tables
                .iter()
                .map(|t| format!("<{}>", t.table.name))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Registers a new session of `relay` and counts it.
    pub fn open_session(
        &self,
        relay: ObjectId,
        client: SocketAddr,
        clock: Arc<ActivityClock>,
    ) -> u32 {
        let id = self.session_ids.next();
        let mut state = self.state();
        state.counters.entry(relay).or_default().session_started();
        clock.count_into(state.bytes.entry(relay).or_default().clone());
        state
            .sessions
            .insert(id, SessionEntry::new(relay, client, clock));
        id
    }

    /// The session is connected to `backend`; a backend it had before (an
    /// HTTP session moved by the filter rules, or reconnecting after its
    /// backend closed) no longer counts it.
    pub fn session_connected(&self, id: u32, backend: Backend) {
        let mut state = self.state();
        let State {
            sessions, active, ..
        } = &mut *state;
        let Some(entry) = sessions.get_mut(&id) else {
            return;
        };
        if let Some(host) = entry.backend.and_then(|b| b.host) {
            if let Some(count) = active.get_mut(&host) {
                *count = count.saturating_sub(1);
            }
        }
        if let Some(host) = backend.host {
            *active.entry(host).or_default() += 1;
        }
        entry.backend = Some(backend);
    }

    pub fn close_session(&self, id: u32) {
        let mut state = self.state();
        if let Some(entry) = state.sessions.swap_remove(&id) {
            if let Some(host) = entry.backend.and_then(|b| b.host) {
                if let Some(count) = state.active.get_mut(&host) {
                    *count = count.saturating_sub(1);
                }
            }
        }
    }

    /// A socket bound to `addr` on any address, from the parent.
    pub async fn bind_any(
        &self,
        relay: ObjectId,
        addr: SocketAddr,
    ) -> Result<OwnedFd, BindAnyError> {
        let (reply, answer) = oneshot::channel();
        self.bind_any
            .send(BindAnyCall { relay, addr, reply })
            .map_err(|_| BindAnyError::ShuttingDown)?;
        answer.await.map_err(|_| BindAnyError::Unanswered)?
    }

    /// Moves a session at rest to the parking lot; a session that cannot
    /// be parked is closed.
    pub fn park(&self, parked: ParkedSession) {
        let (id, last) = (parked.session.id, parked.last);
        if let Err(failed) = self.lot.park(parked) {
            let (parked, e) = *failed;
            let s = &parked.session;
            let outcome = Outcome::Relayed(s.backend.addr, Ended::Park(e));
            finish(self, &s.plan, s.id, s.peer, &outcome);
            return;
        }
        if let Some(entry) = self.state().sessions.get_mut(&id) {
            entry.park(last);
        }
        self.parked_since_sweep.store(true, Ordering::Relaxed);
    }

    pub fn resume_session(&self, id: u32, clock: Arc<ActivityClock>) {
        let mut state = self.state();
        let State {
            sessions, bytes, ..
        } = &mut *state;
        if let Some(entry) = sessions.get_mut(&id) {
            clock.count_into(bytes.entry(entry.relay).or_default().clone());
            entry.resume(clock);
        }
    }

    /// Closes parked sessions past their timeout and gives memory freed by
    /// parking back to the system. Called every fraction of a second.
    pub fn sweep(&self) {
        for parked in self.lot.expired() {
            let s = &parked.session;
            let outcome = Outcome::Relayed(s.backend.addr, Ended::Timeout);
            finish(self, &s.plan, s.id, s.peer, &outcome);
        }
        if self.parked_since_sweep.swap(false, Ordering::Relaxed) {
            release_free_memory();
        }
        self.backends.sweep();
    }

    pub fn session_count(&self) -> usize {
        self.state().sessions.len()
    }

    /// `show sessions` rows of this process.
    pub fn session_rows(&self) -> Vec<SessionRow> {
        let state = self.state();
        let mut rows: Vec<SessionRow> = state
            .sessions
            .iter()
            .map(|(id, entry)| entry.row(*id, self.instance, self.pid))
            .collect();
        rows.sort_by_key(|row| row.id);
        rows
    }

    /// An HTTP relay sent the client an answer with `status` (the
    /// backend's or its own).
    pub fn http_answered(&self, relay: ObjectId, status: u16) {
        self.state()
            .counters
            .entry(relay)
            .or_default()
            .http_answered(status);
    }

    /// Closes one statistics interval for each relay in `relays`.
    pub fn tick_statistics(&self, relays: &[ObjectId], interval_secs: u64) -> Vec<Statistics> {
        let mut state = self.state();
        relays
            .iter()
            .map(|&relay| {
                let mut report = state.counters.entry(relay).or_default().tick(
                    relay,
                    self.instance,
                    interval_secs,
                );
                if let Some(bytes) = state.bytes.get(&relay) {
                    report.bytes_in = bytes.inbound.load(Ordering::Relaxed);
                    report.bytes_out = bytes.outbound.load(Ordering::Relaxed);
                }
                report
            })
            .collect()
    }
}

/// Returns the free pages of the heap to the system: the tasks of parked
/// sessions are freed in scattered places that plain `free` keeps.
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
