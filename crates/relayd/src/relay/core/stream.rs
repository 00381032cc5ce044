//! The transport seam: the one byte stream every relay reads and writes,
//! whatever carries the bytes.
//!
//! [`Transport::Tcp`] is a plain TCP socket: its bytes are the relay's own,
//! so it may be spliced (`tcp/splice.rs`) and parked as a raw descriptor
//! (`core/park.rs`), and it costs no allocation and no dynamic dispatch.
//! [`Transport::Fresh`] is the same before it is registered with the
//! runtime (`core/fresh.rs`): an HTTP client's socket starts so, and
//! becomes `Tcp` the first time a read or write would wait, or when it is
//! to be spliced ([`Transport::register`]).
//! [`Transport::Layered`] is a stream with protocol state of its own over
//! (usually) a TCP socket: TLS (`core/tls.rs`:
//! `tokio_rustls::server::TlsStream<TcpStream>` for `listen on ... tls`,
//! `tokio_rustls::client::TlsStream<TcpStream>` for `forward with tls`), and
//! in-memory streams in tests. It is read and written only through its own
//! `AsyncRead`/`AsyncWrite`, behind one box per connection; a virtual call
//! per read or write costs nothing next to the system call and the crypto
//! under it.
//!
//! A layered stream is never spliced (the kernel would move ciphertext) and
//! never parked as raw descriptors (its state lives in user space): an idle
//! session with a layered side keeps its task and waits in it, for the
//! whole session timeout. Parking such a session as a trait object (the
//! stream deregistered from the runtime, woken by the lot's epoll on the
//! socket underneath) is possible later, without changing this API.

use super::fresh::Fresh;
use socket2::SockRef;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A stream with protocol state of its own: TLS over TCP, or an in-memory
/// stream in tests.
pub trait Layered: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {
    /// The TCP connection underneath, for socket options, addresses and
    /// the original destination; `None` for an in-memory stream.
    fn socket(&self) -> Option<&TcpStream>;

    /// A TLS peer's own certificate (TLS inspection copies the backend's).
    fn peer_certificate(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        None
    }
}

/// One side of a relayed session.
pub enum Transport {
    /// Plain TCP: spliced and parked as a raw socket.
    Tcp(TcpStream),
    /// Plain TCP not registered with the runtime yet.
    Fresh(Fresh),
    /// TLS (`core/tls.rs`) or a test stream: keeps its task, never spliced.
    Layered(Box<dyn Layered>),
}

impl Transport {
    /// The TCP socket underneath, whatever runs on it.
    pub fn socket(&self) -> Option<SockRef<'_>> {
        match self {
            Transport::Tcp(stream) => Some(SockRef::from(stream)),
            Transport::Fresh(fresh) => fresh.stream().map(SockRef::from),
            Transport::Layered(stream) => stream.socket().map(SockRef::from),
        }
    }

    /// A fresh socket is registered with the runtime (and is `Tcp` from
    /// now on); any other transport stays as it is.
    pub fn register(&mut self) -> io::Result<()> {
        if let Transport::Fresh(fresh) = self {
            let stream = fresh.register()?;
            *self = Transport::Tcp(stream);
        }
        Ok(())
    }

    /// The TLS peer's certificate, if the transport is TLS.
    pub fn peer_certificate(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        match self {
            Transport::Tcp(_) | Transport::Fresh(_) => None,
            Transport::Layered(stream) => stream.peer_certificate(),
        }
    }

    /// Whether the bytes on the socket are the relay's own: only then may
    /// the session be spliced or parked.
    pub fn is_plain(&self) -> bool {
        matches!(self, Transport::Tcp(_) | Transport::Fresh(_))
    }
}

impl From<TcpStream> for Transport {
    fn from(stream: TcpStream) -> Transport {
        Transport::Tcp(stream)
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let transport = self.get_mut();
        if let Transport::Fresh(fresh) = transport {
            match fresh.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => transport.register()?,
                done => return Poll::Ready(done),
            }
        }
        match transport {
            Transport::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Layered(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Transport::Fresh(_) => Poll::Ready(Err(still_fresh())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let transport = self.get_mut();
        if let Transport::Fresh(fresh) = transport {
            match fresh.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => transport.register()?,
                done => return Poll::Ready(done),
            }
        }
        match transport {
            Transport::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Layered(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Transport::Fresh(_) => Poll::Ready(Err(still_fresh())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let transport = self.get_mut();
        if let Transport::Fresh(fresh) = transport {
            match fresh.write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => transport.register()?,
                done => return Poll::Ready(done),
            }
        }
        match transport {
            Transport::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Transport::Layered(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
            Transport::Fresh(_) => Poll::Ready(Err(still_fresh())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(stream) => stream.is_write_vectored(),
            Transport::Fresh(_) => true,
            Transport::Layered(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Fresh(_) => Poll::Ready(Ok(())),
            Transport::Layered(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    /// Plain TCP: a half-close (FIN). TLS: close_notify, then the FIN.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Fresh(fresh) => Poll::Ready(fresh.shutdown()),
            Transport::Layered(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// `register` leaves no `Fresh` behind: it either becomes `Tcp` or fails.
fn still_fresh() -> io::Error {
    io::Error::other("a fresh socket was not registered")
}

/// In-memory streams stand in for a client or a backend in unit tests.
#[cfg(test)]
impl Layered for tokio::io::DuplexStream {
    fn socket(&self) -> Option<&TcpStream> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn both_kinds_carry_bytes_and_only_tcp_is_plain() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connecting = TcpStream::connect(listener.local_addr().unwrap());
        let (ours, accepted) = tokio::join!(connecting, listener.accept());
        let mut tcp = Transport::from(ours.unwrap());
        let (mut theirs, _) = accepted.unwrap();
        assert!(tcp.is_plain() && tcp.socket().is_some());
        tcp.write_all(b"over tcp").await.unwrap();
        let mut got = [0u8; 8];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"over tcp");

        let (near, mut far) = tokio::io::duplex(64);
        let mut layered = Transport::Layered(Box::new(near));
        assert!(!layered.is_plain() && layered.socket().is_none());
        far.write_all(b"in memory").await.unwrap();
        let mut got = [0u8; 9];
        layered.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"in memory");
        layered.shutdown().await.unwrap();
        assert_eq!(far.read(&mut got).await.unwrap(), 0, "shutdown is a close");
    }

    #[tokio::test]
    async fn a_fresh_socket_carries_bytes_and_is_registered_once_it_waits() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut theirs = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        theirs.write_all(b"early").await.unwrap();
        let mut fresh = Transport::Fresh(Fresh::new(accepted));
        assert!(fresh.is_plain() && fresh.socket().is_some());
        let mut got = [0u8; 5];
        // Sent before the read: it may still be on its way over loopback.
        fresh.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"early");
        fresh.write_all(b"answer").await.unwrap();
        let mut answer = [0u8; 6];
        theirs.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"answer");
        // Nothing to read: the read waits in the runtime, registered.
        let late = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            theirs.write_all(b"late").await.unwrap();
            theirs
        };
        let mut got = [0u8; 4];
        let (read, _theirs) = tokio::join!(fresh.read_exact(&mut got), late);
        read.unwrap();
        assert_eq!(&got, b"late");
        assert!(matches!(fresh, Transport::Tcp(_)));
    }
}
