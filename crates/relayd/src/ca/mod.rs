//! ca, the keeper of TLS private keys: relays never hold a private key, they
//! ask their ca instance to sign or decrypt (relayd runs one ca per relay
//! process, `prefork` of them).
//!
//! imsg peers: parent, relay N.
//! - parent: configuration and key files in, nothing else out.
//! - relay N (its own instance): key operations in, results out.
//!
//! Sandbox: chroot, unprivileged user, no capabilities, no_new_privs.
//!
//! TLS comes in a later issue: until then it receives its configuration and
//! answers every key operation with an error instead of a signature. Keys
//! that do not load will be refused at `prepare` (`Refusal::Keypair`), so a
//! reload with a bad key changes nothing.

use crate::engine::{open_peer, ChildError, ChildStart, Context, Engine, EngineError};
use crate::proc::ProcId;
use relayd_config::Config;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::relay_ca::{CaRelayChannel, CaToRelay, RelayToCa};
use relayd_proto::messages::{KeyOperationResult, NoMessage, Refusal};
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

struct Ca {
    config: Config,
}

/// The ca's entry in the process table.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    start.run(|_: &Context<Ca>| {
        Ok(Ca {
            config: Config::default(),
        })
    })
}

impl Engine for Ca {
    type Message = ParentToCa;
    type Report = NoMessage;
    type Event = Infallible;
    type Prepared = Config;
    type Error = EngineError;

    fn prepare(&mut self, config: Config) -> Result<Config, Refusal> {
        Ok(config)
    }

    async fn commit(&mut self, config: Config, _cx: &Context<Self>) -> Result<(), EngineError> {
        self.config = config;
        let tls_relays = self
            .config
            .relays
            .iter()
            .filter(|r| r.listen.iter().any(|l| l.tls))
            .count();
        if tls_relays > 0 {
            tracing::warn!("{tls_relays} TLS relays configured: TLS keys are not implemented yet");
        }
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: ParentToCa,
        _fd: Option<OwnedFd>,
        _cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        match message {
            ParentToCa::RelayFile(file) => tracing::debug!(
                "{:?} file for relay {}: TLS not implemented yet",
                file.kind,
                file.relay_id
            ),
        }
        Ok(())
    }

    /// Its relay instance: the only peer the table gives the ca.
    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        cx: &Context<Self>,
    ) -> Result<(), EngineError> {
        let channel: CaRelayChannel = open_peer(peer, socket)?;
        tokio::spawn(answer_key_operations(cx.id(), channel));
        Ok(())
    }
}

/// Refuses every key operation of the relay: no keys are loaded yet.
async fn answer_key_operations(ca: ProcId, mut relay: CaRelayChannel) {
    loop {
        match relay.recv().await {
            Ok(Some(received)) => {
                let RelayToCa::KeyOperation(op) = received.msg;
                let reply = CaToRelay::KeyOperationResult(KeyOperationResult {
                    request_id: op.request_id,
                    result: Err(format!("{ca}: no private keys loaded")),
                });
                if let Err(e) = relay.send(&reply, None).await {
                    tracing::warn!("channel to relay: {e}");
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("channel from relay: {e}");
                return;
            }
        }
    }
}
