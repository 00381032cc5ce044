//! From the process table's row to a running engine: the sandbox, the
//! runtime, then the loop.

use super::error::ChildError;
use super::{runtime, Context, Engine};
use crate::privsep::{die_with_parent, Sandbox};
use crate::proc::{Instances, Pairing, ProcId, Sandboxing};
use caps::Capability;
use nix::sys::signal::Signal;
use relayd_proto::ProcessKind;
use std::os::unix::net::UnixStream;

/// A kind of process this one may have a channel to.
#[derive(Debug, Clone, Copy)]
pub struct AllowedPeer {
    pub kind: ProcessKind,
    pub pairing: Pairing,
    /// How that kind is numbered, to name its processes.
    pub instances: Instances,
}

/// Everything a child needs from its table row, and its parent channel.
pub struct ChildStart {
    pub id: ProcId,
    pub parent: UnixStream,
    pub sandbox: Sandboxing,
    pub capabilities: &'static [Capability],
    pub peers: Vec<AllowedPeer>,
}

impl ChildStart {
    /// Enters the sandbox, starts the runtime and runs the engine `make`
    /// builds (inside the runtime) until the child leaves. Call with
    /// everything the sandbox will forbid already opened.
    pub fn run<E: Engine>(
        self,
        make: impl FnOnce(&Context<E>) -> Result<E, E::Error>,
    ) -> Result<(), ChildError> {
        if self.sandbox != Sandboxing::None {
            #[cfg(debug_assertions)]
            crate::sandbox::learn(self.id.kind);
            Sandbox::from_env().enter(self.capabilities)?;
        }
        die_with_parent(Signal::SIGTERM)?;
        tracing::debug!("sandboxed, uid {}", nix::unistd::getuid());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ChildError::Runtime)?;
        if let Sandboxing::Confined { calls, files, tcp } = self.sandbox {
            // Before the first byte from the parent is read.
            crate::sandbox::confine(self.id.kind, calls, files, tcp)?;
            #[cfg(debug_assertions)]
            forbidden_call_hook(self.id.kind);
        }
        runtime.block_on(runtime::serve(self.id, self.parent, self.peers, make))
    }
}

/// Debug builds only, for the sandbox's end-to-end test: with
/// `RELAYD_TEST_FORBIDDEN_CALL=KIND` in the environment, a child of that
/// kind signals another process (init) once confined, as a compromised
/// process signalling a sibling would; its sandbox must kill it.
#[cfg(debug_assertions)]
fn forbidden_call_hook(kind: ProcessKind) {
    if std::env::var("RELAYD_TEST_FORBIDDEN_CALL").is_ok_and(|wanted| wanted == kind.title()) {
        // SAFETY: kill(2) with signal 0 only checks; the filter traps it.
        unsafe { libc::kill(1, 0) };
    }
}
