//! Asking the pfe where a redirected datagram was going (relayd's
//! `IMSG_NATLOOK`, `relay_natlook`): a TCP connection carries its original
//! destination in its socket (SO_ORIGINAL_DST, `forward.rs`), a UDP
//! datagram does not, and only the pfe (CAP_NET_ADMIN) may ask conntrack.
//! One lookup per query; each waits at most until its deadline (the
//! session timeout, as relayd's timer), and at most [`LOOKUP_LIMIT`] wait
//! at once in a relay process: past that a lookup fails at once.
//!
//! Both kinds of lookup end in [`redirected`]: an original destination
//! equal to the address the flow reached means nothing redirected it.

use relayd_config::IpProto;
use relayd_proto::messages::pfe_relay::{NatLookAnswer, NatLookRequest, NatLookResult, RelayToPfe};
use relayd_proto::{Correlator, Delivery, ImsgSender, WaitError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Lookups waiting for the pfe at once, per relay process.
pub const LOOKUP_LIMIT: usize = 4096;

/// Why a lookup gave no destination (a flow nothing redirected is not an
/// error: it has none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatLookError {
    #[error("no channel to the pfe")]
    NoPfe,
    #[error("too many nat lookups pending")]
    TooMany,
    #[error("no answer from the pfe in time")]
    Expired,
    #[error("the nat lookup was cancelled")]
    Cancelled,
    /// The pfe could not ask conntrack, in its words.
    #[error("{0}")]
    Failed(String),
}

impl From<WaitError> for NatLookError {
    fn from(e: WaitError) -> NatLookError {
        match e {
            WaitError::Expired => NatLookError::Expired,
            WaitError::Cancelled => NatLookError::Cancelled,
        }
    }
}

/// The original destination of a flow whose netfilter lookup said
/// `original` and that reached `local`: `None` when they are the same (the
/// flow was not redirected).
pub fn redirected(original: SocketAddr, local: SocketAddr) -> Option<SocketAddr> {
    let canonical = |a: SocketAddr| (a.ip().to_canonical(), a.port());
    (canonical(original) != canonical(local)).then_some(original)
}

/// The relay process's side of the lookups: the channel to the pfe (set
/// when the parent hands it over) and the lookups waiting for answers.
pub struct NatLook {
    pfe: OnceLock<ImsgSender<RelayToPfe>>,
    pending: Correlator<NatLookResult>,
    /// At most this many lookups wait at once.
    limit: usize,
    /// A failing lookup was logged as a warning; later ones are debug.
    warned: AtomicBool,
}

impl Default for NatLook {
    fn default() -> NatLook {
        NatLook::with_limit(LOOKUP_LIMIT)
    }
}

impl NatLook {
    /// Lookups with at most `limit` waiting at once.
    pub fn with_limit(limit: usize) -> NatLook {
        NatLook {
            pfe: OnceLock::new(),
            pending: Correlator::new(),
            limit,
            warned: AtomicBool::new(false),
        }
    }

    /// The channel to the pfe; only the first one counts.
    pub fn connect(&self, pfe: ImsgSender<RelayToPfe>) {
        if self.pfe.set(pfe).is_err() {
            tracing::warn!("a second channel to the pfe, ignored");
        }
    }

    /// An answer from the pfe.
    pub fn answer(&self, answer: NatLookAnswer) {
        if self.pending.answer(answer.request_id, answer.result) == Delivery::Discarded {
            tracing::debug!("nat lookup {} answered too late", answer.request_id);
        }
    }

    /// Lookups waiting for their answer.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.open()
    }

    /// Where the `proto` flow from `client` that reached `listen` was
    /// going: `Ok(None)` when nothing redirected it (conntrack has no
    /// entry, or the entry's destination is `listen` itself).
    pub async fn original_destination(
        &self,
        proto: IpProto,
        client: SocketAddr,
        listen: SocketAddr,
        deadline: Instant,
    ) -> Result<Option<SocketAddr>, NatLookError> {
        let pfe = self.pfe.get().ok_or(NatLookError::NoPfe)?;
        if self.pending.open() >= self.limit {
            return Err(NatLookError::TooMany);
        }
        let (request_id, waiting) = self.pending.register();
        let request = NatLookRequest {
            request_id,
            proto,
            client,
            listen,
        };
        pfe.send(RelayToPfe::NatLook(request), None)
            .map_err(|_| NatLookError::NoPfe)?;
        match waiting.with_deadline(deadline).wait().await? {
            NatLookResult::Destination(original) => Ok(redirected(original, listen)),
            NatLookResult::NoEntry => Ok(None),
            NatLookResult::Failed(why) => Err(NatLookError::Failed(why)),
        }
    }

    /// Logs a failed lookup: the first as a warning (conntrack missing, a
    /// lost pfe), the rest at debug level, so a flood cannot fill the log.
    pub fn log_failure(&self, relay: &str, client: SocketAddr, error: &NatLookError) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!("relay {relay}: nat lookup for {client} failed: {error}");
        } else {
            tracing::warn!(
                "relay {relay}: nat lookup for {client} failed: {error} \
                 (later failures are logged at debug level)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relayd_proto::messages::pfe_relay::{PfeToRelay, RelayPfeChannel};
    use relayd_proto::ImsgChannel;
    use std::sync::Arc;
    use std::time::Duration;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_listen_address_itself_is_no_redirection() {
        let listen = addr("127.0.0.1:5353");
        assert_eq!(redirected(listen, listen), None);
        assert_eq!(redirected(addr("[::ffff:127.0.0.1]:5353"), listen), None);
        assert_eq!(
            redirected(addr("127.0.0.53:53"), listen),
            Some(addr("127.0.0.53:53"))
        );
        assert_eq!(
            redirected(addr("127.0.0.1:53"), listen),
            Some(addr("127.0.0.1:53")),
            "another port is another destination"
        );
    }

    /// A pfe of the test's: answers each request with `answer(request)`.
    fn fake_pfe(
        channel: ImsgChannel<PfeToRelay, RelayToPfe>,
        answer: fn(&NatLookRequest) -> Option<NatLookResult>,
    ) {
        tokio::spawn(async move {
            let (mut reader, mut writer) = channel.split();
            while let Ok(Some(received)) = reader.recv().await {
                let RelayToPfe::NatLook(request) = received.msg;
                if let Some(result) = answer(&request) {
                    let answer = NatLookAnswer {
                        request_id: request.request_id,
                        result,
                    };
                    let _ = writer.send(&PfeToRelay::NatLook(answer), None).await;
                }
            }
        });
    }

    /// The relay's side wired to a fake pfe.
    fn wired(answer: fn(&NatLookRequest) -> Option<NatLookResult>) -> Arc<NatLook> {
        wired_with_limit(answer, LOOKUP_LIMIT)
    }

    fn wired_with_limit(
        answer: fn(&NatLookRequest) -> Option<NatLookResult>,
        limit: usize,
    ) -> Arc<NatLook> {
        let (relay, pfe): (RelayPfeChannel, _) = ImsgChannel::pair().unwrap();
        fake_pfe(pfe, answer);
        let natlook = Arc::new(NatLook::with_limit(limit));
        let (reader, writer) = relay.split();
        natlook.connect(writer.into_sender().0);
        let answers = natlook.clone();
        tokio::spawn(async move {
            let mut reader = reader;
            while let Ok(Some(received)) = reader.recv().await {
                let PfeToRelay::NatLook(answer) = received.msg;
                answers.answer(answer);
            }
        });
        natlook
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_lookup_gets_the_pfes_answer() {
        let natlook = wired(|request| {
            Some(match request.client.port() {
                1 => NatLookResult::Destination(addr("127.0.0.53:53")),
                2 => NatLookResult::Destination(request.listen),
                3 => NatLookResult::NoEntry,
                _ => NatLookResult::Failed("conntrack: not permitted".into()),
            })
        });
        let listen = addr("127.0.0.1:5353");
        let ask = |port: u16| {
            let natlook = natlook.clone();
            async move {
                let client = SocketAddr::new([127, 0, 0, 9].into(), port);
                natlook
                    .original_destination(IpProto::Udp, client, listen, soon())
                    .await
            }
        };
        assert_eq!(ask(1).await, Ok(Some(addr("127.0.0.53:53"))));
        assert_eq!(ask(2).await, Ok(None), "not redirected");
        assert_eq!(ask(3).await, Ok(None), "no entry");
        assert_eq!(
            ask(4).await,
            Err(NatLookError::Failed("conntrack: not permitted".into()))
        );
        assert_eq!(natlook.pending(), 0);
    }

    #[tokio::test]
    async fn an_unanswered_lookup_ends_at_its_deadline_and_leaves_nothing() {
        let natlook = wired(|_| None);
        let client = addr("127.0.0.9:1");
        let listen = addr("127.0.0.1:5353");
        let deadline = Instant::now() + Duration::from_millis(50);
        let result = natlook
            .original_destination(IpProto::Udp, client, listen, deadline)
            .await;
        assert_eq!(result, Err(NatLookError::Expired));
        assert_eq!(natlook.pending(), 0);
    }

    #[tokio::test]
    async fn past_the_limit_a_lookup_fails_at_once_and_the_waiting_ones_go_on() {
        // A pfe that never answers: the first two lookups wait.
        let natlook = wired_with_limit(|_| None, 2);
        let listen = addr("127.0.0.1:5353");
        let deadline = Instant::now() + Duration::from_millis(300);
        let waiting: Vec<_> = (1..=2)
            .map(|port| {
                let natlook = natlook.clone();
                tokio::spawn(async move {
                    let client = SocketAddr::new([127, 0, 0, 9].into(), port);
                    natlook
                        .original_destination(IpProto::Udp, client, listen, deadline)
                        .await
                })
            })
            .collect();
        while natlook.pending() < 2 {
            tokio::task::yield_now().await;
        }
        let third = natlook
            .original_destination(IpProto::Udp, addr("127.0.0.9:3"), listen, soon())
            .await;
        assert_eq!(third, Err(NatLookError::TooMany));
        for task in waiting {
            assert_eq!(task.await.unwrap(), Err(NatLookError::Expired));
        }
        assert_eq!(natlook.pending(), 0, "expired lookups leave the table");
    }

    #[tokio::test]
    async fn without_a_pfe_a_lookup_fails_at_once() {
        let natlook = NatLook::default();
        let result = natlook
            .original_destination(
                IpProto::Udp,
                addr("127.0.0.9:1"),
                addr("127.0.0.1:53"),
                soon(),
            )
            .await;
        assert_eq!(result, Err(NatLookError::NoPfe));
    }
}
