//! Relaying a TCP session with a layered side (TLS): bytes are
//! read and written through the streams' own `AsyncRead`/`AsyncWrite`,
//! with the ends of the plain pump: end of file half-closes the other side
//! (for TLS: close_notify, then the FIN) and the other direction goes on,
//! a failure ends the session naming its side and direction and resets
//! the other side's socket, `session timeout` closes an idle session.
//! Never spliced (the kernel would move ciphertext), never parked: the
//! session keeps its task while idle.

use super::pump::{idle_timer, reset};
use crate::relay::core::clock::{ActivityClock, Way};
use crate::relay::core::end::Ended;
use crate::relay::core::stream::Transport;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

/// One TLS record's worth of plaintext per read.
const BUFFER_SIZE: usize = 16 * 1024;

enum DirectionError {
    Read(io::Error),
    Write(io::Error),
}

/// Which socket to reset once the session is over.
enum Reset {
    Nothing,
    Client,
    Server,
}

pub async fn relay(
    timeout: Duration,
    client: Transport,
    server: Transport,
    clock: &ActivityClock,
) -> Ended {
    let (mut client_in, mut client_out) = tokio::io::split(client);
    let (mut server_in, mut server_out) = tokio::io::split(server);
    let (ended, reset_side) = {
        let upstream = direction(&mut client_in, &mut server_out, clock, Way::In);
        let downstream = direction(&mut server_in, &mut client_out, clock, Way::Out);
        let idle = idle_timer(clock, timeout);
        tokio::pin!(upstream, downstream, idle);
        let (mut upstream_done, mut downstream_done) = (false, false);
        loop {
            if upstream_done && downstream_done {
                break (Ended::Done, Reset::Nothing);
            }
            tokio::select! {
                result = &mut upstream, if !upstream_done => match result {
                    Ok(()) => upstream_done = true,
                    Err(DirectionError::Read(e)) => break (Ended::ClientRead(e), Reset::Server),
                    Err(DirectionError::Write(e)) => break (Ended::ServerWrite(e), Reset::Client),
                },
                result = &mut downstream, if !downstream_done => match result {
                    Ok(()) => downstream_done = true,
                    Err(DirectionError::Read(e)) => break (Ended::ServerRead(e), Reset::Client),
                    Err(DirectionError::Write(e)) => break (Ended::ClientWrite(e), Reset::Server),
                },
                ended = &mut idle => break (ended, Reset::Nothing),
            }
        }
    };
    let socket_of = |read: ReadHalf<Transport>, write: WriteHalf<Transport>| read.unsplit(write);
    let to_reset = match reset_side {
        Reset::Nothing => None,
        Reset::Client => Some(socket_of(client_in, client_out)),
        Reset::Server => Some(socket_of(server_in, server_out)),
    };
    if let Some(socket) = to_reset.as_ref().and_then(Transport::socket) {
        reset(&*socket);
    }
    ended
}

/// Copies `src` to `dst` until `src` ends, then closes `dst`'s sending
/// side; what it reads counts as moved `way`.
async fn direction<R, W>(
    src: &mut R,
    dst: &mut W,
    clock: &ActivityClock,
    way: Way,
) -> Result<(), DirectionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match src.read(&mut buffer).await {
            Ok(n) => n,
            // A TLS peer that closes its socket without close_notify (many
            // servers do, python's http.server among them) ends its
            // stream like a FIN: a TCP relay has no framing to call it
            // truncated by, and treating it as a failure would reset the
            // other side with the last bytes still unread in its buffer.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(DirectionError::Read(e)),
        };
        if n == 0 {
            // The peer may be gone already: then there is nothing to tell.
            let _ = dst.shutdown().await;
            return Ok(());
        }
        clock.moved(way, n);
        dst.write_all(&buffer[..n])
            .await
            .map_err(DirectionError::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    fn layered(stream: DuplexStream) -> Transport {
        Transport::Layered(Box::new(stream))
    }

    #[tokio::test]
    async fn bytes_cross_both_ways_and_each_end_half_closes() {
        let (client_app, client_relay) = tokio::io::duplex(1024);
        let (server_relay, server_app) = tokio::io::duplex(1024);
        let clock = ActivityClock::new();
        let bytes = std::sync::Arc::new(crate::relay::core::clock::RelayBytes::default());
        clock.count_into(bytes.clone());
        let relayed = relay(
            Duration::from_secs(5),
            layered(client_relay),
            layered(server_relay),
            &clock,
        );
        let peers = async {
            let (mut client_app, mut server_app) = (client_app, server_app);
            client_app.write_all(b"question").await.unwrap();
            client_app.shutdown().await.unwrap();
            let mut got = Vec::new();
            server_app.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"question", "the client's end reached the server");
            // The other direction still runs after the client's end.
            server_app.write_all(b"late answer").await.unwrap();
            server_app.shutdown().await.unwrap();
            let mut got = Vec::new();
            client_app.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"late answer");
        };
        let (ended, ()) = tokio::join!(relayed, peers);
        assert!(matches!(ended, Ended::Done), "{ended}");
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(bytes.inbound.load(Relaxed), 8, "b\"question\" counted in");
        assert_eq!(
            bytes.outbound.load(Relaxed),
            11,
            "b\"late answer\" counted out"
        );
    }

    /// A TLS stream whose peer closed without close_notify: its bytes,
    /// then `UnexpectedEof`, as tokio-rustls reports it.
    struct NoCloseNotify {
        left: &'static [u8],
    }

    impl AsyncRead for NoCloseNotify {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if self.left.is_empty() {
                return std::task::Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            let n = self.left.len().min(buf.remaining());
            buf.put_slice(&self.left[..n]);
            self.left = &self.left[n..];
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_tls_peer_closing_without_close_notify_ends_its_direction_cleanly() {
        let mut server = NoCloseNotify {
            left: b"the whole answer",
        };
        let (mut client_relay, mut client_app) = tokio::io::duplex(1024);
        let clock = ActivityClock::new();
        let copied = direction(&mut server, &mut client_relay, &clock, Way::Out).await;
        assert!(copied.is_ok(), "an end without close_notify is an end");
        let mut got = Vec::new();
        client_app.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"the whole answer", "every byte, then the end");
    }

    #[tokio::test]
    async fn an_idle_session_times_out_instead_of_parking() {
        let (_client_app, client_relay) = tokio::io::duplex(64);
        let (server_relay, _server_app) = tokio::io::duplex(64);
        let clock = ActivityClock::new();
        let ended = relay(
            Duration::from_millis(700),
            layered(client_relay),
            layered(server_relay),
            &clock,
        )
        .await;
        assert!(matches!(ended, Ended::Timeout), "{ended}");
    }
}
