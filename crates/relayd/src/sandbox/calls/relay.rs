//! A relay: sessions on the listening sockets the parent passed, backend
//! connections it opens itself, splice through pipes, the parking lot's
//! epoll set, DNS queries on sockets of their own.

use super::Rule::{self, Always, ArgIn};
use syscalls::Sysno;

pub const CALLS: &[Rule] = &[
    // Clients.
    Always(Sysno::accept4),
    // Backends (tcp, http, dns): new sockets, connected; a DNS query's
    // socket is bound to the unspecified address first.
    ArgIn(
        Sysno::socket,
        0,
        &[libc::AF_INET as u64, libc::AF_INET6 as u64],
    ),
    Always(Sysno::connect),
    Always(Sysno::bind),
    // Moving bytes: splice through pooled pipes.
    Always(Sysno::pipe2),
    Always(Sysno::splice),
];
