//! The ca: answers signature requests from its relay with the keys the
//! parent sent as descriptors. No socket, no file; only what every child
//! does, and making itself undumpable.

use super::Rule::{self, ArgIn};
use syscalls::Sysno;

pub const CALLS: &[Rule] = &[
    // PR_SET_DUMPABLE 0 after the change of user (see `ca`).
    ArgIn(Sysno::prctl, 0, &[libc::PR_SET_DUMPABLE as u64]),
];
