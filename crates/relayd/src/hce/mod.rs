//! hce, the host check engine: checks every host of every table and
//! reports host states to the parent (which mirrors them for relayctl and
//! `monitor`), the pfe and the relays.
//!
//! imsg peers: parent, pfe, relay N.
//! - parent: configuration, enable/disable, poll, script results in; every
//!   host status, `Sync` and script requests out.
//! - pfe, relay N: host state changes and `Sync` out, nothing in.
//!
//! Sandbox: chroot, unprivileged user, no capabilities, no_new_privs, seccomp, landlock.
//! (`sandbox`: the calls of `sandbox/calls/hce.rs`, no files). Its
//! raw ICMP sockets are opened by the parent (root) and passed in, the
//! first time a configuration checks a table with `check icmp`, so it
//! needs no CAP_NET_RAW; `check script` runs in the parent, which is not
//! chrooted, at the hce's request (answers matched by request id).
//!
//! Layout: [`rounds`] says when each table is due and runs its checks,
//! [`hosts`] turns results into host states (retry, parent, availability);
//! this file drives them as an [`Engine`]. A new configuration is prepared
//! as a fresh host book, where the hosts the running one has too keep their
//! state (no flap through unknown, no state change logged), and replaces
//! the running one at `Start`, when the checks start over. The parent gets
//! every host status (its counters change at every check); the pfe and
//! the relays only state changes (and enable/disable resets). All three
//! get `Sync` after a round or a switch that changed some state.

mod hosts;
mod rounds;

use crate::engine::{open_peer, ChildError, ChildStart, Context, Engine, EngineError};
use crate::proc::ProcId;
use hosts::HostBook;
use relayd_check::{HostError, IcmpPinger, IcmpSockets, Outcome};
use relayd_config::{Check, Config, ObjectId};
use relayd_proto::messages::hce_pfe::{HcePfeChannel, HceToPfe};
use relayd_proto::messages::hce_relay::{HceRelayChannel, HceToRelay};
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::{IcmpFamily, Refusal, ScriptRequest, ScriptResult};
use relayd_proto::status::HostStatus;
use relayd_proto::{Correlator, Delivery, ImsgWriter, ProcessKind, WaitError};
use rounds::{RoundEvent, RoundPlan, Scheduler};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long after a script's own timeout the parent's answer may still
/// come; the parent kills scripts at their timeout, so this only covers a
/// parent that lost the request.
const SCRIPT_ANSWER_GRACE: Duration = Duration::from_secs(5);

/// What the hce's own tasks tell it.
pub enum HceEvent {
    Round(RoundEvent),
    /// A script request was answered, or will not be.
    Script(ScriptDone),
}

pub struct ScriptDone {
    host_id: ObjectId,
    elapsed: Duration,
    answer: Result<ScriptResult, WaitError>,
}

/// The engine's state between messages.
struct Hce {
    pfe: Option<ImsgWriter<HceToPfe>>,
    relays: Vec<ImsgWriter<HceToRelay>>,
    book: HostBook,
    scheduler: Scheduler,
    /// Checks run between the first `Start` and the next configuration.
    started: bool,
    /// Raw ICMP sockets from the parent, until the pinger takes them over.
    icmp_sockets: IcmpSockets,
    icmp: Option<Arc<IcmpPinger>>,
    /// `check script` requests the parent has not answered yet.
    scripts: Correlator<ScriptResult>,
    /// A state changed since the last `Sync`: rounds where nothing changed
    /// send none, so thousands of hosts in many tables cost no messages.
    unsynced: bool,
}

/// The hce's entry in the process table.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    raise_descriptor_limit();
    start.run(|cx: &Context<Hce>| {
        let events = cx.events();
        let rounds = Arc::new(move |event| events.send(HceEvent::Round(event)).is_ok());
        Ok(Hce {
            pfe: None,
            relays: Vec::new(),
            book: HostBook::default(),
            scheduler: Scheduler::new(rounds),
            started: false,
            icmp_sockets: IcmpSockets::default(),
            icmp: None,
            scripts: Correlator::new(),
            unsynced: false,
        })
    })
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

impl Engine for Hce {
    type Message = ParentToHce;
    type Report = HceToParent;
    type Event = HceEvent;
    type Prepared = HostBook;
    type Error = EngineError;

    /// A fresh book for the new hosts, with the states of those the
    /// running configuration has too.
    fn prepare(&mut self, config: Config) -> Result<HostBook, Refusal> {
        let mut book = HostBook::new(&config);
        let carried = book.carry_over(&self.book);
        tracing::debug!("{carried} of {} hosts keep their state", book.len());
        Ok(book)
    }

    /// The new hosts replace the old; checks start over with them, the
    /// hosts of both configurations in the state they had.
    async fn commit(&mut self, book: HostBook, cx: &Context<Self>) -> Result<(), EngineError> {
        self.scheduler.stop_all();
        self.scripts.cancel_all();
        self.book = book;
        tracing::debug!(
            "configuration applied: {} tables, {} hosts",
            self.book.tables().count(),
            self.book.len()
        );
        self.start(cx).await
    }

    async fn on_message(
        &mut self,
        message: ParentToHce,
        fd: Option<OwnedFd>,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        match message {
            ParentToHce::HostEnable(id) => {
                if let Some(status) = self.book.enable(id) {
                    self.publish_everywhere(status, cx).await?;
                    self.sync(cx).await?;
                } else {
                    tracing::warn!("no host with id {id}");
                }
            }
            ParentToHce::HostDisable(id) => {
                if let Some(status) = self.book.disable(id) {
                    self.publish_everywhere(status, cx).await?;
                    self.sync(cx).await?;
                } else {
                    tracing::warn!("no host with id {id}");
                }
            }
            ParentToHce::TableEnable(id) => self.switch_table(id, true, cx).await?,
            ParentToHce::TableDisable(id) => self.switch_table(id, false, cx).await?,
            ParentToHce::Poll => {
                tracing::debug!("poll: checking every table now");
                self.scheduler.all_due_now();
            }
            ParentToHce::ScriptResult(result) => {
                let (id, host) = (result.request_id, result.host_id);
                if self.scripts.answer(id, result) == Delivery::Discarded {
                    tracing::debug!("script result {id} for host {host} came too late");
                }
            }
            ParentToHce::IcmpSocket(family) => match fd {
                Some(fd) => match family {
                    IcmpFamily::V4 => self.icmp_sockets.v4 = Some(fd),
                    IcmpFamily::V6 => self.icmp_sockets.v6 = Some(fd),
                },
                None => tracing::warn!("{family:?} icmp socket message without a descriptor"),
            },
        }
        Ok(())
    }

    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        _cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        // Nothing flows back from the pfe or a relay: only writers are kept.
        match peer.kind {
            ProcessKind::Pfe => {
                let channel: HcePfeChannel = open_peer(peer, socket)?;
                self.pfe = Some(channel.split().1);
            }
            ProcessKind::Relay => {
                let channel: HceRelayChannel = open_peer(peer, socket)?;
                self.relays.push(channel.split().1);
            }
            // The runtime hands over only the peers the table allows.
            other => tracing::warn!("unexpected channel to {other}, closed"),
        }
        Ok(())
    }

    async fn on_event(&mut self, event: HceEvent, cx: &Context<Self>) -> Result<(), EngineError> {
        match event {
            HceEvent::Round(event) => self.round_event(event, cx).await,
            HceEvent::Script(done) => self.script_done(done, cx).await,
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.scheduler.next_due().filter(|_| self.started)
    }

    async fn on_timer(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
        self.launch_due_rounds(cx).await
    }
}

impl Hce {
    async fn start(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
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
            self.publish_everywhere(status, cx).await?;
        }
        self.sync(cx).await
    }

    async fn switch_table(
        &mut self,
        id: ObjectId,
        enable: bool,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
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
            self.publish_everywhere(status, cx).await?;
        }
        self.sync(cx).await
    }

    /// Starts a round of every table that is due.
    async fn launch_due_rounds(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
        for table_id in self.scheduler.due(Instant::now()) {
            let Some(round) = self.scheduler.begin_round(table_id) else {
                continue;
            };
            let Some(start) = self.book.start_round(table_id) else {
                continue;
            };
            for status in start.timed_out {
                cx.report(HceToParent::HostStatus(status))?;
            }
            if let Check::Script { path } = &start.check {
                for (host_id, _) in &start.targets {
                    self.request_script(*host_id, table_id, path, start.timeout, cx)?;
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

    async fn round_event(
        &mut self,
        event: RoundEvent,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        match event {
            RoundEvent::Checked {
                round,
                table_id,
                host_id,
                outcome,
            } => {
                if self.scheduler.is_current(table_id, round) {
                    self.record(host_id, &outcome, cx).await?;
                }
            }
            RoundEvent::Finished { round, table_id } => {
                if let Some(took) = self.scheduler.finished(table_id, round) {
                    let name = self.book.table(table_id).map_or("?", |t| t.name.as_str());
                    tracing::debug!("table {name}: round done in {}ms", took.as_millis());
                    self.sync(cx).await?;
                }
            }
        }
        Ok(())
    }

    /// Applies a result and tells who needs to know.
    async fn record(
        &mut self,
        host_id: ObjectId,
        outcome: &Outcome,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        for recorded in self.book.record(host_id, outcome) {
            if recorded.transition.changed() {
                self.publish_everywhere(recorded.status, cx).await?;
            } else {
                cx.report(HceToParent::HostStatus(recorded.status))?;
            }
        }
        Ok(())
    }

    /// Asks the parent to run a host's script; a task waits for the answer
    /// and hands it back as an event.
    fn request_script(
        &mut self,
        host_id: ObjectId,
        table_id: ObjectId,
        path: &str,
        timeout: Duration,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        let Some(host_name) = self.book.host_name(host_id) else {
            return Ok(());
        };
        let (request_id, pending) = self.scripts.register();
        cx.report(HceToParent::RunScript(ScriptRequest {
            request_id,
            host_id,
            table_id,
            path: path.to_string(),
            host_name: host_name.to_string(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        }))?;
        let started = std::time::Instant::now();
        let pending = pending.with_deadline(started + timeout + SCRIPT_ANSWER_GRACE);
        let events = cx.events();
        tokio::spawn(async move {
            let answer = pending.wait().await;
            let done = ScriptDone {
                host_id,
                elapsed: started.elapsed(),
                answer,
            };
            let _ = events.send(HceEvent::Script(done));
        });
        Ok(())
    }

    /// The parent ran a host's script: a positive exit status means up,
    /// zero down, -1 that it could not run or was killed at the timeout.
    async fn script_done(
        &mut self,
        done: ScriptDone,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        let outcome = match done.answer {
            Ok(result) => match result.retval {
                code if code > 0 => Outcome::up(HostError::ScriptOk, done.elapsed),
                0 => Outcome::down(HostError::ScriptFail, done.elapsed),
                _ => Outcome::down(HostError::ScriptTimeout, done.elapsed),
            },
            Err(WaitError::Expired) => {
                tracing::warn!("host {}: no script result from the parent", done.host_id);
                Outcome::down(HostError::ScriptTimeout, done.elapsed)
            }
            // A new configuration replaced the host.
            Err(WaitError::Cancelled) => return Ok(()),
        };
        if !self.started || !self.book.contains(done.host_id) {
            return Ok(());
        }
        self.record(done.host_id, &outcome, cx).await?;
        self.sync(cx).await
    }

    /// Tells the parent, the pfe and the relays that the states sent since
    /// the last `Sync` are complete (a round is over), if any changed.
    async fn sync(&mut self, cx: &Context<Self>) -> Result<(), EngineError> {
        if !self.unsynced {
            return Ok(());
        }
        self.unsynced = false;
        cx.report(HceToParent::Sync)?;
        self.tell_peers(HceToPfe::Sync, HceToRelay::Sync).await;
        Ok(())
    }

    /// Sends a host state to the parent, the pfe and every relay.
    async fn publish_everywhere(
        &mut self,
        status: HostStatus,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        self.unsynced = true;
        cx.report(HceToParent::HostStatus(status.clone()))?;
        self.tell_peers(
            HceToPfe::HostStatus(status.clone()),
            HceToRelay::HostStatus(status),
        )
        .await;
        Ok(())
    }

    /// Sends to the pfe and every relay; a peer gone is logged, not fatal
    /// (the parent notices the lost child).
    async fn tell_peers(&mut self, to_pfe: HceToPfe, to_relays: HceToRelay) {
        if let Some(pfe) = &mut self.pfe {
            if let Err(e) = pfe.send(&to_pfe, None).await {
                tracing::warn!("channel to pfe: {e}");
            }
        }
        for relay in &mut self.relays {
            if let Err(e) = relay.send(&to_relays, None).await {
                tracing::warn!("channel to a relay: {e}");
            }
        }
    }
}
