//! ca, the keeper of TLS private keys: relays never hold a private key,
//! they ask their ca instance for each signature (relayd runs one ca per
//! relay process, `prefork` of them).
//!
//! imsg peers: parent, relay N.
//! - parent: configuration and key files in (each private key with its
//!   certificate, as descriptors; an inspection CA key with the CA
//!   certificate, decrypted here), nothing else out.
//! - relay N (its own instance): signature requests in (key id = SHA-256
//!   of the public key, TLS signature scheme, message), signatures or why
//!   not out, by request id. Signing is the only operation: there is no
//!   decryption, and a scheme that does not fit the key is refused. TLS
//!   inspection's certificates are signed the same way: the relay builds
//!   the copy of the backend's certificate, the CA key here signs it.
//!
//! Sandbox: chroot, unprivileged user, no capabilities, no_new_privs, seccomp, landlock.
//! (`sandbox`: the calls of `sandbox/calls/ca.rs`, no files). Not
//! dumpable (PR_SET_DUMPABLE 0): the relays run as the same user, and a
//! compromised relay must not read this process's memory or trace it.
//!
//! Keys that do not load, or that are not their certificate's, refuse the
//! configuration at `prepare` (`Refusal::Keypair`), so a reload with a bad
//! key changes nothing. After a reload the keys of the configuration before
//! are kept too, until the next one: a handshake that started on an old
//! listener still gets its signature.

mod keys;

use crate::engine::{open_peer, ChildError, ChildStart, Context, Engine, EngineError};
use crate::proc::ProcId;
use keys::{KeyFile, Keys};
use relayd_config::Config;
use relayd_proto::messages::parent_ca::ParentToCa;
use relayd_proto::messages::relay_ca::{CaRelayChannel, CaToRelay, RelayToCa};
use relayd_proto::messages::{KeyOperationResult, NoMessage, Refusal};
use relayd_tls::sign::KeyStore;
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// Why a ca process stops.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot make the process undumpable: {0}")]
    Dumpable(nix::Error),
}

impl From<crate::engine::LinkError> for CaError {
    fn from(e: crate::engine::LinkError) -> Self {
        CaError::Engine(e.into())
    }
}

impl From<crate::engine::PeerError> for CaError {
    fn from(e: crate::engine::PeerError) -> Self {
        CaError::Engine(e.into())
    }
}

struct Ca {
    keys: Arc<Keys>,
    /// Key and certificate files of the configuration being sent.
    incoming: Vec<KeyFile>,
    /// A file message of that configuration came without its descriptor.
    missing_descriptor: Option<String>,
}

/// The ca's entry in the process table.
pub fn main(start: ChildStart) -> Result<(), ChildError> {
    start.run(|_: &Context<Ca>| {
        // After the sandbox's change of user, which resets the flag.
        nix::sys::prctl::set_dumpable(false).map_err(CaError::Dumpable)?;
        Ok(Ca {
            keys: Arc::new(Keys::default()),
            incoming: Vec::new(),
            missing_descriptor: None,
        })
    })
}

impl Engine for Ca {
    type Message = ParentToCa;
    type Report = NoMessage;
    type Event = Infallible;
    type Prepared = KeyStore;
    type Error = CaError;

    fn reset(&mut self) {
        self.incoming.clear();
        self.missing_descriptor = None;
    }

    fn prepare(&mut self, config: Config) -> Result<KeyStore, Refusal> {
        if let Some(what) = self.missing_descriptor.take() {
            return Err(Refusal::MissingDescriptor { what });
        }
        keys::load(std::mem::take(&mut self.incoming), &config)
    }

    async fn commit(&mut self, store: KeyStore, _cx: &Context<Self>) -> Result<(), CaError> {
        tracing::debug!("{} private keys", store.len());
        self.keys.replace(store);
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: ParentToCa,
        fd: Option<OwnedFd>,
        _cx: &Context<Self>,
    ) -> Result<(), CaError> {
        match message {
            ParentToCa::RelayFile(file) => match fd {
                Some(fd) => self.incoming.push(KeyFile::read(file, fd)),
                None => {
                    let what = format!("{} {}", file.kind, file.path);
                    self.missing_descriptor.get_or_insert(what);
                }
            },
        }
        Ok(())
    }

    /// Its relay instance: the only peer the table gives the ca.
    fn on_peer(
        &mut self,
        peer: ProcId,
        socket: UnixStream,
        _cx: &Context<Self>,
    ) -> Result<(), CaError> {
        let channel: CaRelayChannel = open_peer(peer, socket)?;
        tokio::spawn(answer_key_operations(self.keys.clone(), channel));
        Ok(())
    }
}

/// Signs what the relay asks, in order; each answer carries its request id.
async fn answer_key_operations(keys: Arc<Keys>, mut relay: CaRelayChannel) {
    loop {
        match relay.recv().await {
            Ok(Some(received)) => {
                let RelayToCa::KeyOperation(op) = received.msg;
                let result = keys.sign(&op).map_err(|e| {
                    tracing::warn!("signature request {}: {e}", op.request_id);
                    e.to_string()
                });
                let reply = CaToRelay::KeyOperationResult(KeyOperationResult {
                    request_id: op.request_id,
                    result,
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
