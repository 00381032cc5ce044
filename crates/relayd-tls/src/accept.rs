//! Accepting a TLS client with the server's signature off the runtime
//! thread.
//!
//! rustls signs synchronously while it processes the ClientHello. With
//! tokio-rustls' `LazyConfigAcceptor`, `StartHandshake::into_stream(config)`
//! processes the ClientHello before it returns the `Accept` future
//! (`Accepted::into_connection` runs the whole first flight: certificate
//! choice, key exchange, CertificateVerify or ServerKeyExchange signature),
//! so that call runs on tokio's blocking pool, and the returned future,
//! which only moves bytes, runs on the runtime. A signer that waits for the
//! ca then stalls one blocking thread, never the relay's other sessions.
//!
//! One path signs later: when the client's key shares fit no group of ours,
//! the server answers with a HelloRetryRequest and signs while processing
//! the second ClientHello, inside the `Accept` future. That handshake is
//! then driven to its end on the blocking pool too, at most
//! [`RETRY_HANDSHAKES`] at a time so a flood of them cannot fill the pool.

use rustls::{HandshakeKind, ServerConfig};
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{Accept, LazyConfigAcceptor, StartHandshake};

/// Handshakes after a HelloRetryRequest driven on the blocking pool at once.
pub const RETRY_HANDSHAKES: usize = 64;
/// How long such a handshake may hold its blocking thread.
pub const RETRY_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client whose ClientHello was read: the relay can look at the SNI (TLS
/// inspection connects to the backend with it) before choosing the config.
pub struct ClientHelloRead<IO> {
    start: StartHandshake<IO>,
}

/// Reads the ClientHello of a new connection.
pub async fn read_client_hello<IO>(io: IO) -> io::Result<ClientHelloRead<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
    Ok(ClientHelloRead { start })
}

impl<IO> ClientHelloRead<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The server name the client asked for.
    pub fn server_name(&self) -> Option<String> {
        self.start.client_hello().server_name().map(str::to_string)
    }

    /// Completes the handshake with `config`; see the module docs for
    /// where the signature runs.
    pub async fn finish(self, config: Arc<ServerConfig>) -> io::Result<TlsStream<IO>> {
        let start = self.start;
        let (handshake, retried) = tokio::task::spawn_blocking(move || {
            let mut retried = false;
            let handshake = start.into_stream_with(config, |connection| {
                retried =
                    connection.handshake_kind() == Some(HandshakeKind::FullWithHelloRetryRequest);
            });
            (handshake, retried)
        })
        .await
        .map_err(join_error)?;
        if retried {
            finish_on_blocking_pool(handshake).await
        } else {
            handshake.await
        }
    }
}

/// Reads the ClientHello and completes the handshake with `config`.
pub async fn accept<IO>(io: IO, config: Arc<ServerConfig>) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    read_client_hello(io).await?.finish(config).await
}

/// Drives a handshake that still has to sign to its end on a blocking
/// thread, which waits for the socket through the runtime's reactor.
async fn finish_on_blocking_pool<IO>(handshake: Accept<IO>) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| Arc::new(Semaphore::new(RETRY_HANDSHAKES)));
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("handshake slots closed"))?;
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        runtime.block_on(tokio::time::timeout(RETRY_HANDSHAKE_TIMEOUT, handshake))
    })
    .await
    .map_err(join_error)?
    .map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake after a retry request timed out",
        )
    })?
}

fn join_error(error: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("TLS handshake task: {error}"))
}
