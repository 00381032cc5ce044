//! What ends a child: the errors of the runtime layer, and the engine's own
//! errors carried through it.

use crate::privsep::SandboxError;
use crate::proc::ProcId;
use relayd_proto::messages::Generation;
use relayd_proto::ImsgError;
use std::io;

/// The parent channel failed, sending or receiving (its end of file is not
/// an error: the child then leaves quietly).
#[derive(Debug, thiserror::Error)]
#[error("parent channel: {0}")]
pub struct LinkError(#[from] pub ImsgError);

/// A channel to another child could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("channel to {peer}: {source}")]
pub struct PeerError {
    pub peer: ProcId,
    pub source: io::Error,
}

/// What ends an engine whose only troubles are its channels (the hce, the
/// pfe and the ca; the relay adds its own).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Parent(#[from] LinkError),
    #[error(transparent)]
    Peer(#[from] PeerError),
}

/// The parent sent a lifecycle message that makes no sense now: a bug on
/// its side, so the child stops rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{message} while {stage}")]
    Unexpected {
        message: &'static str,
        stage: &'static str,
    },
    #[error("{message} for configuration {got}, but configuration {expected} is prepared")]
    WrongGeneration {
        message: &'static str,
        expected: Generation,
        got: Generation,
    },
}

/// Why a child process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Confine(#[from] crate::sandbox::ConfineError),
    #[error("cannot start the runtime: {0}")]
    Runtime(io::Error),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("parent sent {0}")]
    Lifecycle(#[from] LifecycleError),
    #[error("channel to {peer} arrived without its socket")]
    PeerWithoutDescriptor { peer: ProcId },
    /// The engine's own error (its module's error type).
    #[error(transparent)]
    Engine(Box<dyn std::error::Error + Send + Sync>),
}

impl ChildError {
    pub fn engine(error: impl std::error::Error + Send + Sync + 'static) -> ChildError {
        ChildError::Engine(Box::new(error))
    }
}
