//! relay, the layer 7 engine; relayd runs `prefork` of them, each accepting
//! on its own SO_REUSEPORT copy of every relay's listening sockets.
//!
//! imsg peers: parent, hce, pfe, ca N.
//! - parent: configuration, listening sockets, enable/disable, bind-any
//!   sockets, session list requests, drain in; statistics, session lists,
//!   bind-any requests and `Drained` out.
//! - hce: host states in, nothing out.
//! - pfe: `nat lookup` questions out (a dns relay's redirected datagram),
//!   their answers from conntrack in (`core/natlook`).
//! - ca N (its own instance): signatures for TLS handshakes (`signer`): the
//!   relay holds certificates and public keys, never a private key.
//!
//! Sandbox: chroot, unprivileged user, no capabilities, no_new_privs, seccomp, landlock.
//! (`sandbox`: the calls of `sandbox/calls/relay.rs`, no files). It
//! never binds: the parent (root) opens the sockets and passes them with
//! SCM_RIGHTS, those of a new configuration before its `ConfigDone`; the
//! relay accepts on them from `Start` on and keeps the old ones until then.
//!
//! Module map: `core` (what every relay has: plans, listeners, sessions,
//! parking, backend choice and connection, the state the sessions share),
//! `tcp` (byte relays: splice, copy), `http` (HTTP/1.1, filter rules),
//! `dns` (UDP queries with their IDs replaced, a bounded pending table).

mod core;
mod dns;
mod http;
mod signer;
mod tcp;

pub use plan::refuse_unsupported;

/// The warnings of every TLS relay's `tls` options, or what rustls cannot
/// honour (relayd -n and every load).
pub fn tls_warnings(
    config: &Config,
) -> Result<Vec<relayd_tls::Warning>, Vec<relayd_tls::OptionError>> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for relay in &config.relays {
        match core::tls::settings(config, relay) {
            Ok(Some(settings)) => warnings.extend(settings.warnings),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        warnings.extend(core::tls::inspection_warning(config, relay));
    }
    // Relays sharing a protocol would say it once each.
    warnings.dedup();
    errors.dedup();
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

use self::core::accept::ListenerError;
use self::core::shared::{BindAnyCall, BindAnyError, Shared};
use self::core::tls::{self as relay_tls, ReceivedFile};
use self::core::{accept, park, plan, sockopt};
use crate::engine::{
    open_peer, ChildError, ChildStart, Context, Engine, EngineError, LinkError, PeerError, Periodic,
};
use crate::proc::ProcId;
use plan::{ProtocolPlan, RelayPlan};
use relayd_config::{Config, IpProto};
use relayd_proto::messages::hce_relay::{HceToRelay, RelayHceChannel};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::pfe_relay::{PfeToRelay, RelayPfeChannel};
use relayd_proto::messages::relay_ca::RelayCaChannel;
use relayd_proto::messages::{BindAnyRequest, ListenSocket, Refusal};
use relayd_proto::status::{HostStatus, HttpReuse};
use relayd_proto::{Correlator, Delivery, ImsgReader, ProcessKind};
use relayd_tls::tickets::{SharedTicketer, TicketKey, TicketKeySet};
use signer::CaSigner;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often parked sessions are checked for their timeout.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);
/// How long a session waits for the parent's bind-any socket.
const BIND_ANY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a relay process stops.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot create the parking lot: {0}")]
    ParkingLot(std::io::Error),
    /// Accepting on a listening socket of the configuration failed.
    #[error(transparent)]
    Listener(#[from] ListenerError),
}

impl From<LinkError> for RelayError {
    fn from(e: LinkError) -> Self {
        RelayError::Engine(e.into())
    }
}

impl From<PeerError> for RelayError {
    fn from(e: PeerError) -> Self {
        RelayError::Engine(e.into())
    }
}

/// What a bind-any request gets: the socket, or why not.
type BindAnyAnswer = Result<OwnedFd, BindAnyError>;

/// A configuration checked and planned, with its listening sockets.
struct PreparedRelays {
    config: Config,
    plans: Vec<Arc<RelayPlan>>,
    listeners: Vec<(ListenSocket, OwnedFd)>,
}

struct Relay {
    instance: u32,
    /// Signatures by this instance's ca, for every TLS key.
    signer: Arc<CaSigner>,
    /// TLS files of the configuration being sent, until it is prepared.
    files: Vec<ReceivedFile>,
    /// Session ticket keys from the parent, shared by every TLS listener.
    tickets: Arc<SharedTicketer>,
    config: Config,
    plans: Vec<Arc<RelayPlan>>,
    shared: Arc<Shared>,
    /// Sockets of the configuration being sent, until it is prepared.
    incoming: Vec<(ListenSocket, OwnedFd)>,
    /// A socket message of that configuration came without its socket.
    missing_descriptor: Option<String>,
    accepting: Vec<JoinHandle<()>>,
    statistics: Periodic,
    sweep: Periodic,
    /// Bind-any requests the parent has not answered yet.
    bind_any: Correlator<BindAnyAnswer>,
    /// Draining: whether the parent was told the last session ended.
    draining: Option<bool>,
}

/// The relay's entry in the process table.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    raise_descriptor_limit();
    bound_malloc_arenas();
    start.run(|cx: &Context<Relay>| {
        let instance = cx.id().instance();
        let shared = Arc::new(Shared::new(instance, cx.events()).map_err(RelayError::ParkingLot)?);
        tokio::spawn(park::watch(shared.clone()));
        Ok(Relay {
            instance,
            signer: CaSigner::new(),
            files: Vec::new(),
            tickets: Arc::new(SharedTicketer::new(&TicketKeySet::default())),
            config: Config::default(),
            plans: Vec::new(),
            shared,
            incoming: Vec::new(),
            missing_descriptor: None,
            accepting: Vec::new(),
            statistics: statistics_timer(&Config::default()),
            sweep: Periodic::due_now(SWEEP_INTERVAL),
            bind_any: Correlator::new(),
            draining: None,
        })
    })
}

/// TLS handshakes sign on tokio's blocking pool: the first allocation of
/// a new thread makes glibc pick a malloc arena, and without a fixed limit
/// it counts the CPUs by opening /sys/devices/system/cpu/online, which the
/// sandbox forbids (the relay is killed by SIGSYS). A fixed limit, set
/// before the sandbox, keeps malloc from looking.
fn bound_malloc_arenas() {
    const ARENAS: libc::c_int = 4;
    // SAFETY: mallopt changes a malloc tunable; no memory is involved, and
    // no other thread exists yet.
    if unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENAS) } != 1 {
        tracing::warn!("cannot limit malloc arenas to {ARENAS}");
    }
}

/// Every session holds two sockets (and pipes while data moves): use the
/// whole hard limit the parent left us.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the descriptor limit to {hard}: {e}");
            }
        }
    }
}

fn statistics_timer(config: &Config) -> Periodic {
    Periodic::new(Duration::from_secs(u64::from(
        config.global.interval_secs.max(1),
    )))
}

impl Engine for Relay {
    type Message = ParentToRelay;
    type Report = RelayToParent;
    type Event = BindAnyCall;
    type Prepared = PreparedRelays;
    type Error = RelayError;

    fn reset(&mut self) {
        self.incoming.clear();
        self.files.clear();
        self.missing_descriptor = None;
    }

    /// Plans the relays; nothing runs differently until the commit.
    fn prepare(&mut self, config: Config) -> Result<PreparedRelays, Refusal> {
        if let Some(what) = self.missing_descriptor.take() {
            return Err(Refusal::MissingDescriptor { what });
        }
        let refused = |e: &dyn std::fmt::Display| Refusal::Relays {
            reason: e.to_string(),
        };
        refuse_unsupported(&config).map_err(|e| refused(&e))?;
        let files = std::mem::take(&mut self.files);
        let signer: Arc<dyn relayd_tls::sign::KeySigner> = self.signer.clone();
        let mut plans = Vec::new();
        for relay in &config.relays {
            let mut plan = plan::RelayPlan::new(&config, relay).map_err(|e| refused(&e))?;
            plan.tls = relay_tls::plan(&config, relay, &files, &signer, &self.tickets)
                .map_err(|e| refused(&e))?;
            if let (Some(backend), 0) = (&plan.tls.backend, self.instance) {
                let mode = backend.verification_mode().describe();
                tracing::info!("relay {}: forward with tls: {mode}", plan.name);
            }
            plans.push(Arc::new(plan));
        }
        for plan in &plans {
            if let Some(why) = sockopt::unsupported(&plan.tcp) {
                if self.instance == 0 {
                    tracing::warn!("relay {}: {why}", plan.name);
                }
            }
        }
        Ok(PreparedRelays {
            config,
            plans,
            listeners: std::mem::take(&mut self.incoming),
        })
    }

    /// The new plans and listeners replace the old: this process's copies
    /// of the old sockets close now (a socket the new configuration has
    /// too is the same socket, which the parent holds open, so what waits
    /// in its queue is accepted here next), running sessions go on with
    /// their old plan.
    async fn commit(
        &mut self,
        prepared: PreparedRelays,
        _cx: &Context<Self>,
    ) -> Result<(), RelayError> {
        for task in self.accepting.drain(..) {
            task.abort();
        }
        let config = prepared.config;
        let plans = prepared.plans;
        self.shared
            .reconfigure(config.global.log.connection, &plans);
        self.statistics = statistics_timer(&config);
        self.plans = plans;
        self.config = config;
        self.start_accepting(prepared.listeners)
    }

    async fn on_message(
        &mut self,
        message: ParentToRelay,
        fd: Option<OwnedFd>,
        cx: &Context<Self>,
    ) -> Result<(), RelayError> {
        match message {
            ParentToRelay::ListenSocket(socket) => match fd {
                Some(fd) => self.incoming.push((socket, fd)),
                None => {
                    let what = format!("listening socket {}", socket.addr);
                    self.missing_descriptor.get_or_insert(what);
                }
            },
            ParentToRelay::HostEnable(id) => self.shared.set_host_enabled(id, true),
            ParentToRelay::HostDisable(id) => self.shared.set_host_enabled(id, false),
            ParentToRelay::TableEnable(id) => self.shared.set_table_enabled(id, true),
            ParentToRelay::TableDisable(id) => {
                self.shared.set_table_enabled(id, false);
                self.shared.backends.forget_hosts(&self.hosts_of_table(id));
            }
            ParentToRelay::RelayFile(file) => match fd {
                Some(fd) => {
                    let contents = read_file(fd);
                    self.files.push(ReceivedFile { file, contents });
                }
                None => {
                    let what = format!("{} {}", file.kind, file.path);
                    self.missing_descriptor.get_or_insert(what);
                }
            },
            ParentToRelay::TicketKeys(keys) => self.tickets.update(&ticket_keys(keys)),
            ParentToRelay::BindAnyResult(result) => {
                let answer = match (result.error, fd) {
                    (None, Some(fd)) => Ok(fd),
                    (Some(e), _) => Err(BindAnyError::Refused(e)),
                    (None, None) => Err(BindAnyError::NoSocket),
                };
                if self.bind_any.answer(result.request_id, answer) == Delivery::Discarded {
                    tracing::debug!("bind-any answer {} came too late", result.request_id);
                }
            }
            ParentToRelay::ListSessions { request_id } => {
                for session in self.shared.session_rows() {
                    cx.report(RelayToParent::Session {
                        request_id,
                        session,
                    })?;
                }
                cx.report(RelayToParent::SessionsEnd { request_id })?;
            }
            ParentToRelay::Drain => {
                for task in self.accepting.drain(..) {
                    task.abort();
                }
                tracing::debug!(
                    "instance {} draining: {} sessions open",
                    self.instance,
                    self.shared.session_count()
                );
                self.draining = Some(false);
                self.report_drained(cx)?;
            }
        }
        Ok(())
    }

    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        _cx: &Context<Self>,
    ) -> Result<(), RelayError> {
        match peer.kind {
            ProcessKind::Hce => {
                let channel: RelayHceChannel = open_peer(peer, socket)?;
                // Nothing flows from relay to hce: only the reader is kept.
                tokio::spawn(follow_hce(channel.split().0, self.shared.clone()));
            }
            ProcessKind::Pfe => {
                let channel: RelayPfeChannel = open_peer(peer, socket)?;
                let (reader, writer) = channel.split();
                self.shared.natlook.connect(writer.into_sender().0);
                tokio::spawn(follow_pfe(reader, self.shared.clone()));
            }
            ProcessKind::Ca => {
                let channel: RelayCaChannel = open_peer(peer, socket)?;
                let (reader, writer) = channel.split();
                let (sender, _writer_task) = writer.into_sender();
                self.signer.connect(sender, reader);
            }
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    /// A session needs a socket only the parent may open.
    async fn on_event(&mut self, call: BindAnyCall, cx: &Context<Self>) -> Result<(), RelayError> {
        let (request_id, pending) = self.bind_any.register();
        cx.report(RelayToParent::BindAny(BindAnyRequest {
            request_id,
            relay_id: call.relay,
            proto: IpProto::Tcp,
            addr: call.addr,
        }))?;
        let pending = pending.with_deadline(std::time::Instant::now() + BIND_ANY_TIMEOUT);
        tokio::spawn(async move {
            let answer = pending.wait().await.unwrap_or_else(|e| {
                tracing::debug!("bind-any request {request_id}: {e}");
                Err(BindAnyError::Unanswered)
            });
            let _ = call.reply.send(answer);
        });
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.sweep.next().min(self.statistics.next()))
    }

    async fn on_timer(&mut self, cx: &Context<Self>) -> Result<(), RelayError> {
        let now = Instant::now();
        if self.sweep.tick(now) {
            self.shared.sweep();
            self.report_drained(cx)?;
        }
        if self.statistics.tick(now) {
            self.publish_statistics(cx)?;
        }
        Ok(())
    }
}

impl Relay {
    fn start_accepting(
        &mut self,
        listeners: Vec<(ListenSocket, OwnedFd)>,
    ) -> Result<(), RelayError> {
        for (socket, fd) in listeners {
            let Some(plan) = self.plans.iter().find(|p| p.id == socket.relay_id) else {
                tracing::warn!("listening socket {} for an unknown relay", socket.addr);
                continue;
            };
            tracing::debug!(
                "relay {}: accepting on {}, forwarding to {}",
                plan.name,
                socket.addr,
                Shared::describe_target(plan)
            );
            let tls = plan.tls.server(socket.index);
            let task = accept::start(self.shared.clone(), plan.clone(), socket.addr, fd, tls)?;
            self.accepting.push(task);
        }
        tracing::debug!("instance {} started", self.instance);
        Ok(())
    }

    /// Tells the parent, once, that a drain left no session here.
    fn report_drained(&mut self, cx: &Context<Self>) -> Result<(), RelayError> {
        if self.draining == Some(false) && self.shared.session_count() == 0 {
            self.draining = Some(true);
            cx.report(RelayToParent::Drained)?;
        }
        Ok(())
    }

    /// The hosts of table `id` in the running configuration.
    fn hosts_of_table(&self, id: relayd_config::ObjectId) -> Vec<relayd_config::ObjectId> {
        self.config
            .tables
            .iter()
            .filter(|t| t.id == id)
            .flat_map(|t| t.hosts.iter().map(|h| h.id))
            .collect()
    }

    fn publish_statistics(&mut self, cx: &Context<Self>) -> Result<(), RelayError> {
        let relays: Vec<_> = self.plans.iter().map(|p| p.id).collect();
        let interval = u64::from(self.config.global.interval_secs.max(1));
        for (mut stats, plan) in self
            .shared
            .tick_statistics(&relays, interval)
            .into_iter()
            .zip(&self.plans)
        {
            match &plan.protocol {
                ProtocolPlan::Dns(dns) => stats.dns = Some(dns.drops()),
                ProtocolPlan::Http(http) if http.options.reuse => {
                    let figures = self.shared.backends.figures(plan.id);
                    stats.http = Some(HttpReuse {
                        idle: figures.idle,
                        reused: figures.reused,
                    });
                }
                _ => {}
            }
            cx.report(RelayToParent::Statistics(stats))?;
        }
        Ok(())
    }
}

/// The parent's ticket keys as the ticketer takes them.
fn ticket_keys(keys: relayd_proto::messages::TicketKeys) -> TicketKeySet {
    TicketKeySet {
        keys: keys
            .keys
            .into_iter()
            .map(|k| TicketKey {
                name: k.name,
                secret: k.secret,
                created: k.created,
            })
            .collect(),
    }
}

/// A TLS file the parent opened for this relay (a certificate, an OCSP
/// staple): small, read at once.
fn read_file(fd: OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut contents = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut contents)?;
    Ok(contents)
}

fn apply_host_status(shared: &Shared, status: HostStatus) {
    tracing::trace!("host {} is {}", status.host_id, status.state.as_str());
    shared.set_host_state(status.host_id, status.state);
}

/// Host states from the hce, for the scheduler.
async fn follow_hce(mut reader: ImsgReader<HceToRelay>, shared: Arc<Shared>) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => match received.msg {
                HceToRelay::HostStatus(status) => apply_host_status(&shared, status),
                HceToRelay::Sync => {}
            },
            Ok(None) => return tracing::debug!("channel from hce closed"),
            Err(e) => return tracing::warn!("channel from hce: {e}"),
        }
    }
}

/// The pfe's answers to nat lookups, for the queries waiting on them.
async fn follow_pfe(mut reader: ImsgReader<PfeToRelay>, shared: Arc<Shared>) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => match received.msg {
                PfeToRelay::NatLook(answer) => shared.natlook.answer(answer),
            },
            Ok(None) => return tracing::debug!("channel from pfe closed"),
            Err(e) => return tracing::warn!("channel from pfe: {e}"),
        }
    }
}
