//! relay, the layer 7 engine; relayd runs `prefork` of them, each accepting
//! on its own SO_REUSEPORT copy of every relay's listening sockets.
//!
//! imsg peers: parent (config, listening sockets, enable/disable, session
//! lists; statistics out), hce and pfe (host states in), its own ca
//! instance (private key operations, once TLS exists).
//! Sandbox: chroot `/var/empty`, user `_relayd`, no capabilities,
//! `no_new_privs`. It never binds: the parent (root) opens the sockets and
//! passes them with SCM_RIGHTS.
//!
//! Module map: `core` (what every relay has: plans, listeners, sessions,
//! parking, backend choice and connection, the state the sessions share),
//! `tcp` (byte relays: splice, copy), `http` (HTTP/1.1, filter rules);
//! `dns` protocol relays are refused when the configuration loads.

mod core;
mod http;
mod tcp;

pub use plan::refuse_unsupported;

use self::core::shared::{BindAnyCall, BindAnyError, Shared};
use self::core::{accept, park, plan, sockopt};
use crate::child::{drain_peer, from_parent, peer_socket, terminated};
use plan::RelayPlan;
use relayd_config::{Config, IpProto};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelaySide, RelayToParent};
use relayd_proto::messages::{
    hce_relay, pfe_relay, relay_ca, BindAnyRequest, ListenSocket, PeerChannel,
};
use relayd_proto::status::HostStatus;
use relayd_proto::{ConfigAssembler, ImsgChannel, ImsgReader, ImsgWriter, ProcessKind, Received};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

/// How often parked sessions are checked for their timeout.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

struct Relay {
    instance: u32,
    parent: RelaySide,
    /// To the pfe: kept open for relayd's split of work (unused so far).
    pfe: Option<ImsgWriter<pfe_relay::RelayToPfe>>,
    /// To this instance's ca: key operations, once TLS exists.
    ca: Option<ImsgWriter<relay_ca::RelayToCa>>,
    assembler: ConfigAssembler,
    config: Config,
    plans: Vec<Arc<RelayPlan>>,
    engine: Arc<Shared>,
    /// Sockets of the running configuration, accepted on after `Start`.
    listeners: Vec<(ListenSocket, OwnedFd)>,
    /// Sockets received since the last `Reset`; they replace `listeners`
    /// when the new configuration is done.
    incoming: Vec<(ListenSocket, OwnedFd)>,
    accepting: Vec<JoinHandle<()>>,
    statistics: Interval,
    /// Bind-any requests sent to the parent, by request id.
    bind_any_pending: HashMap<u64, oneshot::Sender<Result<OwnedFd, BindAnyError>>>,
    next_bind_any: u64,
}

pub async fn run(instance: u32, parent: UnixStream) -> Result<(), String> {
    raise_descriptor_limit();
    let parent: RelaySide = ImsgChannel::new(parent).map_err(|e| format!("parent channel: {e}"))?;
    let (bind_any_tx, mut bind_any_calls) = mpsc::unbounded_channel();
    let mut relay = Relay {
        instance,
        parent,
        pfe: None,
        ca: None,
        assembler: ConfigAssembler::new(),
        config: Config::default(),
        plans: Vec::new(),
        engine: Arc::new(
            Shared::new(instance, bind_any_tx)
                .map_err(|e| format!("cannot create the parking lot: {e}"))?,
        ),
        listeners: Vec::new(),
        incoming: Vec::new(),
        accepting: Vec::new(),
        statistics: statistics_timer(&Config::default()),
        bind_any_pending: HashMap::new(),
        next_bind_any: 0,
    };
    tokio::spawn(park::watch(relay.engine.clone()));
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    relay.send_parent(&RelayToParent::Ready).await?;
    let stop = terminated();
    tokio::pin!(stop);
    loop {
        let received = tokio::select! {
            received = relay.parent.recv() => received,
            Some(call) = bind_any_calls.recv() => {
                relay.request_bind_any(call).await?;
                continue;
            }
            _ = sweep.tick() => {
                relay.engine.sweep();
                continue;
            }
            _ = relay.statistics.tick() => {
                relay.publish_statistics().await?;
                continue;
            }
            _ = &mut stop => {
                tracing::debug!("terminated by signal");
                return Ok(());
            }
        };
        let Some(received) = from_parent(received)? else {
            return Ok(());
        };
        if !relay.handle(received).await? {
            return Ok(());
        }
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

fn statistics_timer(config: &Config) -> Interval {
    let period = Duration::from_secs(u64::from(config.global.interval_secs.max(1)));
    let mut timer = interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

impl Relay {
    /// Handles one message from the parent; `false` means shut down.
    async fn handle(&mut self, received: Received<ParentToRelay>) -> Result<bool, String> {
        match received.msg {
            ParentToRelay::PeerChannel(peer) => self.add_peer(peer, received.fd)?,
            ParentToRelay::Reset => {
                self.assembler.reset();
                self.incoming.clear();
            }
            ParentToRelay::Config(part) => self.assembler.add(part),
            ParentToRelay::ListenSocket(socket) => match received.fd {
                Some(fd) => self.incoming.push((socket, fd)),
                None => {
                    return Err(format!(
                        "listening socket {} without a descriptor",
                        socket.addr
                    ))
                }
            },
            ParentToRelay::ConfigDone => {
                self.apply_config()?;
                self.send_parent(&RelayToParent::ConfigDone).await?;
            }
            ParentToRelay::Start => self.start_accepting()?,
            ParentToRelay::HostEnable(id) => self.engine.set_host_enabled(id, true),
            ParentToRelay::HostDisable(id) => self.engine.set_host_enabled(id, false),
            ParentToRelay::TableEnable(id) => self.engine.set_table_enabled(id, true),
            ParentToRelay::TableDisable(id) => self.engine.set_table_enabled(id, false),
            ParentToRelay::RelayFile(file) => {
                tracing::debug!(
                    "{:?} file for relay {}: TLS not implemented yet",
                    file.kind,
                    file.relay_id
                )
            }
            ParentToRelay::BindAnyResult(result) => {
                if let Some(reply) = self.bind_any_pending.remove(&result.request_id) {
                    let answer = match (result.error, received.fd) {
                        (None, Some(fd)) => Ok(fd),
                        (Some(e), _) => Err(BindAnyError::Refused(e)),
                        (None, None) => Err(BindAnyError::NoSocket),
                    };
                    let _ = reply.send(answer);
                }
            }
            ParentToRelay::ListSessions { request_id } => {
                for session in self.engine.session_rows() {
                    self.send_parent(&RelayToParent::Session {
                        request_id,
                        session,
                    })
                    .await?;
                }
                self.send_parent(&RelayToParent::SessionsEnd { request_id })
                    .await?
            }
            ParentToRelay::SetVerbose(level) => {
                crate::log::set_verbosity(u8::try_from(level).unwrap_or(u8::MAX))
            }
            ParentToRelay::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    /// Takes the assembled configuration: new plans, new listeners (the
    /// old ones close now; running sessions go on with their old plan).
    fn apply_config(&mut self) -> Result<(), String> {
        let config = self.assembler.finish();
        refuse_unsupported(&config)?;
        let plans = plan::plans(&config)?;
        for plan in &plans {
            if let Some(why) = sockopt::unsupported(&plan.tcp) {
                if self.instance == 0 {
                    tracing::warn!("relay {}: {why}", plan.name);
                }
            }
        }
        for task in self.accepting.drain(..) {
            task.abort();
        }
        self.engine.reconfigure(config.global.log.connection);
        self.statistics = statistics_timer(&config);
        self.plans = plans;
        self.config = config;
        self.listeners = std::mem::take(&mut self.incoming);
        Ok(())
    }

    fn start_accepting(&mut self) -> Result<(), String> {
        for (socket, fd) in self.listeners.drain(..) {
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
            let task = accept::start(self.engine.clone(), plan.clone(), socket.addr, fd)?;
            self.accepting.push(task);
        }
        tracing::debug!(
            "instance {} started, pfe {}, ca {}",
            self.instance,
            self.pfe.is_some(),
            self.ca.is_some()
        );
        Ok(())
    }

    async fn request_bind_any(&mut self, call: BindAnyCall) -> Result<(), String> {
        self.next_bind_any += 1;
        let request_id = self.next_bind_any;
        self.bind_any_pending.insert(request_id, call.reply);
        let request = BindAnyRequest {
            request_id,
            relay_id: call.relay,
            proto: IpProto::Tcp,
            addr: call.addr,
        };
        self.send_parent(&RelayToParent::BindAny(request)).await
    }

    async fn publish_statistics(&mut self) -> Result<(), String> {
        let relays: Vec<_> = self.plans.iter().map(|p| p.id).collect();
        let interval = u64::from(self.config.global.interval_secs.max(1));
        for stats in self.engine.tick_statistics(&relays, interval) {
            self.send_parent(&RelayToParent::Statistics(stats)).await?;
        }
        Ok(())
    }

    fn add_peer(&mut self, peer: PeerChannel, fd: Option<OwnedFd>) -> Result<(), String> {
        let socket = peer_socket(fd)?;
        let channel_error = |e: std::io::Error| format!("channel to {}: {e}", peer.peer);
        match peer.peer {
            ProcessKind::Hce => {
                let channel: hce_relay::RelaySide =
                    ImsgChannel::new(socket).map_err(channel_error)?;
                // Nothing flows from relay to hce: only the reader is kept.
                let (reader, _) = channel.split();
                tokio::spawn(follow_hce(reader, self.engine.clone()));
            }
            ProcessKind::Pfe => {
                let channel: pfe_relay::RelaySide =
                    ImsgChannel::new(socket).map_err(channel_error)?;
                let (reader, writer) = channel.split();
                tokio::spawn(follow_pfe(reader, self.engine.clone()));
                self.pfe = Some(writer);
            }
            ProcessKind::Ca => {
                let channel: relay_ca::RelaySide =
                    ImsgChannel::new(socket).map_err(channel_error)?;
                let (reader, writer) = channel.split();
                drain_peer(reader, format!("ca {}", peer.instance + 1));
                self.ca = Some(writer);
            }
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    async fn send_parent(&mut self, msg: &RelayToParent) -> Result<(), String> {
        self.parent
            .send(msg, None)
            .await
            .map_err(|e| format!("parent channel: {e}"))
    }
}

fn apply_host_status(engine: &Shared, status: HostStatus) {
    tracing::trace!("host {} is {}", status.host_id, status.state.as_str());
    engine.set_host_state(status.host_id, status.state);
}

/// Host states from the hce, for the scheduler.
async fn follow_hce(mut reader: ImsgReader<hce_relay::HceToRelay>, engine: Arc<Shared>) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => match received.msg {
                hce_relay::HceToRelay::HostStatus(status) => apply_host_status(&engine, status),
                hce_relay::HceToRelay::Sync => {}
            },
            Ok(None) => return tracing::debug!("channel from hce closed"),
            Err(e) => return tracing::warn!("channel from hce: {e}"),
        }
    }
}

/// The pfe may pass host states on too (relayd's path); same handling.
async fn follow_pfe(mut reader: ImsgReader<pfe_relay::PfeToRelay>, engine: Arc<Shared>) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => match received.msg {
                pfe_relay::PfeToRelay::HostStatus(status) => apply_host_status(&engine, status),
                pfe_relay::PfeToRelay::Sync => {}
            },
            Ok(None) => return tracing::debug!("channel from pfe closed"),
            Err(e) => return tracing::warn!("channel from pfe: {e}"),
        }
    }
}
