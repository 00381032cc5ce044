//! The process table, relayd's `procs[]`: every kind of process, how many
//! run, which other processes each has a channel to, what it keeps of
//! root's powers, which parts of the configuration it is sent, and where it
//! starts. Spawning (`parent::children`), the peer mesh, configuration
//! distribution, the sandbox and the child's entry are all derived from
//! [`PROCS`]; a new process role is one row here and one engine module.
//!
//! The parent's row describes the parent (it has a channel to every child
//! and gets the whole configuration); peers are listed on both sides.

use crate::engine::{AllowedPeer, ChildError, ChildStart};
use crate::proc::{Instances, Pairing, Peer, ProcId, Sandboxing};
use crate::sandbox::{calls, FilesView, TcpView};
use caps::Capability;
use relayd_proto::{PartKind, ProcessKind};

/// Where a child process starts once its parent channel is taken: opens
/// what its sandbox will forbid, then [`ChildStart::run`]s its engine.
pub type Entry = fn(ChildStart) -> Result<(), ChildError>;

/// One row of the process table.
pub struct ProcSpec {
    pub kind: ProcessKind,
    pub instances: Instances,
    /// The children it has a channel to, besides the parent.
    pub peers: &'static [Peer],
    /// Capabilities kept after dropping root.
    pub capabilities: &'static [Capability],
    /// The parts of the configuration it is sent.
    pub wants: &'static [PartKind],
    pub sandbox: Sandboxing,
    /// `None` for the parent, which `main` runs.
    pub entry: Option<Entry>,
}

use PartKind as Part;
use ProcessKind as Kind;

pub static PROCS: [ProcSpec; 6] = [
    ProcSpec {
        kind: Kind::Parent,
        instances: Instances::One,
        peers: &[],
        capabilities: &[],
        wants: &PartKind::ALL,
        sandbox: Sandboxing::None,
        entry: None,
    },
    ProcSpec {
        kind: Kind::Hce,
        instances: Instances::One,
        peers: &[Peer::each(Kind::Pfe), Peer::each(Kind::Relay)],
        capabilities: &[],
        wants: &[Part::Global, Part::Table],
        sandbox: Sandboxing::Confined {
            calls: calls::HCE,
            files: FilesView::Nothing,
            tcp: TcpView::ConnectAny,
        },
        entry: Some(crate::hce::main),
    },
    ProcSpec {
        kind: Kind::Pfe,
        instances: Instances::One,
        peers: &[Peer::each(Kind::Hce), Peer::each(Kind::Relay)],
        capabilities: &[Capability::CAP_NET_ADMIN],
        wants: &[Part::Global, Part::Table, Part::Redirect, Part::Router],
        sandbox: Sandboxing::Confined {
            calls: calls::PFE,
            files: FilesView::Nothing,
            tcp: TcpView::Nothing,
        },
        entry: Some(crate::pfe::main),
    },
    ProcSpec {
        kind: Kind::Relay,
        instances: Instances::Prefork,
        peers: &[
            Peer::each(Kind::Hce),
            Peer::each(Kind::Pfe),
            Peer::same_instance(Kind::Ca),
        ],
        capabilities: &[],
        wants: &[Part::Global, Part::Table, Part::Protocol, Part::Relay],
        sandbox: Sandboxing::Confined {
            calls: calls::RELAY,
            files: FilesView::Nothing,
            tcp: TcpView::ConnectAny,
        },
        entry: Some(crate::relay::main),
    },
    ProcSpec {
        kind: Kind::Ca,
        instances: Instances::Prefork,
        peers: &[Peer::same_instance(Kind::Relay)],
        capabilities: &[],
        wants: &[Part::Global, Part::Protocol, Part::Relay],
        sandbox: Sandboxing::Confined {
            calls: calls::CA,
            files: FilesView::Nothing,
            tcp: TcpView::Nothing,
        },
        entry: Some(crate::ca::main),
    },
    ProcSpec {
        kind: Kind::Metrics,
        instances: Instances::One,
        peers: &[],
        capabilities: &[],
        wants: &[Part::Global],
        sandbox: Sandboxing::Confined {
            calls: calls::METRICS,
            files: FilesView::Nothing,
            tcp: TcpView::Nothing,
        },
        entry: Some(crate::metrics::main),
    },
];

/// The row of `kind` (rows are in `ProcessKind` order; a test holds it).
pub fn spec(kind: ProcessKind) -> &'static ProcSpec {
    let row = match kind {
        Kind::Parent => 0,
        Kind::Hce => 1,
        Kind::Pfe => 2,
        Kind::Relay => 3,
        Kind::Ca => 4,
        Kind::Metrics => 5,
    };
    &PROCS[row]
}

/// The rows of the children, in start order.
pub fn children() -> impl Iterator<Item = &'static ProcSpec> {
    PROCS.iter().filter(|row| row.kind != Kind::Parent)
}

impl ProcSpec {
    /// Its processes when relayd runs `prefork` relays.
    pub fn ids(&self, prefork: u32) -> impl Iterator<Item = ProcId> + '_ {
        (0..self.instances.count(prefork)).map(|instance| self.instances.id(self.kind, instance))
    }

    /// The peers it may accept channels from, with how they are numbered.
    pub fn allowed_peers(&self) -> Vec<AllowedPeer> {
        self.peers
            .iter()
            .map(|peer| AllowedPeer {
                kind: peer.kind,
                pairing: peer.pairing,
                instances: spec(peer.kind).instances,
            })
            .collect()
    }

    /// Everything the child needs from this row to start.
    pub fn child_start(&self, id: ProcId, parent: std::os::unix::net::UnixStream) -> ChildStart {
        ChildStart {
            id,
            parent,
            sandbox: self.sandbox,
            capabilities: self.capabilities,
            peers: self.allowed_peers(),
        }
    }
}

/// Every child process, in start order.
pub fn child_ids(prefork: u32) -> Vec<ProcId> {
    children().flat_map(|row| row.ids(prefork)).collect()
}

/// The channels between children: each pair once, the process of the
/// earlier row first.
pub fn peer_mesh(prefork: u32) -> Vec<(ProcId, ProcId)> {
    let mut pairs = Vec::new();
    for (position, row) in PROCS.iter().enumerate() {
        for peer in row.peers {
            let peer_row = spec(peer.kind);
            let later = PROCS
                .iter()
                .position(|r| r.kind == peer.kind)
                .is_some_and(|p| p > position);
            if !later {
                continue;
            }
            for a in row.ids(prefork) {
                for b in peer_row.ids(prefork) {
                    if peer.pairing == Pairing::Each || a.instance() == b.instance() {
                        pairs.push((a, b));
                    }
                }
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// How a kind is named in module headers: `relay N` for numbered ones.
    fn header_name(kind: ProcessKind) -> String {
        match spec(kind).instances {
            Instances::One => kind.title().to_string(),
            Instances::Prefork => format!("{} N", kind.title()),
        }
    }

    /// The "imsg peers:" line a process module's header must have.
    fn peers_line(row: &ProcSpec) -> String {
        let names: Vec<String> = if row.kind == Kind::Parent {
            children().map(|child| header_name(child.kind)).collect()
        } else {
            std::iter::once("parent".to_string())
                .chain(row.peers.iter().map(|peer| header_name(peer.kind)))
                .collect()
        };
        format!("imsg peers: {}.", names.join(", "))
    }

    /// The "Sandbox:" line a process module's header must start with.
    fn sandbox_line(row: &ProcSpec) -> String {
        match row.sandbox {
            Sandboxing::None => "Sandbox: none, root.".to_string(),
            Sandboxing::Confined { .. } => {
                let capabilities = match row.capabilities {
                    [] => "no capabilities".to_string(),
                    kept => {
                        let names: Vec<String> = kept.iter().map(|c| format!("{c:?}")).collect();
                        format!("only {}", names.join(", "))
                    }
                };
                format!(
                    "Sandbox: chroot, unprivileged user, {capabilities}, no_new_privs, seccomp, landlock."
                )
            }
        }
    }

    #[test]
    fn every_kind_has_one_row_and_every_child_an_entry() {
        for kind in ProcessKind::ALL {
            assert_eq!(PROCS.iter().filter(|r| r.kind == kind).count(), 1, "{kind}");
            assert_eq!(spec(kind).kind, kind);
            assert_eq!(spec(kind).entry.is_some(), kind != Kind::Parent, "{kind}");
        }
    }

    #[test]
    fn peers_are_listed_on_both_sides_with_the_same_pairing() {
        for row in children() {
            for peer in row.peers {
                let back = spec(peer.kind).peers.iter().find(|p| p.kind == row.kind);
                assert_eq!(
                    back.map(|p| p.pairing),
                    Some(peer.pairing),
                    "{} lists {}",
                    row.kind,
                    peer.kind
                );
            }
        }
    }

    #[test]
    fn the_mesh_links_hce_and_pfe_to_every_relay_and_each_relay_to_its_ca() {
        let mesh: BTreeSet<(String, String)> = peer_mesh(3)
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let expected: BTreeSet<(String, String)> = [
            ("hce", "pfe"),
            ("hce", "relay 1"),
            ("hce", "relay 2"),
            ("hce", "relay 3"),
            ("pfe", "relay 1"),
            ("pfe", "relay 2"),
            ("pfe", "relay 3"),
            ("relay 1", "ca 1"),
            ("relay 2", "ca 2"),
            ("relay 3", "ca 3"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(mesh, expected);
        assert_eq!(peer_mesh(3).len(), expected.len(), "each pair once");
    }

    #[test]
    fn children_start_in_table_order_with_prefork_instances() {
        let ids: Vec<String> = child_ids(2).iter().map(ToString::to_string).collect();
        assert_eq!(
            ids,
            ["hce", "pfe", "relay 1", "relay 2", "ca 1", "ca 2", "metrics"]
        );
        assert_eq!(child_ids(0).len(), 5, "prefork 0 still runs one of each");
    }

    #[test]
    fn only_the_pfe_keeps_a_capability_and_only_the_parent_stays_root() {
        for row in &PROCS {
            let expected: &[Capability] = match row.kind {
                Kind::Pfe => &[Capability::CAP_NET_ADMIN],
                _ => &[],
            };
            assert_eq!(row.capabilities, expected, "{}", row.kind);
            assert_eq!(
                row.sandbox == Sandboxing::None,
                row.kind == Kind::Parent,
                "{}",
                row.kind
            );
        }
    }

    #[test]
    fn each_child_is_sent_the_configuration_it_works_on() {
        use Part::*;
        let wants = |kind| spec(kind).wants.iter().copied().collect::<BTreeSet<_>>();
        let set = |parts: &[PartKind]| parts.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(wants(Kind::Parent), set(&PartKind::ALL));
        assert_eq!(wants(Kind::Hce), set(&[Global, Table]));
        assert_eq!(wants(Kind::Pfe), set(&[Global, Table, Redirect, Router]));
        assert_eq!(wants(Kind::Relay), set(&[Global, Table, Protocol, Relay]));
        assert_eq!(wants(Kind::Ca), set(&[Global, Protocol, Relay]));
        assert_eq!(wants(Kind::Metrics), set(&[Global]));
        for row in &PROCS {
            assert!(
                row.wants.contains(&Global),
                "{} needs the globals",
                row.kind
            );
        }
    }

    /// The header of each process module, as the source has it.
    fn header(kind: ProcessKind) -> &'static str {
        match kind {
            Kind::Parent => include_str!("parent/mod.rs"),
            Kind::Hce => include_str!("hce/mod.rs"),
            Kind::Pfe => include_str!("pfe/mod.rs"),
            Kind::Relay => include_str!("relay/mod.rs"),
            Kind::Ca => include_str!("ca/mod.rs"),
            Kind::Metrics => include_str!("metrics/mod.rs"),
        }
    }

    /// The text of the header line starting with `label`, `//! ` removed.
    fn header_line(source: &str, label: &str) -> Option<String> {
        source
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .map(|line| line.trim_start_matches("//!").trim())
            .find(|line| line.starts_with(label))
            .map(str::to_string)
    }

    #[test]
    fn each_process_module_header_says_what_the_table_says() {
        for row in &PROCS {
            let source = header(row.kind);
            assert_eq!(
                header_line(source, "imsg peers:"),
                Some(peers_line(row)),
                "{} module header",
                row.kind
            );
            let sandbox = header_line(source, "Sandbox:").unwrap_or_default();
            assert!(
                sandbox.starts_with(&sandbox_line(row)),
                "{} module header says {sandbox:?}, the table {:?}",
                row.kind,
                sandbox_line(row)
            );
        }
    }
}
