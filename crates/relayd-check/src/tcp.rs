//! `check tcp`: a host is up when a TCP connection to it completes.
//! Its `connect` step is also the first step of every other stream check.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};

use crate::{HostError, Target, Verdict};

pub(crate) async fn check(target: &Target, deadline: Instant) -> Verdict {
    match connect(target, deadline).await {
        Ok(stream) => {
            // Close with a reset rather than a FIN: a connect-only check runs
            // every interval for every host, and graceful closes would leave
            // one TIME_WAIT socket per check on this side for a minute.
            let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            Verdict::up(HostError::TcpConnectOk)
        }
        Err(error) => Verdict::down(error),
    }
}

/// Opens a TCP connection to the target, with its `ip ttl`, by `deadline`.
pub(crate) async fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, HostError> {
    let socket = match target.addr {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|err| socket_error(&err))?;

    if let Some(ttl) = target.ip_ttl {
        let sock = SockRef::from(&socket);
        let set = match target.addr {
            IpAddr::V4(_) => sock.set_ttl(u32::from(ttl)),
            IpAddr::V6(_) => sock.set_unicast_hops_v6(u32::from(ttl)),
        };
        set.map_err(|_| HostError::TcpSocketOption)?;
    }

    let addr = SocketAddr::new(target.addr, target.port);
    match timeout_at(deadline, socket.connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) if is_fd_limit(&err) => Err(HostError::TcpSocketLimit),
        Ok(Err(_)) => Err(HostError::TcpConnectFail),
        Err(_elapsed) => Err(HostError::TcpConnectTimeout),
    }
}

fn socket_error(err: &io::Error) -> HostError {
    if is_fd_limit(err) {
        HostError::TcpSocketLimit
    } else {
        HostError::TcpSocketError
    }
}

fn is_fd_limit(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}
