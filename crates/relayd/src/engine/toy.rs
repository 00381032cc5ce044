//! A toy engine for tests of the runtime and of the parent's rollouts: it
//! runs nothing but the `prefork` number of its configuration, refuses one
//! number of its choosing, and records what it was asked to do.

use super::{Context, Engine};
use crate::proc::ProcId;
use relayd_config::Config;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::{NoMessage, Refusal};
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// What a toy saw, for the test to look at.
#[derive(Debug, Default)]
pub struct Seen {
    /// The `prefork` of the configuration it runs.
    pub running: Option<u32>,
    /// Prepared configurations it dropped.
    pub aborted: u32,
    /// The peers it was handed.
    pub peers: Vec<ProcId>,
}

pub struct Toy {
    /// Refuses configurations with this `prefork`.
    pub refuses: u32,
    pub seen: Arc<Mutex<Seen>>,
}

impl Toy {
    /// A toy refusing `refuses`, and where to look at what it saw.
    pub fn new(refuses: u32) -> (Toy, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let toy = Toy {
            refuses,
            seen: seen.clone(),
        };
        (toy, seen)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine for Toy {
    type Message = ParentToCa;
    type Report = NoMessage;
    type Event = Infallible;
    type Prepared = u32;
    type Error = Infallible;

    fn prepare(&mut self, config: Config) -> Result<u32, Refusal> {
        if config.global.prefork == self.refuses {
            return Err(Refusal::Relays {
                reason: format!("prefork {} is not for me", self.refuses),
            });
        }
        Ok(config.global.prefork)
    }

    async fn commit(&mut self, prefork: u32, _cx: &Context<Self>) -> Result<(), Infallible> {
        self.seen().running = Some(prefork);
        Ok(())
    }

    fn abort(&mut self, _prepared: u32) {
        self.seen().aborted += 1;
    }

    async fn on_message(
        &mut self,
        _message: ParentToCa,
        _fd: Option<OwnedFd>,
        _cx: &Context<Self>,
    ) -> Result<(), Infallible> {
        Ok(())
    }

    fn on_peer(
        &mut self,
        peer: ProcId,
        _socket: UnixStream,
        _cx: &Context<Self>,
    ) -> Result<(), Infallible> {
        self.seen().peers.push(peer);
        Ok(())
    }
}
