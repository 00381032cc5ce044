//! ca, the keeper of TLS private keys: relays never hold a private key, they
//! ask their ca instance to sign or decrypt (relayd runs one ca per relay
//! process, `prefork` of them).
//!
//! imsg peers: parent (config, key files), its relay instance (key
//! operations in, results out).
//! Sandbox: chroot `/var/empty`, user `_relayd`, no capabilities,
//! `no_new_privs`.
//!
//! TLS comes in a later issue: until then it receives its configuration and
//! answers every key operation with an error instead of a signature.

use crate::child::{from_parent, peer_socket, terminated};
use relayd_config::Config;
use relayd_proto::messages::parent_ca::{CaSide, CaToParent, ParentToCa};
use relayd_proto::messages::{relay_ca, KeyOperationResult, PeerChannel};
use relayd_proto::{ConfigAssembler, ImsgChannel, ProcessKind, Received};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

struct Ca {
    parent: CaSide,
    assembler: ConfigAssembler,
    config: Config,
}

pub async fn run(instance: u32, parent: UnixStream) -> Result<(), String> {
    let parent: CaSide = ImsgChannel::new(parent).map_err(|e| format!("parent channel: {e}"))?;
    let mut ca = Ca {
        parent,
        assembler: ConfigAssembler::new(),
        config: Config::default(),
    };
    ca.send_parent(&CaToParent::Ready).await?;
    let stop = terminated();
    tokio::pin!(stop);
    loop {
        let received = tokio::select! {
            received = ca.parent.recv() => received,
            _ = &mut stop => {
                tracing::debug!("terminated by signal");
                return Ok(());
            }
        };
        {
            let Some(received) = from_parent(received)? else {
                return Ok(());
            };
            if !ca.handle(instance, received).await? {
                return Ok(());
            }
        }
    }
}

impl Ca {
    /// Handles one message from the parent; `false` means shut down.
    async fn handle(
        &mut self,
        instance: u32,
        received: Received<ParentToCa>,
    ) -> Result<bool, String> {
        match received.msg {
            ParentToCa::PeerChannel(peer) => add_peer(instance, peer, received.fd)?,
            ParentToCa::Reset => self.assembler.reset(),
            ParentToCa::Config(part) => self.assembler.add(part),
            ParentToCa::ConfigDone => {
                self.config = self.assembler.finish();
                self.send_parent(&CaToParent::ConfigDone).await?;
            }
            ParentToCa::Start => {
                let tls_relays = self
                    .config
                    .relays
                    .iter()
                    .filter(|r| r.listen.iter().any(|l| l.tls))
                    .count();
                if tls_relays > 0 {
                    tracing::warn!(
                        "{tls_relays} TLS relays configured: TLS keys are not implemented yet"
                    );
                }
            }
            ParentToCa::RelayFile(file) => {
                tracing::debug!(
                    "{:?} file for relay {}: TLS not implemented yet",
                    file.kind,
                    file.relay_id
                )
            }
            ParentToCa::SetVerbose(level) => {
                crate::log::set_verbosity(u8::try_from(level).unwrap_or(u8::MAX))
            }
            ParentToCa::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    async fn send_parent(&mut self, msg: &CaToParent) -> Result<(), String> {
        self.parent
            .send(msg, None)
            .await
            .map_err(|e| format!("parent channel: {e}"))
    }
}

fn add_peer(instance: u32, peer: PeerChannel, fd: Option<OwnedFd>) -> Result<(), String> {
    let socket = peer_socket(fd)?;
    if peer.peer != ProcessKind::Relay {
        tracing::warn!("unexpected channel to {}, closed", peer.peer);
        return Ok(());
    }
    let channel: relay_ca::CaSide =
        ImsgChannel::new(socket).map_err(|e| format!("channel to relay: {e}"))?;
    tokio::spawn(answer_key_operations(instance, channel));
    Ok(())
}

/// Refuses every key operation of the relay: no keys are loaded yet.
async fn answer_key_operations(instance: u32, mut relay: relay_ca::CaSide) {
    loop {
        match relay.recv().await {
            Ok(Some(received)) => {
                let relay_ca::RelayToCa::KeyOperation(op) = received.msg;
                let reply = relay_ca::CaToRelay::KeyOperationResult(KeyOperationResult {
                    request_id: op.request_id,
                    result: Err(format!("ca {}: no private keys loaded", instance + 1)),
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
