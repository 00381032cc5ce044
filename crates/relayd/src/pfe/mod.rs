//! pfe, the packet filter engine: turns `redirect` blocks into nftables
//! NAT rules that follow the host states of the hce, and keeps their
//! statistics (relayd's pf engine, on nftables); keeps the routes of the
//! `router` blocks through the gateways that are up (`routes`).
//!
//! imsg peers: parent, hce, relay N.
//! - parent: configuration (with the routers' plan), enable/disable, the
//!   AgentX master's connected socket and MIB views in; redirect states,
//!   statistics, table changes, errors, socket and view requests out
//!   (`agentx`: the pfe is relayd's AgentX subagent).
//! - hce: host states in, nothing out.
//! - relay N: `nat lookup` questions in (the original destination of a
//!   redirected datagram), conntrack's answers out (`conntrack`).
//!
//! Sandbox: chroot, unprivileged user, only CAP_NET_ADMIN, no_new_privs, seccomp, landlock.
//! (`sandbox`: the calls of `sandbox/calls/pfe.rs`, no files).
//! libnftables is loaded and the rtnetlink and ctnetlink sockets opened
//! before the sandbox (see `nft`, `routes`, `conntrack`): the pfe edits
//! nftables and routes and reads conntrack over netlink itself and never
//! executes anything.
//!
//! Lifecycle: at start a stale `table inet relayd` (from a killed relayd) is
//! deleted; a configuration is prepared into its rules, which the kernel
//! checks without applying them (`nft -c`: a ruleset it refuses is a
//! refusal of the configuration, so a reload cannot leave the redirections
//! down), and built into the table when it is committed (`Start`); host
//! states and switches then
//! change one redirect's rules at a time; on shutdown (parent's `Shutdown`,
//! SIGTERM, parent gone) the table is deleted. The pfe owns that table and
//! touches nothing else of nftables. Routes of relayd's route protocol the
//! configuration does not want are removed at each commit; host states
//! and switches then add and remove gateways; on shutdown the routes stay,
//! as relayd leaves them (`ip route flush table all proto relayd` removes
//! them). No other route is ever changed.
//!
//! pf -> nftables: see `ruleset` for the layout. `mode roundrobin` is
//! `numgen inc`, `random` is `numgen random`, `source-hash` and
//! `sticky-address` are `jhash` of the source address (seed from the
//! `key`), `session timeout` is a conntrack timeout for established TCP,
//! `[match] pftag NAME` sets packet and conntrack mark `tag_mark(NAME)`
//! (nftables has no tags; a nat chain cannot `pass` for another table, so
//! `match` and plain `pftag` behave the same). `least-states` and
//! `route to` are refused when the configuration loads (`check`).

mod agentx;
mod bytes;
mod check;
mod conntrack;
mod nft;
mod plan;
mod routes;
mod ruleset;
mod stats;
#[cfg(debug_assertions)]
mod test_hook;

pub use check::{check_redirects, ListenWarning, UnsupportedRedirects};
pub use nft::{NftError, Nftables};

use crate::engine::{
    earliest, open_peer, ChildError, ChildStart, Context, Engine, EngineError, Periodic,
};
use crate::proc::ProcId;
use agentx::Subagent;
use conntrack::Conntrack;
use plan::{plan, Plan, Switches};
use relayd_config::{Config, ObjectId};
use relayd_proto::messages::hce_pfe::{HceToPfe, PfeHceChannel};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent, RedirectReport};
use relayd_proto::messages::pfe_relay::{
    NatLookAnswer, NatLookRequest, NatLookResult, PfeRelayChannel, PfeToRelay, RelayToPfe,
};
use relayd_proto::messages::Refusal;
use relayd_proto::status::{HostState, RedirectState};
use relayd_proto::{ImsgReader, ImsgSender, ProcessKind};
use relayd_route::{RoutePlan, RouteSocket};
use routes::Routes;
use ruleset::RedirectRules;
use stats::RedirectStats;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Host states are applied when the hce says a round is done (`Sync`), or
/// this long after the first change if it does not.
const SYNC_DELAY: Duration = Duration::from_millis(200);

/// What the pfe's own tasks tell it.
pub enum PfeEvent {
    /// A message from the hce.
    Hce(HceToPfe),
    /// A message from a relay process.
    Relay(ProcId, RelayToPfe),
    /// A PDU from the AgentX master, or the end of its connection.
    Agentx(agentx::SessionEvent),
}

/// A configuration turned into rules, ready to be built into the table.
pub struct PreparedRules {
    config: Config,
    rules: Vec<RedirectRules>,
    switches: Switches,
    stats: BTreeMap<ObjectId, RedirectStats>,
    routes: RoutePlan,
}

struct Pfe {
    config: Config,
    /// `None` when libnftables could not be loaded: redirects stay down.
    nft: Option<Nftables>,
    /// Whether this kernel takes ct timeout objects (until it refused one).
    timeouts: bool,
    /// Whether `table inet relayd` exists and is ours to delete.
    owns_table: bool,
    /// The table matches `rules` (false until the first commit).
    installed: bool,
    rules: Vec<RedirectRules>,
    switches: Switches,
    /// What is installed for each redirect.
    plans: BTreeMap<ObjectId, Plan>,
    stats: BTreeMap<ObjectId, RedirectStats>,
    /// When the redirect counters are read next, once installed.
    statistics: Option<Periodic>,
    /// Host states changed and are not applied yet, since then.
    changed_since: Option<Instant>,
    random_seed: u32,
    routes: Routes,
    /// The routers' plan that came with the configuration being sent.
    incoming_routes: Option<RoutePlan>,
    /// Why not, when the ctnetlink socket could not be opened: every nat
    /// lookup then fails with that reason.
    conntrack: Result<Conntrack, String>,
    /// Each relay process's channel, for the answers to its lookups.
    relays: BTreeMap<ProcId, ImsgSender<PfeToRelay>>,
    /// The AgentX subagent (`agentx`).
    subagent: Subagent,
}

/// The pfe's entry in the process table: libnftables and the rtnetlink
/// and ctnetlink sockets are opened here, before the sandbox hides the one
/// and takes the privilege to open the others.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    let nft = Nftables::load();
    let route_socket = RouteSocket::open();
    let conntrack = Conntrack::open().map_err(|e| e.to_string());
    start.run(move |_: &Context<Pfe>| {
        let nft = match nft {
            Ok(nft) => Some(nft),
            Err(e) => {
                tracing::warn!("{e}: redirections will stay down");
                None
            }
        };
        let mut pfe = Pfe {
            config: Config::default(),
            nft,
            timeouts: true,
            owns_table: false,
            installed: false,
            rules: Vec::new(),
            switches: Switches::default(),
            plans: BTreeMap::new(),
            stats: BTreeMap::new(),
            statistics: None,
            changed_since: None,
            random_seed: random_u32(),
            routes: Routes::new(route_socket),
            incoming_routes: None,
            conntrack,
            relays: BTreeMap::new(),
            subagent: Subagent::new(),
        };
        pfe.remove_stale_table();
        Ok(pfe)
    })
}

impl Engine for Pfe {
    type Message = ParentToPfe;
    type Report = PfeToParent;
    type Event = PfeEvent;
    type Prepared = PreparedRules;
    type Error = EngineError;

    fn reset(&mut self) {
        self.incoming_routes = None;
    }

    /// The kernel has no dry run for routes: what Linux refuses of a
    /// router was refused where the parent planned it.
    fn prepare(&mut self, config: Config) -> Result<PreparedRules, Refusal> {
        let routes = self
            .incoming_routes
            .take()
            .ok_or(Refusal::MissingRoutePlan)?;
        let rules: Vec<RedirectRules> = config
            .redirects
            .iter()
            .map(|r| RedirectRules::new(r, &config, self.random_seed))
            .collect();
        #[cfg(debug_assertions)]
        if let Some(refusal) = test_hook::refusal(&config) {
            return Err(refusal);
        }
        if let Err(e) = self.check_rules(&rules) {
            tracing::debug!("nftables check: {e}");
            return Err(Refusal::Redirections {
                reason: e.headline(),
            });
        }
        let interval = config.global.interval_secs;
        let stats = rules
            .iter()
            .map(|r| (r.id, RedirectStats::new(r.id, interval)))
            .collect();
        Ok(PreparedRules {
            switches: Switches::for_config(&config),
            rules,
            stats,
            config,
            routes,
        })
    }

    /// Takes the prepared rules and builds the table for them, then brings
    /// the routes to what the new routers want (removing those of relayd's
    /// protocol they do not want, even with no routers). The host states
    /// heard so far stay: the hce reports every host again when it starts
    /// the new configuration, maybe before this commit.
    async fn commit(
        &mut self,
        prepared: PreparedRules,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        let host_states = std::mem::take(&mut self.switches.host_states);
        self.config = prepared.config;
        self.rules = prepared.rules;
        self.switches = prepared.switches;
        self.switches.host_states = host_states;
        self.stats = prepared.stats;
        self.plans.clear();
        self.routes.set_plan(prepared.routes);
        self.install(cx).await?;
        self.routes.apply(&self.switches);
        let interval = Duration::from_secs(u64::from(self.config.global.interval_secs.max(1)));
        self.statistics = Some(Periodic::due_now(interval));
        let mut reports = Vec::new();
        self.subagent.configure(&self.config, &mut reports);
        send_reports(reports, cx)
    }

    async fn on_message(
        &mut self,
        message: ParentToPfe,
        fd: Option<OwnedFd>,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        let switches = &mut self.switches;
        match message {
            ParentToPfe::AgentxSocket { error } => {
                let events = cx.events();
                self.subagent.on_socket(error, fd, move |event| {
                    events.send(PfeEvent::Agentx(event)).is_ok()
                });
                return Ok(());
            }
            ParentToPfe::MibView { request_id, view } => {
                self.subagent.on_view(request_id, &view);
                return Ok(());
            }
            ParentToPfe::RedirectEnable(id) => {
                switches.disabled_redirects.remove(&id);
            }
            ParentToPfe::RedirectDisable(id) => {
                switches.disabled_redirects.insert(id);
            }
            ParentToPfe::HostEnable(id) => {
                switches.disabled_hosts.remove(&id);
            }
            ParentToPfe::HostDisable(id) => {
                switches.disabled_hosts.insert(id);
            }
            ParentToPfe::TableEnable(id) => {
                switches.disabled_tables.remove(&id);
            }
            ParentToPfe::TableDisable(id) => {
                switches.disabled_tables.insert(id);
            }
            ParentToPfe::RouterEnable(id) => self.routes.switch(id, true),
            ParentToPfe::RouterDisable(id) => self.routes.switch(id, false),
            // Comes with a configuration, for its `prepare`.
            ParentToPfe::RoutePlan(plan) => {
                self.incoming_routes = Some(plan);
                return Ok(());
            }
        }
        self.sync(cx).await
    }

    /// The hce (host states) and each relay process (nat lookups).
    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        match peer.kind {
            ProcessKind::Hce => {
                let channel: PfeHceChannel = open_peer(peer, socket)?;
                tokio::spawn(follow_hce(channel.split().0, cx.events()));
            }
            ProcessKind::Relay => {
                let channel: PfeRelayChannel = open_peer(peer, socket)?;
                let (reader, writer) = channel.split();
                let (sender, _task) = writer.into_sender();
                self.relays.insert(peer, sender);
                tokio::spawn(follow_relay(peer, reader, cx.events()));
            }
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    async fn on_event(&mut self, event: PfeEvent, cx: &Context<Self>) -> Result<(), EngineError> {
        match event {
            PfeEvent::Hce(HceToPfe::HostStatus(status)) => {
                let old = self
                    .switches
                    .host_states
                    .insert(status.host_id, status.state)
                    .unwrap_or(HostState::Unknown);
                if old == HostState::Up && status.state != HostState::Up {
                    // A lost gateway is routed around at once (relayd's
                    // pfe_sync); routes through it are all that changes,
                    // where a redirect would be rewritten host by host,
                    // so the redirects wait for the round's batch.
                    self.routes.apply(&self.switches);
                }
                if old != status.state {
                    self.changed_since.get_or_insert_with(Instant::now);
                }
            }
            PfeEvent::Hce(HceToPfe::Sync) => {
                if self.changed_since.is_some() {
                    self.sync(cx).await?;
                }
            }
            PfeEvent::Relay(relay, RelayToPfe::NatLook(request)) => self.nat_lookup(relay, request),
            PfeEvent::Agentx(event) => {
                let mut reports = Vec::new();
                self.subagent.on_event(event, &mut reports);
                send_reports(reports, cx)?;
            }
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        let statistics = self.statistics.as_ref().map(Periodic::next);
        earliest([
            statistics,
            self.changed_since.map(|t| t + SYNC_DELAY),
            self.subagent.next_timer(),
        ])
    }

    async fn on_timer(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
        let now = Instant::now();
        if self.statistics.as_mut().is_some_and(|s| s.tick(now)) {
            self.update_statistics(cx)?;
        }
        if self.changed_since.is_some_and(|t| t + SYNC_DELAY <= now) {
            self.sync(cx).await?;
        }
        let mut reports = Vec::new();
        self.subagent.on_timer(now, &mut reports);
        send_reports(reports, cx)
    }

    /// The table goes; the routes stay, as relayd's.
    async fn stop(&mut self) {
        self.subagent.stop();
        self.remove_table();
    }
}

impl Pfe {
    /// Answers a relay's question: where the flow was going before it was
    /// redirected (relayd's `natlook`). A relay gone is no error.
    fn nat_lookup(&mut self, relay: ProcId, request: NatLookRequest) {
        let result = match &mut self.conntrack {
            Ok(conntrack) => {
                match conntrack.original_destination(request.proto, request.client, request.listen)
                {
                    Ok(Some(destination)) => NatLookResult::Destination(destination),
                    Ok(None) => NatLookResult::NoEntry,
                    Err(e) => NatLookResult::Failed(e.to_string()),
                }
            }
            Err(e) => NatLookResult::Failed(e.clone()),
        };
        tracing::debug!(
            "nat lookup for {relay}: {} -> {}: {result:?}",
            request.client,
            request.listen
        );
        let answer = PfeToRelay::NatLook(NatLookAnswer {
            request_id: request.request_id,
            result,
        });
        if let Some(sender) = self.relays.get(&relay) {
            if sender.send(answer, None).is_err() {
                tracing::debug!("channel to {relay} closed");
                self.relays.remove(&relay);
            }
        }
    }

    /// Has the kernel check the table `rules` need without applying it:
    /// the skeleton, and each redirect's rules for every table it may
    /// forward to, all its hosts up. Without nftables there is nothing to
    /// check: redirections stay down, as at startup.
    fn check_rules(&mut self, rules: &[RedirectRules]) -> Result<(), NftError> {
        let Some(nft) = self.nft.as_mut() else {
            return Ok(());
        };
        if rules.is_empty() {
            return Ok(());
        }
        let script = |timeouts: bool| {
            let mut script = ruleset::table_script(rules, timeouts);
            for redirect in rules {
                for target in ruleset::every_target(redirect) {
                    script += &ruleset::redirect_script(redirect, Some(&target), timeouts);
                }
            }
            script
        };
        match nft.check(&script(self.timeouts)) {
            // A kernel without ct timeouts takes the rules without them.
            Err(_) if self.timeouts => nft.check(&script(false)),
            checked => checked,
        }
    }

    /// Builds relayd's table for the configuration, with the rules the
    /// current host states imply, in one transaction.
    async fn install(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
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
            return self.report_error("nftables is not available: redirections stay down", cx);
        };
        let script = |timeouts: bool| {
            let mut script = ruleset::table_script(&self.rules, timeouts);
            for rules in &self.rules {
                let target = plans.get(&rules.id).and_then(|p| p.target.as_ref());
                script += &ruleset::redirect_script(rules, target, timeouts);
            }
            script
        };
        let with_timeouts = script(self.timeouts);
        let without_timeouts = script(false);
        let result = run_with_timeouts(nft, &mut self.timeouts, &with_timeouts, &without_timeouts);
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
                    self.report(id, cx)?;
                }
                Ok(())
            }
            Err(e) => {
                // The transaction changed nothing; a table left from the
                // previous configuration would now lie, so it goes too and
                // every redirect stays down.
                self.remove_table();
                self.report_error(&format!("cannot build table {}: {e}", ruleset::TABLE), cx)
            }
        }
    }

    /// Applies what changed since the rules and routes were last written.
    async fn sync(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
        self.changed_since = None;
        self.routes.apply(&self.switches);
        self.sync_redirects(cx).await
    }

    /// One transaction rewriting only the redirects whose plan changed.
    async fn sync_redirects(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
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
                return self.report_error(&format!("cannot update redirections: {e}"), cx);
            }
        }
        for (id, new) in changed {
            let old = self.plans.insert(id, new.clone());
            self.log_plan(id, &new);
            self.report(id, cx)?;
            // The table left and the table now in use (once if the same).
            let left = old.and_then(|p| p.table).filter(|t| Some(*t) != new.table);
            for table in [left, new.table].into_iter().flatten() {
                cx.report(PfeToParent::TableChanged(table))?;
            }
        }
        Ok(())
    }

    /// Reads the counters and sends every redirect's statistics.
    fn update_statistics(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
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
            let read = |name: &str| counters.get(name).copied().unwrap_or_default();
            let total = read(&ruleset::counter_name(id)).packets;
            let (inbound, outbound) = bytes::counter_names(id);
            if let Some(stats) = self.stats.get_mut(&id) {
                stats.tick(total);
                stats.set_bytes(read(&inbound).bytes, read(&outbound).bytes);
            }
            self.report(id, cx)?;
        }
        Ok(())
    }

    fn report(&mut self, id: ObjectId, cx: &Context<Self>) -> Result<(), EngineError> {
        let state = self.plans.get(&id).map_or(RedirectState::Down, |p| p.state);
        let Some(stats) = self.stats.get(&id) else {
            return Ok(());
        };
        let report = RedirectReport {
            redirect_id: id,
            state,
            stats: stats.current().clone(),
        };
        Ok(cx.report(PfeToParent::Redirect(report))?)
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

    fn report_error(&mut self, error: &str, cx: &Context<Self>) -> Result<(), EngineError> {
        tracing::error!("{error}");
        Ok(cx.report(PfeToParent::Error(error.to_string()))?)
    }

    /// A table left by a relayd that was killed holds rules for hosts that
    /// may be gone: drop it before anything else.
    fn remove_stale_table(&mut self) {
        if let Some(nft) = self.nft.as_mut() {
            match remove_leftover_table(nft) {
                Ok(true) => tracing::info!("removed stale table {}", ruleset::TABLE),
                Ok(false) => {}
                Err(e) => tracing::warn!("cannot remove stale table {}: {e}", ruleset::TABLE),
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
}

/// Deletes `table inet relayd` if it exists; `Ok(true)` when there was one.
/// The pfe calls it at start, the parent when a child died (`leftovers`).
pub fn remove_leftover_table(nft: &mut Nftables) -> Result<bool, NftError> {
    if nft.run(&format!("list table {}", ruleset::TABLE)).is_err() {
        return Ok(false);
    }
    nft.run(&ruleset::cleanup_script()).map(|_| true)
}

/// The table relayd owns, as nft names it.
pub const TABLE: &str = ruleset::TABLE;

/// Runs `script`, which uses ct timeout objects while `timeouts` says this
/// kernel takes them. If the kernel refuses it but takes the same rules
/// without timeouts (`fallback`), it lacks them: say so and clear
/// `timeouts` for good.
fn run_with_timeouts(
    nft: &mut Nftables,
    timeouts: &mut bool,
    script: &str,
    fallback: &str,
) -> Result<String, NftError> {
    let refused = match nft.run(script) {
        Ok(output) => return Ok(output),
        Err(e) if !*timeouts => return Err(e),
        Err(e) => e,
    };
    let output = nft.run(fallback).map_err(|_| refused.clone())?;
    tracing::warn!(
        "this kernel refuses conntrack timeouts, session timeouts are not applied: {refused}"
    );
    *timeouts = false;
    Ok(output)
}

/// What the subagent has for the parent.
fn send_reports(reports: agentx::Reports, cx: &Context<Pfe>) -> Result<(), EngineError> {
    for report in reports {
        cx.report(report)?;
    }
    Ok(())
}

/// Host states from the hce, handed to the engine in order.
async fn follow_hce(mut reader: ImsgReader<HceToPfe>, events: mpsc::UnboundedSender<PfeEvent>) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => {
                if events.send(PfeEvent::Hce(received.msg)).is_err() {
                    return;
                }
            }
            Ok(None) => return tracing::debug!("channel from hce closed"),
            Err(e) => return tracing::warn!("channel from hce: {e}"),
        }
    }
}

/// Questions from a relay process, handed to the engine in order.
async fn follow_relay(
    peer: ProcId,
    mut reader: ImsgReader<RelayToPfe>,
    events: mpsc::UnboundedSender<PfeEvent>,
) {
    loop {
        match reader.recv().await {
            Ok(Some(received)) => {
                if events.send(PfeEvent::Relay(peer, received.msg)).is_err() {
                    return;
                }
            }
            Ok(None) => return tracing::debug!("channel from {peer} closed"),
            Err(e) => return tracing::warn!("channel from {peer}: {e}"),
        }
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
