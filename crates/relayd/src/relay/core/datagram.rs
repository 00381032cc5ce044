//! The UDP listener kind: every datagram a listening socket receives goes
//! to the relay protocol's [`DatagramHandler`], with the socket to answer
//! through (the `dns` relay's handler); a `disable`d relay drops what it
//! receives.

use super::accept::{ListenerError, ListenerErrorKind};
use super::plan::RelayPlan;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The largest UDP payload (IPv4, 65535 less the IP and UDP headers).
const MAX_DATAGRAM: usize = 65_507;
/// How long receiving pauses after an error, so a lasting one cannot spin.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// One datagram as a protocol handler receives it.
pub struct Datagram<'a> {
    /// The listening socket it came in on: answers go back through it.
    pub socket: &'a Arc<UdpSocket>,
    pub from: SocketAddr,
    /// The relay's listening address.
    pub listen: SocketAddr,
    pub payload: &'a [u8],
}

/// What a datagram relay does with what its listeners receive. Called in
/// the listener's task, one datagram after another: a handler does what
/// is quick at once and spawns what waits (a query to a backend).
pub trait DatagramHandler: Send + Sync + 'static {
    fn datagram(&self, datagram: Datagram<'_>);
}

/// Starts handing the datagrams of the UDP socket `fd` to `handler`.
pub fn start(
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    fd: OwnedFd,
    handler: Arc<dyn DatagramHandler>,
) -> Result<JoinHandle<()>, ListenerError> {
    let socket = udp_socket(fd).map_err(|e| ListenerError {
        relay: plan.name.clone(),
        listen,
        kind: ListenerErrorKind::Socket(e),
    })?;
    let socket = Arc::new(socket);
    Ok(tokio::spawn(receive_loop(plan, listen, socket, handler)))
}

fn udp_socket(fd: OwnedFd) -> io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::from(fd);
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Receives datagrams into one buffer, reused: nothing is allocated per
/// datagram here.
async fn receive_loop(
    plan: Arc<RelayPlan>,
    listen: SocketAddr,
    socket: Arc<UdpSocket>,
    handler: Arc<dyn DatagramHandler>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((len, from)) => {
                if plan.disabled {
                    tracing::trace!("relay {} is disabled: dropped a datagram", plan.name);
                    continue;
                }
                handler.datagram(Datagram {
                    socket: &socket,
                    from,
                    listen,
                    payload: &buffer[..len],
                });
            }
            Err(e) => {
                tracing::warn!("relay {}: receive on {listen}: {e}", plan.name);
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::core::testing;
    use tokio::sync::mpsc;

    /// Records what it receives and answers with the payload reversed.
    struct Reverser(mpsc::UnboundedSender<(SocketAddr, SocketAddr, Vec<u8>)>);

    impl DatagramHandler for Reverser {
        fn datagram(&self, datagram: Datagram<'_>) {
            let answer: Vec<u8> = datagram.payload.iter().rev().copied().collect();
            let _ = datagram.socket.try_send_to(&answer, datagram.from);
            let _ = self
                .0
                .send((datagram.from, datagram.listen, datagram.payload.to_vec()));
        }
    }

    fn udp_listener() -> (OwnedFd, SocketAddr) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        (OwnedFd::from(socket), addr)
    }

    #[tokio::test]
    async fn a_udp_listener_hands_each_datagram_to_its_handler() {
        let plan = testing::plan("", "forward to 127.0.0.1 port 9");
        let (fd, listen) = udp_listener();
        let (seen, mut received) = mpsc::unbounded_channel();
        let task = start(plan, listen, fd, Arc::new(Reverser(seen))).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for query in [&b"first"[..], b"second"] {
            client.send_to(query, listen).await.unwrap();
            let (from, at, payload) = received.recv().await.unwrap();
            assert_eq!(from, client.local_addr().unwrap());
            assert_eq!(at, listen);
            assert_eq!(payload, query);
            let mut answer = [0u8; 16];
            let (len, answered_from) = client.recv_from(&mut answer).await.unwrap();
            assert_eq!(answered_from, listen, "answers leave through the listener");
            let reversed: Vec<u8> = query.iter().rev().copied().collect();
            assert_eq!(&answer[..len], &reversed[..]);
        }
        task.abort();
    }

    #[tokio::test]
    async fn a_disabled_relay_drops_datagrams() {
        let mut plan = (*testing::plan("", "forward to 127.0.0.1 port 9")).clone();
        plan.disabled = true;
        let (fd, listen) = udp_listener();
        let (seen, mut received) = mpsc::unbounded_channel();
        let task = start(Arc::new(plan), listen, fd, Arc::new(Reverser(seen))).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"ignored", listen).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(200), received.recv()).await;
        assert!(waited.is_err(), "a disabled relay handled a datagram");
        task.abort();
    }
}
