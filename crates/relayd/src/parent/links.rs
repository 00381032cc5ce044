//! The parent's ends of its children's channels: one sender per child (any
//! task may clone it), and one task per child reading what it sends into
//! the main loop's [`ChildEvent`]s.
//!
//! The lifecycle (`Lifecycle`) goes to every child the same way; the
//! engines' own messages travel as [`EngineMessage`], which is checked
//! against the kind of the child it is sent to.

use super::error::{ChannelEnd, ParentError};
use crate::proc::ProcId;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::parent_hce::{HceToParent, ParentToHce};
use relayd_proto::messages::parent_metrics::{MetricsToParent, ParentToMetrics};
use relayd_proto::messages::parent_pfe::{ParentToPfe, PfeToParent};
use relayd_proto::messages::parent_relay::{ParentToRelay, RelayToParent};
use relayd_proto::messages::{
    Lifecycle, LifecycleAnswer, NoMessage, PeerChannel, ToChild, ToParent,
};
use relayd_proto::{ImsgChannel, ImsgReader, ImsgSender, ProcessKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use tokio::sync::mpsc::UnboundedSender;

/// An engine message for one child, whichever kind it is. On the wire it is
/// the inner message itself (`untagged`), so each child reads its own enum.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EngineMessage {
    Hce(ParentToHce),
    Pfe(ParentToPfe),
    Relay(ParentToRelay),
    Ca(ParentToCa),
    Metrics(ParentToMetrics),
}

impl EngineMessage {
    /// The kind of child that understands it.
    pub fn receiver(&self) -> ProcessKind {
        match self {
            EngineMessage::Hce(_) => ProcessKind::Hce,
            EngineMessage::Pfe(_) => ProcessKind::Pfe,
            EngineMessage::Relay(_) => ProcessKind::Relay,
            EngineMessage::Ca(_) => ProcessKind::Ca,
            EngineMessage::Metrics(_) => ProcessKind::Metrics,
        }
    }
}

/// What a child reported beyond the lifecycle.
#[derive(Debug)]
pub enum Report {
    Hce(HceToParent),
    Pfe(PfeToParent),
    Relay(RelayToParent),
    Metrics(MetricsToParent),
}

/// Something a child sent, or the end of its channel.
#[derive(Debug)]
pub enum ChildEvent {
    Lifecycle(ProcId, LifecycleAnswer),
    Report(ProcId, Report),
    /// The channel ended: the child exited, crashed or sent garbage.
    Closed(ProcId, ChannelEnd),
}

/// The parent's sending end to one child.
#[derive(Clone)]
pub struct ChildLink {
    id: ProcId,
    sender: ImsgSender<ToChild<EngineMessage>>,
}

impl ChildLink {
    pub fn id(&self) -> ProcId {
        self.id
    }

    /// One of the child's engine messages (and its descriptor).
    pub fn send(&self, message: EngineMessage, fd: Option<OwnedFd>) -> Result<(), ParentError> {
        if message.receiver() != self.id.kind {
            return Err(ParentError::WrongReceiver {
                id: self.id,
                kind: message.receiver(),
            });
        }
        self.queue(ToChild::Engine(message), fd)
    }

    pub fn lifecycle(&self, message: Lifecycle, fd: Option<OwnedFd>) -> Result<(), ParentError> {
        self.queue(ToChild::Lifecycle(message), fd)
    }

    fn queue(
        &self,
        message: ToChild<EngineMessage>,
        fd: Option<OwnedFd>,
    ) -> Result<(), ParentError> {
        self.sender
            .send(message, fd)
            .map_err(|source| ParentError::Channel {
                id: self.id,
                source,
            })
    }
}

/// Every child's link, in start order.
#[derive(Default)]
pub struct Links {
    children: Vec<ChildLink>,
}

impl Links {
    /// Takes the parent's end of `id`'s channel: what the child sends
    /// arrives as `events`. Inside the runtime.
    pub fn open(
        &mut self,
        id: ProcId,
        socket: UnixStream,
        events: &UnboundedSender<ChildEvent>,
    ) -> Result<(), ParentError> {
        let sender = match id.kind {
            ProcessKind::Hce => open_channel(id, socket, events, Report::Hce)?,
            ProcessKind::Pfe => open_channel(id, socket, events, Report::Pfe)?,
            ProcessKind::Relay => open_channel(id, socket, events, Report::Relay)?,
            ProcessKind::Metrics => open_channel(id, socket, events, Report::Metrics)?,
            ProcessKind::Ca => {
                open_channel(id, socket, events, |nothing: NoMessage| match nothing {})?
            }
            ProcessKind::Parent => return Err(ParentError::NoSuchChild(id)),
        };
        self.children.push(ChildLink { id, sender });
        Ok(())
    }

    pub fn ids(&self) -> Vec<ProcId> {
        self.children.iter().map(ChildLink::id).collect()
    }

    /// The processes of `kind`.
    pub fn of_kind(&self, kind: ProcessKind) -> impl Iterator<Item = &ChildLink> {
        self.children
            .iter()
            .filter(move |link| link.id.kind == kind)
    }

    pub fn get(&self, id: ProcId) -> Result<&ChildLink, ParentError> {
        self.children
            .iter()
            .find(|link| link.id == id)
            .ok_or(ParentError::NoSuchChild(id))
    }

    /// Sends `message` to every child; the first failure is returned after
    /// all were tried.
    pub fn broadcast(&self, message: &Lifecycle) -> Result<(), ParentError> {
        let mut first_error = None;
        for link in &self.children {
            if let Err(e) = link.lifecycle(message.clone(), None) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends an engine message to every process of its kind.
    pub fn to_every(&self, message: impl Fn() -> EngineMessage) -> Result<(), ParentError> {
        let kind = message().receiver();
        for link in self.of_kind(kind) {
            link.send(message(), None)?;
        }
        Ok(())
    }

    /// Makes a socketpair for each pair and hands one end to each side.
    pub fn connect_peers(&self, mesh: &[(ProcId, ProcId)]) -> Result<(), ParentError> {
        for &(a, b) in mesh {
            let (a_end, b_end) = UnixStream::pair().map_err(|source| ParentError::Socketpair {
                what: format!("{a} <-> {b}"),
                source,
            })?;
            self.get(a)?
                .lifecycle(Lifecycle::PeerChannel(peer_channel(b)), Some(a_end.into()))?;
            self.get(b)?
                .lifecycle(Lifecycle::PeerChannel(peer_channel(a)), Some(b_end.into()))?;
        }
        Ok(())
    }
}

fn peer_channel(id: ProcId) -> PeerChannel {
    PeerChannel {
        peer: id.kind,
        instance: id.instance(),
    }
}

/// Opens a channel whose child reports `R`, wrapped into [`Report`] by
/// `wrap`; a task forwards what arrives.
fn open_channel<R>(
    id: ProcId,
    socket: UnixStream,
    events: &UnboundedSender<ChildEvent>,
    wrap: fn(R) -> Report,
) -> Result<ImsgSender<ToChild<EngineMessage>>, ParentError>
where
    R: DeserializeOwned + Serialize + Send + 'static,
{
    let channel: ImsgChannel<ToChild<EngineMessage>, ToParent<R>> = ImsgChannel::new(socket)
        .map_err(|e| ParentError::Channel {
            id,
            source: e.into(),
        })?;
    let (reader, writer) = channel.split();
    tokio::spawn(forward_events(reader, id, events.clone(), wrap));
    let (sender, _writer_task) = writer.into_sender();
    Ok(sender)
}

async fn forward_events<R>(
    mut reader: ImsgReader<ToParent<R>>,
    id: ProcId,
    events: UnboundedSender<ChildEvent>,
    wrap: fn(R) -> Report,
) where
    R: DeserializeOwned + Serialize,
{
    loop {
        let event = match reader.recv().await {
            Ok(Some(received)) => match received.msg {
                ToParent::Lifecycle(answer) => ChildEvent::Lifecycle(id, answer),
                ToParent::Engine(report) => ChildEvent::Report(id, wrap(report)),
            },
            Ok(None) => ChildEvent::Closed(id, ChannelEnd::Closed),
            Err(e) => ChildEvent::Closed(id, ChannelEnd::Failed(e)),
        };
        let closed = matches!(event, ChildEvent::Closed(..));
        if events.send(event).is_err() || closed {
            return;
        }
    }
}
