//! The parent's side of the process tree: starting every child with its
//! channel, connecting the children to each other, sending to them, and
//! noticing when one goes away.
//!
//! Channels, as relayd has them (each a socketpair; the child-to-child ones
//! are created here and handed to both ends with `PeerChannel` messages):
//!
//! | channel | ends |
//! | --- | --- |
//! | parent <-> hce, pfe, relay N, ca N | one per child |
//! | hce -> pfe | host states |
//! | hce -> relay N | host states, one per relay process |
//! | pfe <-> relay N | host states out; statistics, sessions in |
//! | relay N <-> ca N | key operations, instance to instance |

use crate::proc::{spawn, ChildSpec, ProcId};
use relayd_proto::messages::parent_ca::{CaToParent, ParentToCa};
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::PeerChannel;
use relayd_proto::ConfigPart;
use relayd_proto::{ImsgChannel, ImsgReader, ImsgWriter, ProcessKind, Received};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Something a child sent, or the end of its channel.
pub enum ChildEvent {
    Hce(Received<HceToParent>),
    Pfe(Received<PfeToParent>),
    Relay(u32, Received<RelayToParent>),
    Ca(u32, Received<CaToParent>),
    /// The channel ended: the child exited, crashed or sent garbage.
    Closed(ProcId, String),
}

/// The messages every child understands, whatever its channel's enum.
#[derive(Debug, Clone)]
pub enum Common {
    Reset,
    Config(Box<ConfigPart>),
    ConfigDone,
    Start,
    SetVerbose(u32),
    PeerChannel(PeerChannel),
    Shutdown,
}

macro_rules! to_channel_enum {
    ($enum:ident, $common:expr) => {
        match $common {
            Common::Reset => $enum::Reset,
            Common::Config(part) => $enum::Config(*part),
            Common::ConfigDone => $enum::ConfigDone,
            Common::Start => $enum::Start,
            Common::SetVerbose(level) => $enum::SetVerbose(level),
            Common::PeerChannel(peer) => $enum::PeerChannel(peer),
            Common::Shutdown => $enum::Shutdown,
        }
    };
}

/// The running children and the parent's writing ends of their channels.
pub struct ProcessTree {
    processes: Vec<(ProcId, Child)>,
    hce: ImsgWriter<ParentToHce>,
    pfe: ImsgWriter<ParentToPfe>,
    relays: Vec<ImsgWriter<ParentToRelay>>,
    cas: Vec<ImsgWriter<ParentToCa>>,
}

/// How children are started.
pub struct TreeOptions {
    pub prefork: u32,
    pub foreground: bool,
    pub verbosity: u8,
}

impl ProcessTree {
    /// Starts hce, pfe, `prefork` relays and as many cas, each reporting to
    /// `events`, then connects them to each other. Must run in the runtime.
    pub async fn start(
        options: &TreeOptions,
        events: UnboundedSender<ChildEvent>,
    ) -> Result<ProcessTree, String> {
        let mut processes = Vec::new();
        let mut start_one = |id: ProcId| -> Result<UnixStream, String> {
            let (ours, theirs) =
                UnixStream::pair().map_err(|e| format!("socketpair for {id}: {e}"))?;
            let child = spawn(ChildSpec {
                id,
                parent_channel: OwnedFd::from(theirs),
                foreground: options.foreground,
                verbosity: options.verbosity,
            })
            .map_err(|e| format!("cannot start {id}: {e}"))?;
            tracing::debug!("started {id}, pid {}", child.id());
            processes.push((id, child));
            Ok(ours)
        };
        let hce = start_one(ProcId::new(ProcessKind::Hce, 0))?;
        let pfe = start_one(ProcId::new(ProcessKind::Pfe, 0))?;
        let mut relays = Vec::new();
        let mut cas = Vec::new();
        for instance in 0..options.prefork {
            relays.push(start_one(ProcId::new(ProcessKind::Relay, instance))?);
        }
        for instance in 0..options.prefork {
            cas.push(start_one(ProcId::new(ProcessKind::Ca, instance))?);
        }
        let mut tree = ProcessTree {
            processes,
            hce: listen(
                hce,
                ProcId::new(ProcessKind::Hce, 0),
                &events,
                ChildEvent::Hce,
            )?,
            pfe: listen(
                pfe,
                ProcId::new(ProcessKind::Pfe, 0),
                &events,
                ChildEvent::Pfe,
            )?,
            relays: Vec::new(),
            cas: Vec::new(),
        };
        for (instance, socket) in (0u32..).zip(relays) {
            let id = ProcId::new(ProcessKind::Relay, instance);
            let writer = listen(socket, id, &events, move |r| ChildEvent::Relay(instance, r))?;
            tree.relays.push(writer);
        }
        for (instance, socket) in (0u32..).zip(cas) {
            let id = ProcId::new(ProcessKind::Ca, instance);
            let writer = listen(socket, id, &events, move |r| ChildEvent::Ca(instance, r))?;
            tree.cas.push(writer);
        }
        tree.connect_peers().await?;
        for (family, socket) in crate::parent::sockets::open_icmp_sockets() {
            tree.send_hce(&ParentToHce::IcmpSocket(family), Some(socket))
                .await?;
        }
        Ok(tree)
    }

    /// Every child, in start order.
    pub fn ids(&self) -> Vec<ProcId> {
        self.processes.iter().map(|(id, _)| *id).collect()
    }

    pub fn pids(&self) -> Vec<(ProcId, u32)> {
        self.processes.iter().map(|(id, c)| (*id, c.id())).collect()
    }

    pub fn relay_count(&self) -> u32 {
        u32::try_from(self.relays.len()).unwrap_or(u32::MAX)
    }

    async fn connect_peers(&mut self) -> Result<(), String> {
        let hce = ProcId::new(ProcessKind::Hce, 0);
        let pfe = ProcId::new(ProcessKind::Pfe, 0);
        let mut pairs = vec![(hce, pfe)];
        for instance in 0..self.relay_count() {
            let relay = ProcId::new(ProcessKind::Relay, instance);
            pairs.push((hce, relay));
            pairs.push((pfe, relay));
            pairs.push((relay, ProcId::new(ProcessKind::Ca, instance)));
        }
        for (a, b) in pairs {
            let (a_end, b_end) =
                UnixStream::pair().map_err(|e| format!("socketpair {a} <-> {b}: {e}"))?;
            self.send_common(a, Common::PeerChannel(peer_channel(b)), Some(a_end.into()))
                .await?;
            self.send_common(b, Common::PeerChannel(peer_channel(a)), Some(b_end.into()))
                .await?;
        }
        Ok(())
    }

    /// Sends one of the messages all children understand.
    pub async fn send_common(
        &mut self,
        to: ProcId,
        msg: Common,
        fd: Option<OwnedFd>,
    ) -> Result<(), String> {
        let result = match to.kind {
            ProcessKind::Hce => self.hce.send(&to_channel_enum!(ParentToHce, msg), fd).await,
            ProcessKind::Pfe => self.pfe.send(&to_channel_enum!(ParentToPfe, msg), fd).await,
            ProcessKind::Relay => match self.relays.get_mut(to.instance as usize) {
                Some(w) => w.send(&to_channel_enum!(ParentToRelay, msg), fd).await,
                None => return Err(format!("no {to}")),
            },
            ProcessKind::Ca => match self.cas.get_mut(to.instance as usize) {
                Some(w) => w.send(&to_channel_enum!(ParentToCa, msg), fd).await,
                None => return Err(format!("no {to}")),
            },
            ProcessKind::Parent => return Err("the parent is not its own child".into()),
        };
        result.map_err(|e| format!("channel to {to}: {e}"))
    }

    /// Sends `msg` to every child; the first failure is returned after all
    /// were tried.
    pub async fn broadcast(&mut self, msg: Common) -> Result<(), String> {
        let mut first_error = None;
        for id in self.ids() {
            if let Err(e) = self.send_common(id, msg.clone(), None).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub async fn send_hce(&mut self, msg: &ParentToHce, fd: Option<OwnedFd>) -> Result<(), String> {
        self.hce
            .send(msg, fd)
            .await
            .map_err(|e| format!("channel to hce: {e}"))
    }

    pub async fn send_pfe(&mut self, msg: &ParentToPfe) -> Result<(), String> {
        self.pfe
            .send(msg, None)
            .await
            .map_err(|e| format!("channel to pfe: {e}"))
    }

    pub async fn send_relay(
        &mut self,
        instance: u32,
        msg: &ParentToRelay,
        fd: Option<OwnedFd>,
    ) -> Result<(), String> {
        let writer = self
            .relays
            .get_mut(instance as usize)
            .ok_or_else(|| format!("no relay {}", instance + 1))?;
        writer
            .send(msg, fd)
            .await
            .map_err(|e| format!("channel to relay {}: {e}", instance + 1))
    }

    /// Collects children that exited, without waiting.
    pub fn reap(&mut self) -> Vec<(ProcId, ExitStatus)> {
        let mut gone = Vec::new();
        self.processes
            .retain_mut(|(id, child)| match child.try_wait() {
                Ok(Some(status)) => {
                    gone.push((*id, status));
                    false
                }
                _ => true,
            });
        gone
    }

    /// Asks every child to leave, waits up to `grace`, then kills the rest.
    pub async fn shut_down(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        // A child that stopped reading must not hold the shutdown up.
        let _ = tokio::time::timeout(grace, self.broadcast(Common::Shutdown)).await;
        loop {
            for (id, status) in self.reap() {
                tracing::debug!("{id} exited: {status}");
            }
            if self.processes.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (id, child) in &mut self.processes {
            tracing::warn!("{id} did not exit in time, killing it");
            let _ = child.kill();
            let _ = child.wait();
        }
        self.processes.clear();
    }
}

fn peer_channel(id: ProcId) -> PeerChannel {
    PeerChannel {
        peer: id.kind,
        instance: id.instance,
    }
}

/// Wraps the parent's end of a child's channel: a task forwards what the
/// child sends to `events`; the writer is returned.
fn listen<Tx, Rx>(
    socket: UnixStream,
    id: ProcId,
    events: &UnboundedSender<ChildEvent>,
    wrap: impl Fn(Received<Rx>) -> ChildEvent + Send + 'static,
) -> Result<ImsgWriter<Tx>, String>
where
    Tx: Serialize,
    Rx: DeserializeOwned + Serialize + Send + 'static,
{
    let channel: ImsgChannel<Tx, Rx> =
        ImsgChannel::new(socket).map_err(|e| format!("channel to {id}: {e}"))?;
    let (reader, writer) = channel.split();
    tokio::spawn(forward_events(reader, id, events.clone(), wrap));
    Ok(writer)
}

async fn forward_events<Rx>(
    mut reader: ImsgReader<Rx>,
    id: ProcId,
    events: UnboundedSender<ChildEvent>,
    wrap: impl Fn(Received<Rx>) -> ChildEvent,
) where
    Rx: DeserializeOwned + Serialize,
{
    loop {
        let event = match reader.recv().await {
            Ok(Some(received)) => wrap(received),
            Ok(None) => ChildEvent::Closed(id, "channel closed".into()),
            Err(e) => ChildEvent::Closed(id, e.to_string()),
        };
        let closed = matches!(event, ChildEvent::Closed(..));
        if events.send(event).is_err() || closed {
            return;
        }
    }
}

/// How a child ended, for the log: `exited with status 1`, `terminated by
/// signal 9`.
pub fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("terminated by signal {signal}"),
        _ => format!("ended: {status}"),
    }
}
