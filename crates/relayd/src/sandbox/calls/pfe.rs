//! The pfe: libnftables, rtnetlink and ctnetlink (the relays' nat
//! lookups), all over netlink sockets (libnftables opens its own for each
//! batch; the other two are opened before the sandbox).

use super::Rule::{self, Always, ArgIn};
use syscalls::Sysno;

pub const CALLS: &[Rule] = &[
    // libnftables' nf_tables socket (libmnl binds it, then waits for the
    // kernel's answers with select).
    ArgIn(Sysno::socket, 0, &[libc::AF_NETLINK as u64]),
    Always(Sysno::bind),
    Always(Sysno::pselect6),
];
