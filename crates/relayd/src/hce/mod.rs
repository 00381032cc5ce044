//! hce, the host check engine: checks every host of every table and
//! reports host states to the parent (which mirrors them for relayctl and
//! `monitor`), the pfe and the relays.
//!
//! imsg peers: parent (config, enable/disable, poll, script results; host
//! states back), pfe and every relay (host states out).
//! Sandbox: chroot `/var/empty`, user `_relayd`, no capabilities,
//! `no_new_privs`. Its raw ICMP sockets are opened by the parent (root) and
//! passed in, so it needs no CAP_NET_RAW; `check script` runs in the parent,
//! which is not chrooted, at the hce's request.
//!
//! Layout: [`rounds`] says when each table is due and runs its checks,
//! [`hosts`] turns results into host states (retry, parent, availability);
//! this file wires them to the channels. The parent gets every host status
//! (its counters change at every check); the pfe and the relays only state
//! changes (and enable/disable resets). All three get `Sync` after a round
//! or a switch that changed some state.

mod hosts;
mod rounds;

use crate::child::{from_parent, peer_socket, terminated};
use hosts::HostBook;
use relayd_check::{HostError, IcmpPinger, IcmpSockets, Outcome};
use relayd_config::{Check, Config, ObjectId};
use relayd_proto::messages::parent_hce::{HceSide, HceToParent, ParentToHce};
use relayd_proto::messages::{
    hce_pfe, hce_relay, IcmpFamily, PeerChannel, ScriptRequest, ScriptResult,
};
use relayd_proto::status::HostStatus;
use relayd_proto::{ConfigAssembler, ImsgChannel, ProcessKind, Received};
use rounds::{RoundEvent, RoundPlan, Scheduler};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The engine's state between messages.
struct Hce {
    parent: HceSide,
    pfe: Option<hce_pfe::HceSide>,
    relays: Vec<hce_relay::HceSide>,
    assembler: ConfigAssembler,
    book: HostBook,
    scheduler: Scheduler,
    /// Checks run between `Start` and the next configuration.
    started: bool,
    /// Raw ICMP sockets from the parent, until the pinger takes them over.
    icmp_sockets: IcmpSockets,
    icmp: Option<Arc<IcmpPinger>>,
    /// When each host's running script was asked for, to log its duration.
    scripts_started: HashMap<ObjectId, Instant>,
    /// A state changed since the last `Sync`: rounds where nothing changed
    /// send none, so thousands of hosts in many tables cost no messages.
    unsynced: bool,
}

pub async fn run(parent: UnixStream) -> Result<(), String> {
    raise_descriptor_limit();
    let parent: HceSide = ImsgChannel::new(parent).map_err(|e| format!("parent channel: {e}"))?;
    let (round_events, mut rounds) = mpsc::unbounded_channel();
    let mut hce = Hce {
        parent,
        pfe: None,
        relays: Vec::new(),
        assembler: ConfigAssembler::new(),
        book: HostBook::default(),
        scheduler: Scheduler::new(round_events),
        started: false,
        icmp_sockets: IcmpSockets::default(),
        icmp: None,
        scripts_started: HashMap::new(),
        unsynced: false,
    };
    hce.send_parent(&HceToParent::Ready).await?;
    let stop = terminated();
    tokio::pin!(stop);
    loop {
        let next_due = hce.scheduler.next_due().filter(|_| hce.started);
        tokio::select! {
            received = hce.parent.recv() => {
                let Some(received) = from_parent(received)? else {
                    return Ok(());
                };
                if !hce.handle(received).await? {
                    return Ok(());
                }
            },
            Some(event) = rounds.recv() => hce.round_event(event).await?,
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)),
                if next_due.is_some() => hce.launch_due_rounds().await?,
            _ = &mut stop => {
                tracing::debug!("terminated by signal");
                return Ok(());
            }
        }
    }
}

/// Each check holds a socket while it runs: with thousands of hosts the
/// default soft limit of 1024 descriptors is too low. Raising the soft
/// limit up to the hard one needs no privilege.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the descriptor limit to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the descriptor limit: {e}"),
    }
}

impl Hce {
    /// Handles one message from the parent; `false` means shut down.
    async fn handle(&mut self, received: Received<ParentToHce>) -> Result<bool, String> {
        match received.msg {
            ParentToHce::PeerChannel(peer) => self.add_peer(peer, received.fd)?,
            ParentToHce::Reset => self.assembler.reset(),
            ParentToHce::Config(part) => self.assembler.add(part),
            ParentToHce::ConfigDone => {
                self.apply_config();
                self.send_parent(&HceToParent::ConfigDone).await?;
            }
            ParentToHce::Start => self.start().await?,
            ParentToHce::HostEnable(id) => {
                if let Some(status) = self.book.enable(id) {
                    self.publish_everywhere(status).await?;
                    self.sync().await?;
                } else {
                    tracing::warn!("no host with id {id}");
                }
            }
            ParentToHce::HostDisable(id) => {
                if let Some(status) = self.book.disable(id) {
                    self.publish_everywhere(status).await?;
                    self.sync().await?;
                } else {
                    tracing::warn!("no host with id {id}");
                }
            }
            ParentToHce::TableEnable(id) => self.switch_table(id, true).await?,
            ParentToHce::TableDisable(id) => self.switch_table(id, false).await?,
            ParentToHce::Poll => {
                tracing::debug!("poll: checking every table now");
                self.scheduler.all_due_now();
            }
            ParentToHce::SetVerbose(level) => {
                crate::log::set_verbosity(u8::try_from(level).unwrap_or(u8::MAX))
            }
            ParentToHce::ScriptResult(result) => self.script_result(result).await?,
            ParentToHce::IcmpSocket(family) => match received.fd {
                Some(fd) => match family {
                    IcmpFamily::V4 => self.icmp_sockets.v4 = Some(fd),
                    IcmpFamily::V6 => self.icmp_sockets.v6 = Some(fd),
                },
                None => tracing::warn!("{family:?} icmp socket message without a descriptor"),
            },
            ParentToHce::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    fn add_peer(&mut self, peer: PeerChannel, fd: Option<OwnedFd>) -> Result<(), String> {
        let socket = peer_socket(fd)?;
        let channel_error = |e: std::io::Error| format!("channel to {}: {e}", peer.peer);
        match peer.peer {
            ProcessKind::Pfe => self.pfe = Some(ImsgChannel::new(socket).map_err(channel_error)?),
            ProcessKind::Relay => self
                .relays
                .push(ImsgChannel::new(socket).map_err(channel_error)?),
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    /// A new configuration replaces the hosts; checks wait for `Start`.
    fn apply_config(&mut self) {
        let config: Config = self.assembler.finish();
        self.scheduler.stop_all();
        self.scripts_started.clear();
        self.started = false;
        self.book = HostBook::new(&config);
        tracing::debug!(
            "configuration applied: {} tables, {} hosts",
            config.tables.len(),
            self.book.len()
        );
    }

    async fn start(&mut self) -> Result<(), String> {
        if self.icmp.is_none() {
            let sockets = std::mem::take(&mut self.icmp_sockets);
            if sockets.v4.is_some() || sockets.v6.is_some() {
                match IcmpPinger::new(sockets) {
                    Ok(pinger) => self.icmp = Some(Arc::new(pinger)),
                    Err(e) => tracing::warn!("icmp checks unavailable: {e}"),
                }
            }
        }
        let checked: Vec<(ObjectId, Duration)> = self
            .book
            .tables()
            .filter(|t| !t.disabled && t.check != Check::None)
            .map(|t| (t.id, Duration::from_secs(u64::from(t.interval_secs))))
            .collect();
        tracing::info!(
            "checking {} tables, {} hosts{}",
            checked.len(),
            self.book.len(),
            if self.icmp.is_some() {
                ""
            } else {
                " (no icmp sockets)"
            }
        );
        self.scheduler.set_tables(checked);
        self.started = true;
        // Every engine starts from the full picture, changed or not.
        self.unsynced = true;
        for status in self.book.statuses() {
            self.publish_everywhere(status).await?;
        }
        self.sync().await
    }

    async fn switch_table(&mut self, id: ObjectId, enable: bool) -> Result<(), String> {
        let Some(table) = self.book.table(id) else {
            tracing::warn!("no table with id {id}");
            return Ok(());
        };
        let interval = Duration::from_secs(u64::from(table.interval_secs));
        let checked = table.check != Check::None;
        if enable && checked {
            self.scheduler.add_table(id, interval);
        } else {
            self.scheduler.remove_table(id);
        }
        for status in self.book.switch_table(id, enable) {
            self.publish_everywhere(status).await?;
        }
        self.sync().await
    }

    /// Starts a round of every table that is due.
    async fn launch_due_rounds(&mut self) -> Result<(), String> {
        for table_id in self.scheduler.due(Instant::now()) {
            let Some(round) = self.scheduler.begin_round(table_id) else {
                continue;
            };
            let Some(start) = self.book.start_round(table_id) else {
                continue;
            };
            for status in start.timed_out {
                self.send_parent(&HceToParent::HostStatus(status)).await?;
            }
            if let Check::Script { path } = &start.check {
                let timeout_ms = u32::try_from(start.timeout.as_millis()).unwrap_or(u32::MAX);
                for (host_id, _) in &start.targets {
                    self.request_script(*host_id, table_id, path, timeout_ms)
                        .await?;
                }
                continue;
            }
            self.scheduler.spawn_round(RoundPlan {
                round,
                table_id,
                check: Arc::new(start.check),
                timeout: start.timeout,
                targets: start.targets,
                icmp: self.icmp.clone(),
            });
        }
        Ok(())
    }

    async fn round_event(&mut self, event: RoundEvent) -> Result<(), String> {
        match event {
            RoundEvent::Checked {
                round,
                table_id,
                host_id,
                outcome,
            } => {
                if self.scheduler.is_current(table_id, round) {
                    self.record(host_id, &outcome).await?;
                }
            }
            RoundEvent::Finished { round, table_id } => {
                if let Some(took) = self.scheduler.finished(table_id, round) {
                    let name = self.book.table(table_id).map_or("?", |t| t.name.as_str());
                    tracing::debug!("table {name}: round done in {}ms", took.as_millis());
                    self.sync().await?;
                }
            }
        }
        Ok(())
    }

    /// Applies a result and tells who needs to know.
    async fn record(&mut self, host_id: ObjectId, outcome: &Outcome) -> Result<(), String> {
        for recorded in self.book.record(host_id, outcome) {
            if recorded.transition.changed() {
                self.publish_everywhere(recorded.status).await?;
            } else {
                self.send_parent(&HceToParent::HostStatus(recorded.status))
                    .await?;
            }
        }
        Ok(())
    }

    async fn request_script(
        &mut self,
        host_id: ObjectId,
        table_id: ObjectId,
        path: &str,
        timeout_ms: u32,
    ) -> Result<(), String> {
        let Some(host_name) = self.book.host_name(host_id) else {
            return Ok(());
        };
        let request = ScriptRequest {
            host_id,
            table_id,
            path: path.to_string(),
            host_name: host_name.to_string(),
            timeout_ms,
        };
        self.scripts_started.insert(host_id, Instant::now());
        self.send_parent(&HceToParent::RunScript(request)).await
    }

    /// The parent ran a host's script: a positive exit status means up,
    /// zero down, -1 that it could not run or was killed at the timeout.
    async fn script_result(&mut self, result: ScriptResult) -> Result<(), String> {
        if !self.started || !self.book.contains(result.host_id) {
            return Ok(());
        }
        let elapsed = self
            .scripts_started
            .remove(&result.host_id)
            .map(|started| started.elapsed())
            .unwrap_or_default();
        let outcome = match result.retval {
            code if code > 0 => Outcome::up(HostError::ScriptOk, elapsed),
            0 => Outcome::down(HostError::ScriptFail, elapsed),
            _ => Outcome::down(HostError::ScriptTimeout, elapsed),
        };
        self.record(result.host_id, &outcome).await?;
        self.sync().await
    }

    /// Tells the parent, the pfe and the relays that the states sent since
    /// the last `Sync` are complete (a round is over), if any changed.
    async fn sync(&mut self) -> Result<(), String> {
        if !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        self.send_parent(&HceToParent::Sync).await?;
        if let Some(pfe) = &mut self.pfe {
            if let Err(e) = pfe.send(&hce_pfe::HceToPfe::Sync, None).await {
                tracing::warn!("channel to pfe: {e}");
            }
        }
        for relay in &mut self.relays {
            if let Err(e) = relay.send(&hce_relay::HceToRelay::Sync, None).await {
                tracing::warn!("channel to a relay: {e}");
            }
        }
        Ok(())
    }

    /// Sends a host state to the parent, the pfe and every relay.
    async fn publish_everywhere(&mut self, status: HostStatus) -> Result<(), String> {
        self.unsynced = true;
        self.send_parent(&HceToParent::HostStatus(status.clone()))
            .await?;
        if let Some(pfe) = &mut self.pfe {
            if let Err(e) = pfe
                .send(&hce_pfe::HceToPfe::HostStatus(status.clone()), None)
                .await
            {
                tracing::warn!("channel to pfe: {e}");
            }
        }
        for relay in &mut self.relays {
            if let Err(e) = relay
                .send(&hce_relay::HceToRelay::HostStatus(status.clone()), None)
                .await
            {
                tracing::warn!("channel to a relay: {e}");
            }
        }
        Ok(())
    }

    async fn send_parent(&mut self, msg: &HceToParent) -> Result<(), String> {
        self.parent
            .send(msg, None)
            .await
            .map_err(|e| format!("parent channel: {e}"))
    }
}
