//! A [`KeySigner`] over a request channel: each request gets an id, the
//! caller waits for the answer with that id, at most a deadline; answers
//! that come later, or for ids nobody waits for, are discarded.

use super::{KeySigner, SignError};
use crate::KeyId;
use rustls::SignatureScheme;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

/// relayd's bound on a signature from the ca.
pub const DEFAULT_SIGN_TIMEOUT: Duration = Duration::from_secs(1);

/// One signature asked of the ca.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    pub request_id: u64,
    pub key_id: KeyId,
    pub scheme: SignatureScheme,
    pub message: Vec<u8>,
}

/// Hands a request to the transport (the daemon: the imsg channel to its
/// ca). Must not block for long: it runs while the handshake waits.
pub trait SendRequest: Send + Sync {
    fn send(&self, request: SignRequest) -> Result<(), SignError>;
}

type Answer = Result<Vec<u8>, SignError>;

/// Correlates requests and answers by id; see the module docs.
pub struct ChannelSigner<S> {
    transport: S,
    timeout: Duration,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, SyncSender<Answer>>>,
}

impl<S> fmt::Debug for ChannelSigner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSigner")
            .field("timeout", &self.timeout)
            .field("waiting", &self.waiting().len())
            .finish_non_exhaustive()
    }
}

impl<S> ChannelSigner<S> {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SyncSender<Answer>>> {
        // A panic while holding this lock leaves a plain map behind; keep
        // using it.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<S: SendRequest> ChannelSigner<S> {
    pub fn new(transport: S, timeout: Duration) -> ChannelSigner<S> {
        ChannelSigner {
            transport,
            timeout,
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// The ca's answer to `request_id`. Returns false when nobody waits
    /// for it any more (it came after the deadline): it is dropped.
    pub fn deliver(&self, request_id: u64, answer: Answer) -> bool {
        let Some(waiter) = self.waiting().remove(&request_id) else {
            return false;
        };
        // The waiter may have given up between the lookup and now.
        waiter.try_send(answer).is_ok()
    }

    /// Fails every waiting request at once (the channel to the ca closed).
    pub fn fail_all(&self, error: SignError) {
        for (_, waiter) in self.waiting().drain() {
            let _ = waiter.try_send(Err(error.clone()));
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.waiting().len()
    }
}

impl<S: SendRequest> KeySigner for ChannelSigner<S> {
    fn sign(
        &self,
        key: &KeyId,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer_to, answer) = sync_channel(1);
        self.waiting().insert(request_id, answer_to);
        let request = SignRequest {
            request_id,
            key_id: *key,
            scheme,
            message: message.to_vec(),
        };
        if let Err(error) = self.transport.send(request) {
            self.waiting().remove(&request_id);
            return Err(error);
        }
        match answer.recv_timeout(self.timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                self.waiting().remove(&request_id);
                Err(SignError::Timeout(self.timeout))
            }
            Err(RecvTimeoutError::Disconnected) => Err(SignError::ChannelClosed),
        }
    }
}
