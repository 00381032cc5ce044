//! The raw ICMP sockets, opened by whoever has the privilege to.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use socket2::{Domain, Protocol, Socket, Type};

/// Receive buffer of each raw socket: replies of many hosts arrive at once.
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// Linux socket options that drop unwanted ICMP types in the kernel, so the
/// pinger is not woken for every packet on the machine (`linux/icmp.h`,
/// `netinet/icmp6.h`).
const SOL_RAW: libc::c_int = 255;
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;

/// One raw socket per address family; either may be missing (no root, no
/// IPv6). Plain file descriptors so they can be passed between processes.
#[derive(Debug, Default)]
pub struct IcmpSockets {
    pub v4: Option<OwnedFd>,
    pub v6: Option<OwnedFd>,
}

impl IcmpSockets {
    /// Opens both raw sockets (needs root or CAP_NET_RAW). Succeeds when at
    /// least one family could be opened; fails with the IPv4 error
    /// otherwise.
    pub fn open() -> io::Result<IcmpSockets> {
        let v4 = open_raw(Domain::IPV4, Protocol::ICMPV4);
        let v6 = open_raw(Domain::IPV6, Protocol::ICMPV6);
        match (v4, v6) {
            (Err(err), Err(_)) => Err(io::Error::new(
                err.kind(),
                format!("cannot open raw ICMP socket: {err}"),
            )),
            (v4, v6) => Ok(IcmpSockets {
                v4: v4.ok(),
                v6: v6.ok(),
            }),
        }
    }
}

fn open_raw(domain: Domain, protocol: Protocol) -> io::Result<OwnedFd> {
    let socket = Socket::new(domain, Type::RAW.nonblocking().cloexec(), Some(protocol))?;
    socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES)?;
    // Filters are an optimisation: the pinger checks every packet anyway.
    if domain == Domain::IPV4 {
        // Bit set = type blocked; let only echo replies (type 0) through.
        let _ = set_filter(&socket, SOL_RAW, ICMP_FILTER, &[!1u32]);
    } else {
        let mut blocked = [u32::MAX; 8];
        let echo_reply = 129;
        blocked[echo_reply / 32] &= !(1u32 << (echo_reply % 32));
        let _ = set_filter(&socket, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &blocked);
    }
    Ok(OwnedFd::from(socket))
}

fn set_filter<const N: usize>(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    filter: &[u32; N],
) -> io::Result<()> {
    // SAFETY: `filter` is a live array of the size passed, and the kernel
    // only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            filter.as_ptr().cast(),
            std::mem::size_of_val(filter) as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
