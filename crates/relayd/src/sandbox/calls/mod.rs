//! The system calls each kind of child may make once it is confined: what
//! every child's runtime needs (`COMMON`), then one list per kind in a file
//! of its own. A call not listed kills the process (see `trap`).
//!
//! Lists are minimal: a call is here because a child was seen making it
//! (or a library it runs is known to on a path the tests take), and says
//! why. Arguments are checked where one value decides what the call can
//! do: the socket families a child may open, the ioctls and prctls it may
//! make, and signals only to itself (a compromised relay cannot signal
//! the pfe, the hce or its ca, which run as the same user).

mod ca;
mod hce;
mod metrics;
mod pfe;
mod relay;

pub use ca::CALLS as CA;
pub use hce::CALLS as HCE;
pub use metrics::CALLS as METRICS;
pub use pfe::CALLS as PFE;
pub use relay::CALLS as RELAY;

use syscalls::Sysno;

/// One allowed system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// With any arguments.
    Always(Sysno),
    /// Only when argument `arg` (0-based) is one of `values`.
    ArgIn(Sysno, u8, &'static [u64]),
    /// Only when argument 0 is this process's own id (kill, tgkill).
    ToSelf(Sysno),
}

impl Rule {
    pub fn call(self) -> Sysno {
        match self {
            Rule::Always(call) | Rule::ArgIn(call, ..) | Rule::ToSelf(call) => call,
        }
    }
}

use Rule::{Always, ArgIn, ToSelf};

/// What every child needs once its runtime runs: the tokio runtime
/// (epoll, eventfd, timers, the blocking pool's threads), memory, the
/// imsg channels (sendmsg/recvmsg with descriptors), logging (stderr or
/// the syslog socket opened before the chroot), and leaving.
pub const COMMON: &[Rule] = &[
    // Channels, sockets, pipes and log lines.
    Always(Sysno::read),
    Always(Sysno::write),
    Always(Sysno::readv),
    Always(Sysno::writev),
    Always(Sysno::recvmsg),
    Always(Sysno::sendmsg),
    Always(Sysno::recvfrom),
    Always(Sysno::sendto),
    Always(Sysno::close),
    Always(Sysno::shutdown),
    Always(Sysno::getsockopt),
    Always(Sysno::setsockopt),
    Always(Sysno::getsockname),
    Always(Sysno::getpeername),
    // A descriptor's kind and size (std's File and metadata on files the
    // parent passed; the death note and channel checks).
    Always(Sysno::fstat),
    Always(Sysno::newfstatat),
    Always(Sysno::statx),
    // Files the parent passed (keys, certificates, CA files) are read
    // from their start.
    Always(Sysno::lseek),
    // Descriptor flags (close-on-exec, non-blocking); std's set_nonblocking.
    Always(Sysno::fcntl),
    ArgIn(Sysno::ioctl, 1, &[libc::FIONBIO, libc::FIONREAD]),
    // The runtime's event loop and its wake-ups.
    Always(Sysno::epoll_wait),
    Always(Sysno::epoll_pwait),
    Always(Sysno::epoll_ctl),
    Always(Sysno::epoll_create1),
    Always(Sysno::eventfd2),
    Always(Sysno::poll),
    Always(Sysno::ppoll),
    // Time and sleeping.
    Always(Sysno::clock_gettime),
    Always(Sysno::clock_nanosleep),
    Always(Sysno::nanosleep),
    Always(Sysno::gettimeofday),
    // Memory.
    Always(Sysno::mmap),
    Always(Sysno::munmap),
    Always(Sysno::mremap),
    Always(Sysno::mprotect),
    Always(Sysno::madvise),
    Always(Sysno::brk),
    // Threads: the blocking pool (TLS signing steps, DNS lookups) and
    // their locks; a thread names itself.
    Always(Sysno::clone3),
    Always(Sysno::clone),
    Always(Sysno::futex),
    Always(Sysno::set_robust_list),
    Always(Sysno::rseq),
    Always(Sysno::sched_yield),
    Always(Sysno::sched_getaffinity),
    ArgIn(Sysno::prctl, 0, &[libc::PR_SET_NAME as u64]),
    // Signals: handlers and masks (SIGTERM, SIGSYS), and only to itself.
    Always(Sysno::rt_sigaction),
    Always(Sysno::rt_sigprocmask),
    Always(Sysno::rt_sigreturn),
    Always(Sysno::sigaltstack),
    Always(Sysno::restart_syscall),
    ToSelf(Sysno::kill),
    ToSelf(Sysno::tgkill),
    // Who am I (logging, the SIGSYS handler), randomness (hash maps, TLS,
    // DNS ids).
    Always(Sysno::getpid),
    Always(Sysno::gettid),
    Always(Sysno::getrandom),
    // Leaving.
    Always(Sysno::exit),
    Always(Sysno::exit_group),
];

/// A child's whole list: [`COMMON`] and its own (its row's).
pub fn allowed(own: &[Rule]) -> Vec<Rule> {
    COMMON.iter().chain(own).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::Sandboxing;
    use relayd_proto::ProcessKind;
    use std::collections::BTreeSet;

    /// The whole list of each confined kind, from the process table.
    fn lists() -> Vec<(ProcessKind, Vec<Rule>)> {
        crate::procs::PROCS
            .iter()
            .filter_map(|row| match row.sandbox {
                Sandboxing::Confined { calls, .. } => Some((row.kind, allowed(calls))),
                Sandboxing::None => None,
            })
            .collect()
    }

    fn list(kind: ProcessKind) -> Vec<Rule> {
        match crate::procs::spec(kind).sandbox {
            Sandboxing::Confined { calls, .. } => allowed(calls),
            Sandboxing::None => panic!("{kind} is not confined"),
        }
    }

    #[test]
    fn no_kind_lists_a_call_twice_or_a_dangerous_one() {
        let forbidden = [
            Sysno::execve,
            Sysno::execveat,
            Sysno::ptrace,
            Sysno::process_vm_readv,
            Sysno::process_vm_writev,
            Sysno::mount,
            Sysno::setuid,
            Sysno::setns,
            Sysno::unshare,
            Sysno::bpf,
            Sysno::init_module,
        ];
        assert_eq!(lists().len(), ProcessKind::ALL.len() - 1, "every child");
        for (kind, rules) in lists() {
            let calls: Vec<Sysno> = rules.iter().map(|r| r.call()).collect();
            let always: Vec<usize> = rules
                .iter()
                .filter(|r| matches!(r, Rule::Always(_)))
                .map(|r| r.call().id() as usize)
                .collect();
            let unique: BTreeSet<usize> = always.iter().copied().collect();
            assert_eq!(unique.len(), always.len(), "{kind} lists a call twice");
            for call in forbidden {
                assert!(!calls.contains(&call), "{kind} may {}", call.name());
            }
        }
    }

    #[test]
    fn signals_go_only_to_the_process_itself() {
        for (kind, rules) in lists() {
            for rule in rules {
                if matches!(rule.call(), Sysno::kill | Sysno::tgkill | Sysno::tkill) {
                    assert!(matches!(rule, Rule::ToSelf(_)), "{kind}: {rule:?}");
                }
            }
        }
    }

    #[test]
    fn only_the_pfe_opens_netlink_and_the_ca_no_socket() {
        let families = |kind| -> Vec<u64> {
            list(kind)
                .into_iter()
                .filter_map(|rule| match rule {
                    Rule::ArgIn(Sysno::socket, 0, values) => Some(values.to_vec()),
                    Rule::Always(Sysno::socket) => panic!("{kind} opens any socket"),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        assert!(families(ProcessKind::Ca).is_empty());
        assert!(families(ProcessKind::Metrics).is_empty());
        assert_eq!(families(ProcessKind::Pfe), [libc::AF_NETLINK as u64]);
        for kind in [ProcessKind::Hce, ProcessKind::Relay] {
            assert_eq!(
                families(kind),
                [libc::AF_INET as u64, libc::AF_INET6 as u64],
                "{kind}"
            );
        }
    }
}
