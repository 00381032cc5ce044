//! The relay's end of the ca channel: every signature a TLS handshake
//! needs is asked of ca N, which holds the private keys. rustls signs
//! synchronously, on the blocking pool thread running the handshake step
//! (`relayd_tls::accept`): the request is queued on the channel's writer
//! task, the thread waits for the answer with its request id at most
//! [`relayd_tls::sign::DEFAULT_SIGN_TIMEOUT`] (relayd's 1 s), and an answer
//! that comes later is dropped. A closed channel fails every waiting
//! handshake at once, and every later one without waiting.

use relayd_proto::messages::relay_ca::{CaToRelay, RelayToCa};
use relayd_proto::messages::KeyOperation;
use relayd_proto::{ImsgReader, ImsgSender};
use relayd_tls::sign::{
    ChannelSigner, KeySigner, SendRequest, SignError, SignRequest, DEFAULT_SIGN_TIMEOUT,
};
use relayd_tls::KeyId;
use rustls::SignatureScheme;
use std::sync::{Arc, Mutex};

/// The channel to ca N, once the parent has connected it.
#[derive(Default)]
pub struct CaLink {
    sender: Mutex<Option<ImsgSender<RelayToCa>>>,
}

impl CaLink {
    fn sender(&self) -> std::sync::MutexGuard<'_, Option<ImsgSender<RelayToCa>>> {
        self.sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the signer sends its requests through.
pub struct ToCa(Arc<CaLink>);

impl SendRequest for ToCa {
    fn send(&self, request: SignRequest) -> Result<(), SignError> {
        let sender = self.0.sender();
        let sender = sender.as_ref().ok_or(SignError::ChannelClosed)?;
        let operation = KeyOperation {
            request_id: request.request_id,
            key_id: request.key_id.0,
            scheme: u16::from(request.scheme),
            message: request.message,
        };
        sender
            .send(RelayToCa::KeyOperation(operation), None)
            .map_err(|_| SignError::ChannelClosed)
    }
}

/// The signer every TLS key of this relay process uses.
pub struct CaSigner {
    link: Arc<CaLink>,
    signer: ChannelSigner<ToCa>,
}

impl std::fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.signer.fmt(f)
    }
}

impl CaSigner {
    pub fn new() -> Arc<CaSigner> {
        let link = Arc::new(CaLink::default());
        Arc::new(CaSigner {
            signer: ChannelSigner::new(ToCa(link.clone()), DEFAULT_SIGN_TIMEOUT),
            link,
        })
    }

    /// The parent connected ca N: requests go to `sender`, answers come
    /// from `reader` (in a task of their own).
    pub fn connect(self: &Arc<Self>, sender: ImsgSender<RelayToCa>, reader: ImsgReader<CaToRelay>) {
        *self.link.sender() = Some(sender);
        tokio::spawn(self.clone().follow(reader));
    }

    async fn follow(self: Arc<Self>, mut reader: ImsgReader<CaToRelay>) {
        loop {
            match reader.recv().await {
                Ok(Some(received)) => {
                    let CaToRelay::KeyOperationResult(result) = received.msg;
                    let answer = result.result.map_err(SignError::Failed);
                    if !self.signer.deliver(result.request_id, answer) {
                        tracing::debug!(
                            "signature {} came after its handshake gave up",
                            result.request_id
                        );
                    }
                }
                Ok(None) => {
                    tracing::warn!("channel from ca closed: TLS handshakes fail");
                    break;
                }
                Err(e) => {
                    tracing::warn!("channel from ca: {e}: TLS handshakes fail");
                    break;
                }
            }
        }
        self.link.sender().take();
        self.signer.fail_all(SignError::ChannelClosed);
    }
}

impl KeySigner for CaSigner {
    fn sign(
        &self,
        key: &KeyId,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        self.signer.sign(key, scheme, message)
    }
}
