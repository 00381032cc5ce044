//! pfe, the packet filter engine: turns `redirect` blocks into nftables
//! NAT rules that follow the host states of the hce, and keeps their
//! statistics (relayd's pf engine, on nftables).
//!
//! imsg peers: parent (config, enable/disable; redirect states and
//! statistics back), hce (host states in), every relay (kept for relayd's
//! split of work; nothing flows there yet).
//! Sandbox: chroot `/var/empty`, user `_relayd`, `no_new_privs`, and only
//! CAP_NET_ADMIN. libnftables is loaded before the sandbox (see `nft`): the
//! pfe edits nftables over netlink itself and never executes anything.
//!
//! Lifecycle: at start a stale `table inet relayd` (from a killed relayd) is
//! deleted; on `Start` the table is built for the configuration; host
//! states and switches then change one redirect's rules at a time; on
//! shutdown (parent's `Shutdown`, SIGTERM, parent gone) the table is
//! deleted. The pfe owns that table and touches nothing else.
//!
//! pf -> nftables: see `ruleset` for the layout. `mode roundrobin` is
//! `numgen inc`, `random` is `numgen random`, `source-hash` and
//! `sticky-address` are `jhash` of the source address (seed from the
//! `key`), `session timeout` is a conntrack timeout for established TCP,
//! `[match] pftag NAME` sets packet and conntrack mark `tag_mark(NAME)`
//! (nftables has no tags; a nat chain cannot `pass` for another table, so
//! `match` and plain `pftag` behave the same). `least-states` and
//! `route to` are refused when the configuration loads (`check`).

mod check;
mod nft;
mod plan;
mod ruleset;
mod stats;

pub use check::check_redirects;
pub use nft::Nftables;

use crate::child::{drain_peer, from_parent, peer_socket, terminated};
use plan::{plan, Plan, Switches};
use relayd_config::{Config, ObjectId};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeSide, PfeToParent, RedirectReport};
use relayd_proto::messages::{hce_pfe, pfe_relay, PeerChannel};
use relayd_proto::status::{HostState, RedirectState};
use relayd_proto::{
    ConfigAssembler, ImsgChannel, ImsgError, ImsgReader, ImsgWriter, ProcessKind, Received,
};
use ruleset::RedirectRules;
use stats::RedirectStats;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use tokio::time::Instant;

/// Host states are applied when the hce says a round is done (`Sync`), or
/// this long after the first change if it does not.
const SYNC_DELAY: Duration = Duration::from_millis(200);

struct Pfe {
    parent: PfeSide,
    hce: Option<ImsgReader<hce_pfe::HceToPfe>>,
    /// Host states will go to relays from here, as relayd does.
    relays: Vec<ImsgWriter<pfe_relay::PfeToRelay>>,
    assembler: ConfigAssembler,
    config: Config,
    /// `None` when libnftables could not be loaded: redirects stay down.
    nft: Option<Nftables>,
    /// Whether this kernel takes ct timeout objects (tried once per build).
    timeouts: bool,
    /// Whether `table inet relayd` exists and is ours to delete.
    owns_table: bool,
    /// The table matches `rules` (false between a new config and `Start`).
    installed: bool,
    rules: Vec<RedirectRules>,
    switches: Switches,
    /// What is installed for each redirect.
    plans: BTreeMap<ObjectId, Plan>,
    stats: BTreeMap<ObjectId, RedirectStats>,
    /// Host states changed and are not applied yet, since then.
    changed_since: Option<Instant>,
    random_seed: u32,
}

/// What woke the main loop.
enum Event {
    /// Boxed: a configuration part is much larger than anything else here.
    Parent(Box<Result<Option<Received<ParentToPfe>>, ImsgError>>),
    Hce(Result<Option<Received<hce_pfe::HceToPfe>>, ImsgError>),
    Statistics,
    SyncDue,
    Terminated,
}

pub async fn run(parent: UnixStream, nft: Result<Nftables, String>) -> Result<(), String> {
    let parent: PfeSide = ImsgChannel::new(parent).map_err(|e| format!("parent channel: {e}"))?;
    let nft = match nft {
        Ok(nft) => Some(nft),
        Err(e) => {
            tracing::warn!("{e}: redirections will stay down");
            None
        }
    };
    let mut pfe = Pfe {
        parent,
        hce: None,
        relays: Vec::new(),
        assembler: ConfigAssembler::new(),
        config: Config::default(),
        nft,
        timeouts: true,
        owns_table: false,
        installed: false,
        rules: Vec::new(),
        switches: Switches::default(),
        plans: BTreeMap::new(),
        stats: BTreeMap::new(),
        changed_since: None,
        random_seed: random_u32(),
    };
    pfe.remove_stale_table();
    pfe.send_parent(&PfeToParent::Ready).await?;
    let result = pfe.main_loop().await;
    pfe.remove_table();
    result
}

impl Pfe {
    async fn main_loop(&mut self) -> Result<(), String> {
        let stop = terminated();
        tokio::pin!(stop);
        let mut next_statistics = Instant::now();
        loop {
            let interval = Duration::from_secs(u64::from(self.config.global.interval_secs.max(1)));
            let sync_at = self.changed_since.map(|t| t + SYNC_DELAY);
            let event = tokio::select! {
                received = self.parent.recv() => Event::Parent(Box::new(received)),
                received = recv_hce(&mut self.hce) => Event::Hce(received),
                _ = tokio::time::sleep_until(next_statistics), if self.installed => {
                    next_statistics = Instant::now() + interval;
                    Event::Statistics
                }
                _ = sleep_until_some(sync_at) => Event::SyncDue,
                _ = &mut stop => Event::Terminated,
            };
            match event {
                Event::Parent(received) => {
                    let Some(received) = from_parent(*received)? else {
                        return Ok(());
                    };
                    if !self.handle(received).await? {
                        return Ok(());
                    }
                }
                Event::Hce(Ok(Some(received))) => self.handle_hce(received.msg).await?,
                Event::Hce(Ok(None)) => {
                    tracing::debug!("channel from hce closed");
                    self.hce = None;
                }
                Event::Hce(Err(e)) => {
                    tracing::warn!("channel from hce: {e}");
                    self.hce = None;
                }
                Event::Statistics => self.update_statistics().await?,
                Event::SyncDue => self.sync().await?,
                Event::Terminated => {
                    tracing::debug!("terminated by signal");
                    return Ok(());
                }
            }
        }
    }

    /// Handles one message from the parent; `false` means shut down.
    async fn handle(&mut self, received: Received<ParentToPfe>) -> Result<bool, String> {
        match received.msg {
            ParentToPfe::PeerChannel(peer) => self.add_peer(peer, received.fd)?,
            ParentToPfe::Reset => self.assembler.reset(),
            ParentToPfe::Config(part) => self.assembler.add(part),
            ParentToPfe::ConfigDone => {
                self.load_config();
                self.send_parent(&PfeToParent::ConfigDone).await?;
            }
            ParentToPfe::Start => {
                if !self.config.routers.is_empty() {
                    tracing::warn!("routers are not implemented yet");
                }
                self.install().await?;
                tracing::debug!("started with {} relays connected", self.relays.len());
            }
            ParentToPfe::RedirectEnable(id) => {
                self.switches.disabled_redirects.remove(&id);
                self.sync().await?;
            }
            ParentToPfe::RedirectDisable(id) => {
                self.switches.disabled_redirects.insert(id);
                self.sync().await?;
            }
            ParentToPfe::HostEnable(id) => {
                self.switches.disabled_hosts.remove(&id);
                self.sync().await?;
            }
            ParentToPfe::HostDisable(id) => {
                self.switches.disabled_hosts.insert(id);
                self.sync().await?;
            }
            ParentToPfe::TableEnable(id) => {
                self.switches.disabled_tables.remove(&id);
                self.sync().await?;
            }
            ParentToPfe::TableDisable(id) => {
                self.switches.disabled_tables.insert(id);
                self.sync().await?;
            }
            ParentToPfe::SetVerbose(level) => {
                crate::log::set_verbosity(u8::try_from(level).unwrap_or(u8::MAX))
            }
            ParentToPfe::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    async fn handle_hce(&mut self, msg: hce_pfe::HceToPfe) -> Result<(), String> {
        match msg {
            hce_pfe::HceToPfe::HostStatus(status) => {
                let old = self
                    .switches
                    .host_states
                    .insert(status.host_id, status.state);
                if old.unwrap_or(HostState::Unknown) != status.state {
                    self.changed_since.get_or_insert_with(Instant::now);
                }
            }
            hce_pfe::HceToPfe::Sync => {
                if self.changed_since.is_some() {
                    self.sync().await?;
                }
            }
        }
        Ok(())
    }

    /// Takes the configuration just received; nftables changes on `Start`.
    fn load_config(&mut self) {
        self.config = self.assembler.finish();
        self.rules = self
            .config
            .redirects
            .iter()
            .map(|r| RedirectRules::new(r, &self.config, self.random_seed))
            .collect();
        self.switches = Switches::for_config(&self.config);
        let interval = self.config.global.interval_secs;
        self.stats = self
            .rules
            .iter()
            .map(|r| (r.id, RedirectStats::new(r.id, interval)))
            .collect();
        self.plans.clear();
        self.installed = false;
    }

    /// Builds relayd's table for the configuration, with the rules the
    /// current host states imply, in one transaction.
    async fn install(&mut self) -> Result<(), String> {
        self.changed_since = None;
        if self.rules.is_empty() {
            self.remove_table();
            self.installed = true;
            return Ok(());
        }
        let plans: BTreeMap<ObjectId, Plan> = self
            .rules
            .iter()
            .map(|r| (r.id, plan(r, &self.switches)))
            .collect();
        let Some(nft) = self.nft.as_mut() else {
            self.plans = plans;
            self.installed = true;
            return self
                .report_error("nftables is not available: redirections stay down".into())
                .await;
        };
        let script = |timeouts: bool| {
            let mut script = ruleset::table_script(&self.rules, timeouts);
            for rules in &self.rules {
                let target = plans.get(&rules.id).and_then(|p| p.target.as_ref());
                script += &ruleset::redirect_script(rules, target, timeouts);
            }
            script
        };
        let mut result = nft.run(&script(self.timeouts));
        if let (Err(e), true) = (&result, self.timeouts) {
            if e.contains("timeout") {
                tracing::warn!(
                    "this kernel refuses conntrack timeouts, session timeouts are not applied: {e}"
                );
                self.timeouts = false;
                result = nft.run(&script(false));
            }
        }
        self.installed = true;
        match result {
            Ok(_) => {
                self.owns_table = true;
                tracing::debug!(
                    "table {} built for {} redirects",
                    ruleset::TABLE,
                    self.rules.len()
                );
                for (id, plan) in plans {
                    self.log_plan(id, &plan);
                    self.plans.insert(id, plan);
                    self.report(id).await?;
                }
                Ok(())
            }
            Err(e) => {
                // The transaction changed nothing; a table left from the
                // previous configuration would now lie, so it goes too and
                // every redirect stays down.
                self.remove_table();
                self.report_error(format!("cannot build table {}: {e}", ruleset::TABLE))
                    .await
            }
        }
    }

    /// Applies what changed since the rules were last written: one
    /// transaction rewriting only the redirects whose plan changed.
    async fn sync(&mut self) -> Result<(), String> {
        self.changed_since = None;
        // Without a table of ours (no redirects, or nftables failed and
        // said so) there is nothing to apply: redirects stay down.
        if !self.installed || !self.owns_table || self.nft.is_none() {
            return Ok(());
        }
        let mut changed = Vec::new();
        let mut script = String::new();
        for rules in &self.rules {
            let new = plan(rules, &self.switches);
            if self.plans.get(&rules.id) != Some(&new) {
                script += &ruleset::redirect_script(rules, new.target.as_ref(), self.timeouts);
                changed.push((rules.id, new));
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        if let Some(nft) = self.nft.as_mut() {
            if let Err(e) = nft.run(&script) {
                return self
                    .report_error(format!("cannot update redirections: {e}"))
                    .await;
            }
        }
        for (id, new) in changed {
            let old = self.plans.insert(id, new.clone());
            self.log_plan(id, &new);
            self.report(id).await?;
            // The table left and the table now in use (once if the same).
            let left = old.and_then(|p| p.table).filter(|t| Some(*t) != new.table);
            for table in [left, new.table].into_iter().flatten() {
                self.send_parent(&PfeToParent::TableChanged(table)).await?;
            }
        }
        Ok(())
    }

    /// Reads the counters and sends every redirect's statistics.
    async fn update_statistics(&mut self) -> Result<(), String> {
        let counters = match (&mut self.nft, self.owns_table) {
            (Some(nft), true) => match nft.run(&ruleset::list_counters_script()) {
                Ok(text) => ruleset::parse_counters(&text),
                Err(e) => {
                    tracing::warn!("cannot read the redirect counters: {e}");
                    return Ok(());
                }
            },
            _ => BTreeMap::new(),
        };
        let ids: Vec<ObjectId> = self.rules.iter().map(|r| r.id).collect();
        for id in ids {
            let total = counters
                .get(&ruleset::counter_name(id))
                .copied()
                .unwrap_or(0);
            if let Some(stats) = self.stats.get_mut(&id) {
                stats.tick(total);
            }
            self.report(id).await?;
        }
        Ok(())
    }

    async fn report(&mut self, id: ObjectId) -> Result<(), String> {
        let state = self.plans.get(&id).map_or(RedirectState::Down, |p| p.state);
        let Some(stats) = self.stats.get(&id) else {
            return Ok(());
        };
        let report = RedirectReport {
            redirect_id: id,
            state,
            stats: stats.current().clone(),
        };
        self.send_parent(&PfeToParent::Redirect(report)).await
    }

    fn log_plan(&self, id: ObjectId, plan: &Plan) {
        let name = self
            .rules
            .iter()
            .find(|r| r.id == id)
            .map_or("?", |r| r.name.as_str());
        let hosts: Vec<String> = plan
            .target
            .iter()
            .flat_map(|t| t.hosts.iter().map(ToString::to_string))
            .collect();
        tracing::info!(
            "redirect {name}: {}{}",
            plan.state.as_str(),
            if hosts.is_empty() {
                String::new()
            } else {
                format!(", to {}", hosts.join(" "))
            }
        );
    }

    async fn report_error(&mut self, error: String) -> Result<(), String> {
        tracing::error!("{error}");
        self.send_parent(&PfeToParent::Error(error)).await
    }

    /// A table left by a relayd that was killed holds rules for hosts that
    /// may be gone: drop it before anything else.
    fn remove_stale_table(&mut self) {
        if let Some(nft) = self.nft.as_mut() {
            let exists = nft.run(&format!("list table {}", ruleset::TABLE)).is_ok();
            if exists {
                match nft.run(&ruleset::cleanup_script()) {
                    Ok(_) => tracing::info!("removed stale table {}", ruleset::TABLE),
                    Err(e) => tracing::warn!("cannot remove stale table {}: {e}", ruleset::TABLE),
                }
            }
        }
    }

    /// Deletes relayd's table if this pfe built it.
    fn remove_table(&mut self) {
        if !self.owns_table {
            return;
        }
        if let Some(nft) = self.nft.as_mut() {
            match nft.run(&ruleset::cleanup_script()) {
                Ok(_) => tracing::debug!("table {} deleted", ruleset::TABLE),
                Err(e) => tracing::warn!("cannot delete table {}: {e}", ruleset::TABLE),
            }
        }
        self.owns_table = false;
    }

    fn add_peer(&mut self, peer: PeerChannel, fd: Option<OwnedFd>) -> Result<(), String> {
        let socket = peer_socket(fd)?;
        let channel_error = |e: std::io::Error| format!("channel to {}: {e}", peer.peer);
        match peer.peer {
            ProcessKind::Hce => {
                let channel: hce_pfe::PfeSide = ImsgChannel::new(socket).map_err(channel_error)?;
                let (reader, _) = channel.split();
                self.hce = Some(reader);
            }
            ProcessKind::Relay => {
                let channel: pfe_relay::PfeSide =
                    ImsgChannel::new(socket).map_err(channel_error)?;
                let (reader, writer) = channel.split();
                drain_peer(reader, format!("relay {}", peer.instance + 1));
                self.relays.push(writer);
            }
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    async fn send_parent(&mut self, msg: &PfeToParent) -> Result<(), String> {
        self.parent
            .send(msg, None)
            .await
            .map_err(|e| format!("parent channel: {e}"))
    }
}

/// The next message from the hce, or never if there is no hce channel.
async fn recv_hce(
    hce: &mut Option<ImsgReader<hce_pfe::HceToPfe>>,
) -> Result<Option<Received<hce_pfe::HceToPfe>>, ImsgError> {
    match hce {
        Some(reader) => reader.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A hash seed for `source-hash` without a key (pf picks a random one too).
fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n == 4 {
        u32::from_ne_bytes(bytes)
    } else {
        std::process::id().wrapping_mul(0x9e37_79b9)
    }
}
