//! The bytes of redirected flows, counted by nftables. The DNAT rules sit
//! in nat chains, which see only the first packet of a connection (its
//! counter `rdr_N` counts connections); these rules sit in filter chains,
//! which see every packet, and pick the flows a redirect DNAT'ed by their
//! conntrack entry: `ct status dnat` and the original destination one of
//! its `listen on` lines (address, protocol, port or range).
//!
//! | object | what it holds |
//! | --- | --- |
//! | chains `bytes_pre`, `bytes_output` | filter hooks prerouting and output (priority 0: after conntrack and DNAT); one `jump rdr_N_bytes` each per redirect |
//! | chain `rdr_N_bytes` | per `listen on`, one rule per direction of the flow |
//! | counters `rdr_N_bytes_in`, `rdr_N_bytes_out` | packets and bytes from clients (the original direction) and from hosts (the reply direction) |
//!
//! Each packet is counted once: a packet arriving (from a network or
//! looped back) passes prerouting, one this host sends passes output, and
//! one sent to a local address passes both (it loops back), so output
//! leaves those to prerouting. Output asks the packet's destination
//! (`fib daddr type local`, after DNAT) rather than the interface: the
//! hook's output interface is the one routed before the DNAT, `lo` for a
//! connection this host makes to a redirect's own address.
//! The bytes are the IP packets' (headers included), so a flow that
//! carried N bytes of payload counts more than N. The chains are part of
//! the table's skeleton: a redirect's updates (its hosts going up or
//! down) leave them and their counters alone.

use super::ruleset::{RedirectRules, TABLE};
use relayd_config::{IpProto, ObjectId, RedirectListen};
use std::fmt::Write as _;

/// The base chains, before any redirect's objects.
pub fn base_chains(s: &mut String) {
    let _ = writeln!(
        s,
        "add chain {TABLE} bytes_pre {{ type filter hook prerouting priority 0; policy accept; }}"
    );
    let _ = writeln!(
        s,
        "add chain {TABLE} bytes_output {{ type filter hook output priority 0; policy accept; }}"
    );
    // What goes to a local address comes back through prerouting,
    // counted there.
    let _ = writeln!(
        s,
        "add rule {TABLE} bytes_output fib daddr type local return"
    );
}

/// Redirect `r`'s counters, chain and rules.
pub fn redirect_objects(s: &mut String, r: &RedirectRules) {
    let n = r.id;
    let (inbound, outbound) = counter_names(n);
    let _ = writeln!(s, "add counter {TABLE} {inbound}");
    let _ = writeln!(s, "add counter {TABLE} {outbound}");
    let _ = writeln!(s, "add chain {TABLE} rdr_{n}_bytes");
    for listen in &r.listens {
        let flow = flow_match(listen);
        for (direction, counter) in [("original", &inbound), ("reply", &outbound)] {
            let _ = writeln!(
                s,
                "add rule {TABLE} rdr_{n}_bytes {flow} ct direction {direction} counter name \"{counter}\""
            );
        }
    }
    let _ = writeln!(s, "add rule {TABLE} bytes_pre jump rdr_{n}_bytes");
    let _ = writeln!(s, "add rule {TABLE} bytes_output jump rdr_{n}_bytes");
}

/// The names of redirect `id`'s byte counters: from clients, from hosts.
pub fn counter_names(id: ObjectId) -> (String, String) {
    (format!("rdr_{id}_bytes_in"), format!("rdr_{id}_bytes_out"))
}

/// The flows `listen` DNAT'ed, by their conntrack entry. `meta l4proto`
/// gives nft the protocol `ct original proto-dst` needs to read a port.
fn flow_match(listen: &RedirectListen) -> String {
    let family = if listen.addr.is_ipv4() { "ip" } else { "ip6" };
    let proto = match listen.proto {
        IpProto::Tcp => "tcp",
        IpProto::Udp => "udp",
    };
    let ports = if listen.port.lo == listen.port.hi {
        listen.port.lo.to_string()
    } else {
        format!("{}-{}", listen.port.lo, listen.port.hi)
    };
    format!(
        "ct status dnat ct original {family} daddr {} meta l4proto {proto} ct original proto-dst {ports}",
        listen.addr
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfe::ruleset::Scheduler;
    use relayd_config::PortRange;

    fn listen(addr: &str, proto: IpProto, lo: u16, hi: u16) -> RedirectListen {
        RedirectListen {
            addr: addr.parse().unwrap(),
            proto,
            port: PortRange { lo, hi },
            interface: None,
            origin: Default::default(),
        }
    }

    #[test]
    fn each_listen_counts_both_directions_of_its_dnat_flows() {
        let r = RedirectRules {
            id: 2,
            name: "www".into(),
            listens: vec![
                listen("10.0.0.1", IpProto::Tcp, 80, 80),
                listen("fd00::1", IpProto::Udp, 5000, 5010),
            ],
            scheduler: Scheduler::RoundRobin,
            mark: None,
            session_timeout_secs: 600,
            tables: Vec::new(),
        };
        let mut s = String::new();
        base_chains(&mut s);
        redirect_objects(&mut s, &r);
        for line in [
            "add chain inet relayd bytes_pre { type filter hook prerouting priority 0; policy accept; }",
            "add rule inet relayd bytes_output fib daddr type local return",
            "add counter inet relayd rdr_2_bytes_in",
            "add counter inet relayd rdr_2_bytes_out",
            "add rule inet relayd rdr_2_bytes ct status dnat ct original ip daddr 10.0.0.1 meta l4proto tcp ct original proto-dst 80 ct direction original counter name \"rdr_2_bytes_in\"",
            "add rule inet relayd rdr_2_bytes ct status dnat ct original ip daddr 10.0.0.1 meta l4proto tcp ct original proto-dst 80 ct direction reply counter name \"rdr_2_bytes_out\"",
            "add rule inet relayd rdr_2_bytes ct status dnat ct original ip6 daddr fd00::1 meta l4proto udp ct original proto-dst 5000-5010 ct direction reply counter name \"rdr_2_bytes_out\"",
            "add rule inet relayd bytes_pre jump rdr_2_bytes",
            "add rule inet relayd bytes_output jump rdr_2_bytes",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        // The local destinations leave before any jump.
        let lo = s.find("fib daddr type local return").unwrap();
        assert!(lo < s.find("bytes_output jump").unwrap());
    }
}
