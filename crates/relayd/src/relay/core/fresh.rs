//! An accepted plain TCP socket that is not yet registered with the
//! runtime's epoll. Registering costs an `epoll_ctl` ADD at the start and
//! a DEL when the socket is dropped, two of the nine system calls of a
//! one-request HTTP connection. A client that sends its request at once
//! and takes its answer in one write (the usual short exchange) never
//! needs the runtime to wait for it: its socket is read and written
//! directly, non-blocking, and registered only when a call would block
//! (as HAProxy reads speculatively and polls only on EAGAIN). Closing it
//! then is one `close`. [`Transport::Fresh`](super::stream::Transport)
//! holds it; the transport turns it into a registered `TcpStream` the
//! first time it would wait, or when the socket is spliced.

use socket2::SockRef;
use std::io::{self, Write};
use std::net::Shutdown;
use tokio::io::ReadBuf;
use tokio::net::TcpStream;

/// A non-blocking TCP socket, not registered with the runtime.
#[derive(Debug)]
pub struct Fresh {
    /// `None` once the socket went to the runtime, or was lost because
    /// the runtime refused it (the descriptor is closed then).
    socket: Option<std::net::TcpStream>,
}

impl Fresh {
    /// `socket` must be non-blocking (accepted with `SOCK_NONBLOCK`).
    pub fn new(socket: std::net::TcpStream) -> Fresh {
        Fresh {
            socket: Some(socket),
        }
    }

    fn socket(&self) -> io::Result<&std::net::TcpStream> {
        self.socket.as_ref().ok_or_else(lost)
    }

    /// Reads what is there into the unfilled part of `buf`; `WouldBlock`
    /// if nothing is.
    pub fn read(&self, buf: &mut ReadBuf<'_>) -> io::Result<()> {
        let socket = SockRef::from(self.socket()?);
        // SAFETY: recv(2) only writes into the slice, so nothing in it
        // is de-initialised.
        let unfilled = unsafe { buf.unfilled_mut() };
        let n = socket.recv(unfilled)?;
        // SAFETY: the kernel wrote the first `n` bytes of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Ok(())
    }

    /// Writes what fits; `WouldBlock` if nothing does.
    pub fn write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.socket()?.write(bytes)
    }

    pub fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.socket()?.write_vectored(bufs)
    }

    /// Closes the sending direction (FIN).
    pub fn shutdown(&self) -> io::Result<()> {
        self.socket()?.shutdown(Shutdown::Write)
    }

    /// The socket, registered with the runtime from now on. A refusal
    /// (epoll out of room) closes it: the session then fails on it.
    pub fn register(&mut self) -> io::Result<TcpStream> {
        let socket = self.socket.take().ok_or_else(lost)?;
        TcpStream::from_std(socket)
    }

    /// The socket as it is, for the parking lot (nothing to deregister).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.socket.ok_or_else(lost)
    }

    /// The socket, for its options and addresses; `None` once registered.
    pub fn stream(&self) -> Option<&std::net::TcpStream> {
        self.socket.as_ref()
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket was lost registering it with the runtime",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn reads_and_writes_without_the_runtime_until_it_would_block() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let fresh = Fresh::new(accepted);
        let mut storage = [std::mem::MaybeUninit::uninit(); 64];
        let mut buf = ReadBuf::uninit(&mut storage);
        let nothing = fresh.read(&mut buf).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        peer.write_all(b"request").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while buf.filled().is_empty() && std::time::Instant::now() < deadline {
            match fresh.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                other => other.unwrap(),
            }
        }
        assert_eq!(buf.filled(), b"request");
        assert_eq!(fresh.write(b"answer").unwrap(), 6);
        fresh.shutdown().unwrap();
        let mut answer = Vec::new();
        peer.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"answer");
    }

    #[tokio::test]
    async fn a_registered_socket_is_gone_from_the_fresh_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let mut fresh = Fresh::new(accepted);
        assert!(fresh.register().is_ok());
        assert!(fresh.stream().is_none());
        assert_eq!(
            fresh.write(b"x").unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        assert!(fresh.register().is_err());
    }
}
