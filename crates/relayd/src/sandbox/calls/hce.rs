//! The hce: health checks over TCP, TLS and UDP sockets it opens itself,
//! ICMP over the raw sockets the parent gave it.

use super::Rule::{self, Always, ArgIn};
use syscalls::Sysno;

pub const CALLS: &[Rule] = &[
    // Check connections (tcp, http, tls, send/expect, dns over udp).
    ArgIn(
        Sysno::socket,
        0,
        &[libc::AF_INET as u64, libc::AF_INET6 as u64],
    ),
    Always(Sysno::connect),
];
