//! What goes wrong in the parent: errors that end the daemon
//! ([`ParentError`]), and those a reload or a control command reports back
//! ([`ReloadError`], [`CommandError`]).

use super::configure::LoadError;
use super::mirror::NotFound;
use super::routers::RouterError;
use super::sockets::SocketError;
use crate::control::ControlError;
use crate::joined::Joined;
use crate::privsep::SandboxError;
use crate::proc::ProcId;
use relayd_proto::messages::Refusal;
use relayd_proto::{ImsgError, ProcessKind};
use std::io;

/// How a child's channel ended.
#[derive(Debug, thiserror::Error)]
pub enum ChannelEnd {
    #[error("channel closed")]
    Closed,
    #[error("{0}")]
    Failed(ImsgError),
}

/// Why the daemon stops, or cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ParentError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("socketpair for {what}: {source}")]
    Socketpair { what: String, source: io::Error },
    #[error("cannot start {id}: {source}")]
    Spawn { id: ProcId, source: io::Error },
    #[error("channel to {id}: {source}")]
    Channel { id: ProcId, source: ImsgError },
    #[error("no {0} is running")]
    NoSuchChild(ProcId),
    #[error("a message for the {kind} cannot go to {id}")]
    WrongReceiver { id: ProcId, kind: ProcessKind },
    #[error("lost child: {id} ({end})")]
    LostChild { id: ProcId, end: ChannelEnd },
    #[error("lost child: {} did not acknowledge the configuration", Joined(.0, ", "))]
    ConfigTimeout(Vec<ProcId>),
    #[error("{by} refused the configuration: {refusal}")]
    Refused { by: ProcId, refusal: Refusal },
    #[error(transparent)]
    Sockets(#[from] SocketError),
    /// The routers were checked at load; `rt_realms` changed since.
    #[error(transparent)]
    Routers(#[from] RouterError),
    /// A TLS file could be opened at load, not any more.
    #[error(transparent)]
    TlsFile(#[from] super::tls_files::OpenError),
    #[error(transparent)]
    TicketKeys(relayd_tls::tickets::RandomError),
}

/// Why a reload (SIGHUP, `relayctl reload|load`) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("a configuration is still being loaded")]
    Busy,
    #[error("relayd is draining: it exits once its sessions end")]
    Draining,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Parent(#[from] ParentError),
}

/// Why a control command failed; its text is relayctl's answer.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Parent(#[from] ParentError),
}
