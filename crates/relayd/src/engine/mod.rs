//! The engine runtime: what every child process (hce, pfe, relay N, ca N)
//! runs between its sandbox and its engine. It owns the parent link and the
//! configuration lifecycle once, for every engine, and drives the engine
//! through the [`Engine`] trait.
//!
//! Talks to: the parent (the link on fd 3: lifecycle in, `Ready` and
//! verdicts out, the engine's messages both ways); other children only
//! through the engine (`on_peer` hands it the socket).
//! May: enter the sandbox its table row describes, start a single-threaded
//! tokio runtime, set the log verbosity, accept the peer channels its row
//! allows and refuse the others.
//!
//! A child's life: [`ChildStart::run`] enters the sandbox, starts the
//! runtime and makes the engine; the runtime says `Ready`, then loops over
//! the parent's messages, the engine's own events (`Engine::Event`, sent
//! by its tasks through [`Context::events`]), its timer
//! (`Engine::next_timer`) and SIGTERM, until `Shutdown`, SIGTERM or the end
//! of the parent channel; then `Engine::stop`.
//!
//! Configurations arrive in two phases (see `relayd_proto::messages::
//! lifecycle`): at `ConfigDone` the engine *prepares* the new configuration
//! (checks it and builds what it needs, changing nothing that runs) and the
//! runtime answers the verdict; at `Start` it *commits* it; at `Abort` it
//! drops it and goes on with the old one. So no child applies a
//! configuration another child refused.
//!
//! Layout: `lifecycle` (the state machine, no I/O), `runtime` (the loop),
//! `start` (sandbox and runtime), `link` (the parent channel), `timer`,
//! `peer`, `error`.

mod error;
mod lifecycle;
mod link;
mod peer;
mod runtime;
mod start;
mod timer;
#[cfg(test)]
pub mod toy;

pub use error::{ChildError, EngineError, LinkError, PeerError};
pub use link::ParentSender;
pub use peer::open as open_peer;
/// The runtime's loop, for a channel and an engine made inside the runtime:
/// [`ChildStart::run`] runs it in the sandbox, tests on a socketpair.
#[cfg(test)]
pub use runtime::serve;
pub use start::{AllowedPeer, ChildStart};
pub use timer::{earliest, Periodic};

use crate::proc::ProcId;
use relayd_config::Config;
use relayd_proto::messages::Refusal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One engine, as the runtime drives it. Every method runs on the child's
/// single runtime thread, one at a time; an `Err` ends the child.
// Children run a current-thread runtime: the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Engine: Sized {
    /// What the parent sends it beyond the lifecycle.
    type Message: DeserializeOwned + Serialize;
    /// What it sends the parent beyond the lifecycle.
    type Report: Serialize + Send + Sync + 'static;
    /// What its own tasks tell it (check rounds, requests from sessions).
    type Event: Send + 'static;
    /// A configuration checked and ready to commit.
    type Prepared;
    type Error: std::error::Error + Send + Sync + 'static;

    /// A new configuration is being sent: drop what came with the last one
    /// that was sent but not prepared (e.g. listening sockets).
    fn reset(&mut self) {}

    /// Checks `config` (and what arrived with it) and builds what running it
    /// needs, changing nothing that runs now.
    fn prepare(&mut self, config: Config) -> Result<Self::Prepared, Refusal>;

    /// Runs the prepared configuration, in place of the running one.
    async fn commit(
        &mut self,
        prepared: Self::Prepared,
        cx: &Context<Self>,
    ) -> Result<(), Self::Error>;

    /// The prepared configuration will not run (another child refused).
    fn abort(&mut self, prepared: Self::Prepared) {
        drop(prepared);
    }

    /// One of the parent's engine messages, with its descriptor.
    async fn on_message(
        &mut self,
        message: Self::Message,
        fd: Option<OwnedFd>,
        cx: &Context<Self>,
    ) -> Result<(), Self::Error>;

    /// A channel to another child (one its table row allows). An engine
    /// whose row gives it no peers keeps this default: the runtime refuses
    /// such channels before they get here, so reaching it is a table that
    /// disagrees with the engine, logged, and the socket closed.
    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        cx: &Context<Self>,
    ) -> Result<(), Self::Error> {
        tracing::warn!("channel from {peer} refused: {} has no peers", cx.id());
        drop(socket);
        Ok(())
    }

    /// One of its own events.
    async fn on_event(
        &mut self,
        event: Self::Event,
        cx: &Context<Self>,
    ) -> Result<(), Self::Error> {
        let _ = (event, cx);
        Ok(())
    }

    /// When [`Engine::on_timer`] is due next, if ever.
    fn next_timer(&self) -> Option<Instant> {
        None
    }

    async fn on_timer(&mut self, cx: &Context<Self>) -> Result<(), Self::Error> {
        let _ = cx;
        Ok(())
    }

    /// The child is leaving (by any way): undo what must not outlive it.
    async fn stop(&mut self) {}
}

/// What an engine may use of the runtime.
pub struct Context<E: Engine> {
    id: ProcId,
    parent: ParentSender<E::Report>,
    events: mpsc::UnboundedSender<E::Event>,
}

impl<E: Engine> Context<E> {
    /// This process.
    pub fn id(&self) -> ProcId {
        self.id
    }

    /// Sends a report to the parent.
    pub fn report(&self, report: E::Report) -> Result<(), LinkError> {
        self.parent.report(report)
    }

    /// Where the engine's tasks send its events.
    pub fn events(&self) -> mpsc::UnboundedSender<E::Event> {
        self.events.clone()
    }
}
