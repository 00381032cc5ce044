//! The nftables ruleset that the redirects imply, written as nft scripts.
//! Pure text generation, no I/O: the pfe hands the scripts to libnftables.
//!
//! Layout of `table inet relayd`, for redirect id N:
//!
//! | object | what it holds |
//! | --- | --- |
//! | chains `prerouting`, `output` | nat hooks (priority -100); one `jump rdr_N_pre` / `jump rdr_N_out` per redirect, never changed while a configuration runs |
//! | chains `rdr_N_pre`, `rdr_N_out` | one DNAT rule per `listen on`; empty while the redirect is down or disabled |
//! | maps `rdr_N_v4`, `rdr_N_v6` | slot number -> host address: the hosts up in the table in use |
//! | counter `rdr_N` | connections redirected (a nat chain sees the first packet of each connection only) |
//! | chains `bytes_pre`, `bytes_output`, `rdr_N_bytes`, counters `rdr_N_bytes_in`, `rdr_N_bytes_out` | the bytes of the redirected flows, every packet (`bytes.rs`) |
//! | ct timeout `rdr_N_tcp` | `session timeout` as the conntrack `established` timeout |
//!
//! An update of one redirect flushes its two chains and maps and refills
//! them in one transaction: other redirects, the counters and the existing
//! connections (conntrack keeps their NAT binding) are untouched. The rules
//! are rewritten with the maps because the modulus of `numgen`/`jhash` is
//! the number of hosts up.

use relayd_config::{Config, IpProto, Mode, ObjectId, Redirect, RedirectListen};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Family and name of relayd's table; relayd touches no other.
pub const TABLE: &str = "inet relayd";

/// How a redirect picks a host for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// `mode roundrobin`: `numgen inc`.
    RoundRobin,
    /// `mode random`: `numgen random`.
    Random,
    /// `mode source-hash` and `sticky-address`: `jhash` of the source
    /// address, so a client keeps its host while the set of hosts is stable.
    SourceHash { seed: u32 },
}

/// One table a redirect forwards to (main, then backup), with its hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUse {
    pub id: ObjectId,
    pub name: String,
    /// Port the hosts are forwarded to.
    pub port: Option<u16>,
    pub hosts: Vec<(ObjectId, IpAddr)>,
}

/// A redirect, reduced to what the ruleset needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRules {
    pub id: ObjectId,
    pub name: String,
    pub listens: Vec<RedirectListen>,
    pub scheduler: Scheduler,
    /// Packet and conntrack mark for `[match] pftag NAME`.
    pub mark: Option<(String, u32)>,
    pub session_timeout_secs: u32,
    /// Main table, then the backup table if any.
    pub tables: Vec<TableUse>,
}

/// Where a redirect sends new connections right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub port: Option<u16>,
    pub hosts: Vec<IpAddr>,
}

/// Every target `rules` can have: each of its tables with all hosts up.
pub fn every_target(rules: &RedirectRules) -> impl Iterator<Item = Target> + '_ {
    rules
        .tables
        .iter()
        .filter(|table| !table.hosts.is_empty())
        .map(|table| Target {
            port: table.port,
            hosts: table.hosts.iter().map(|(_, addr)| *addr).collect(),
        })
}

impl RedirectRules {
    /// The rules of `redirect`. `random_seed` is the hash seed when the
    /// configuration gives no key. Modes nftables cannot express were
    /// refused when the configuration was loaded (see `check`); here they
    /// fall back to round robin.
    pub fn new(redirect: &Redirect, config: &Config, random_seed: u32) -> RedirectRules {
        let main = redirect.forward.first();
        let seed = main
            .and_then(|f| f.key.as_deref())
            .map_or(random_seed, hash_seed);
        let scheduler = match main.map(|f| f.mode).unwrap_or_default() {
            _ if redirect.sticky_address => Scheduler::SourceHash { seed },
            Mode::SourceHash => Scheduler::SourceHash { seed },
            Mode::Random => Scheduler::Random,
            _ => Scheduler::RoundRobin,
        };
        let tables = redirect
            .forward
            .iter()
            .filter_map(|f| config.table(&f.table))
            .map(|t| TableUse {
                id: t.id,
                name: t.name.clone(),
                port: t.port,
                hosts: t.hosts.iter().map(|h| (h.id, h.addr)).collect(),
            })
            .collect();
        RedirectRules {
            id: redirect.id,
            name: redirect.name.clone(),
            // A listen line nftables cannot match was warned about at
            // load; it redirects nothing.
            listens: redirect
                .listen
                .iter()
                .filter(|listen| super::check::listen_usable(listen))
                .cloned()
                .collect(),
            scheduler,
            mark: redirect
                .pftag
                .as_ref()
                .map(|tag| (tag.clone(), tag_mark(tag))),
            session_timeout_secs: redirect.session_timeout_secs,
            tables,
        }
    }

    fn uses(&self, v4: bool) -> bool {
        self.listens.iter().any(|l| l.addr.is_ipv4() == v4)
    }

    fn uses_tcp(&self) -> bool {
        self.listens.iter().any(|l| l.proto == IpProto::Tcp)
    }
}

/// Removes relayd's table if it exists (a stale one from a killed relayd,
/// or ours at shutdown). Adding first makes the delete succeed either way.
pub fn cleanup_script() -> String {
    format!("add table {TABLE}\ndelete table {TABLE}\n")
}

/// Replaces relayd's table with the skeleton for `redirects`: base chains,
/// and for each redirect its (empty) chains and maps, counter and timeout.
/// With `timeouts` false, no ct timeout objects (kernels without them).
pub fn table_script(redirects: &[RedirectRules], timeouts: bool) -> String {
    let mut s = cleanup_script();
    let _ = writeln!(s, "add table {TABLE}");
    for hook in ["prerouting", "output"] {
        let _ = writeln!(
            s,
            "add chain {TABLE} {hook} {{ type nat hook {hook} priority -100; policy accept; }}"
        );
    }
    if !redirects.is_empty() {
        super::bytes::base_chains(&mut s);
    }
    for r in redirects {
        let n = r.id;
        let _ = writeln!(s, "add counter {TABLE} rdr_{n}");
        super::bytes::redirect_objects(&mut s, r);
        if r.uses(true) {
            let _ = writeln!(
                s,
                "add map {TABLE} rdr_{n}_v4 {{ typeof numgen inc mod 1 : ip daddr; }}"
            );
        }
        if r.uses(false) {
            let _ = writeln!(
                s,
                "add map {TABLE} rdr_{n}_v6 {{ typeof numgen inc mod 1 : ip6 daddr; }}"
            );
        }
        if timeouts && r.uses_tcp() {
            let _ = writeln!(
                s,
                "add ct timeout {TABLE} rdr_{n}_tcp {{ protocol tcp; policy = {{ established: {} }}; }}",
                r.session_timeout_secs.max(1)
            );
        }
        let _ = writeln!(s, "add chain {TABLE} rdr_{n}_pre");
        let _ = writeln!(s, "add chain {TABLE} rdr_{n}_out");
        let _ = writeln!(s, "add rule {TABLE} prerouting jump rdr_{n}_pre");
        let _ = writeln!(s, "add rule {TABLE} output jump rdr_{n}_out");
    }
    s
}

/// Points redirect `r` at `target` (`None`: down or disabled, no rules).
/// Only this redirect's chains and maps change.
pub fn redirect_script(r: &RedirectRules, target: Option<&Target>, timeouts: bool) -> String {
    let n = r.id;
    let mut s = String::new();
    let _ = writeln!(s, "flush chain {TABLE} rdr_{n}_pre");
    let _ = writeln!(s, "flush chain {TABLE} rdr_{n}_out");
    for (v4, suffix) in [(true, "v4"), (false, "v6")] {
        if r.uses(v4) {
            let _ = writeln!(s, "flush map {TABLE} rdr_{n}_{suffix}");
        }
    }
    let Some(target) = target else {
        return s;
    };
    for (v4, suffix) in [(true, "v4"), (false, "v6")] {
        let hosts = family_hosts(&target.hosts, v4);
        if r.uses(v4) && !hosts.is_empty() {
            let elements: Vec<String> = hosts
                .iter()
                .enumerate()
                .map(|(slot, addr)| format!("{slot} : {addr}"))
                .collect();
            let _ = writeln!(
                s,
                "add element {TABLE} rdr_{n}_{suffix} {{ {} }}",
                elements.join(", ")
            );
        }
    }
    for listen in &r.listens {
        let hosts = family_hosts(&target.hosts, listen.addr.is_ipv4()).len();
        if hosts == 0 {
            continue;
        }
        let action = listen_action(r, listen, target.port, hosts, timeouts);
        if let Some(interface) = &listen.interface {
            let _ = writeln!(
                s,
                "add rule {TABLE} rdr_{n}_pre iifname \"{}\" {action}",
                quoted(interface)
            );
        } else {
            let _ = writeln!(s, "add rule {TABLE} rdr_{n}_pre {action}");
            // Connections from this host itself: no interface to match on.
            let _ = writeln!(s, "add rule {TABLE} rdr_{n}_out {action}");
        }
    }
    s
}

/// Match and DNAT of one `listen on`, after the optional interface match.
fn listen_action(
    r: &RedirectRules,
    listen: &RedirectListen,
    table_port: Option<u16>,
    hosts: usize,
    timeouts: bool,
) -> String {
    let n = r.id;
    let (family, suffix) = if listen.addr.is_ipv4() {
        ("ip", "v4")
    } else {
        ("ip6", "v6")
    };
    let proto = match listen.proto {
        IpProto::Tcp => "tcp",
        IpProto::Udp => "udp",
    };
    let ports = if listen.port.lo == listen.port.hi {
        listen.port.lo.to_string()
    } else {
        format!("{}-{}", listen.port.lo, listen.port.hi)
    };
    let mut s = format!(
        "{family} daddr {} {proto} dport {ports} counter name \"rdr_{n}\"",
        listen.addr
    );
    if timeouts && listen.proto == IpProto::Tcp {
        let _ = write!(s, " ct timeout set \"rdr_{n}_tcp\"");
    }
    if let Some((_, mark)) = &r.mark {
        let _ = write!(s, " meta mark set 0x{mark:08x} ct mark set meta mark");
    }
    let selector = match r.scheduler {
        Scheduler::RoundRobin => format!("numgen inc mod {hosts}"),
        Scheduler::Random => format!("numgen random mod {hosts}"),
        Scheduler::SourceHash { seed } => {
            format!("jhash {family} saddr mod {hosts} seed 0x{seed:08x}")
        }
    };
    let _ = write!(s, " dnat {family} to {selector} map @rdr_{n}_{suffix}");
    if let Some(port) = dnat_port(listen, table_port) {
        let _ = write!(s, " : {port}");
    }
    let comment = match &r.mark {
        Some((tag, _)) => format!("redirect {} tag {}", r.name, tag),
        None => format!("redirect {}", r.name),
    };
    let _ = write!(s, " comment \"{}\"", quoted(&comment));
    s
}

/// nftables keeps at most 127 bytes of a rule comment (128 with its NUL)
/// and refuses a longer one; relayd.conf(5) names and tags of 63
/// characters each make longer ones, so they are cut, at a character.
const COMMENT_MAX: usize = 127;

/// The port new connections go to, as pf's rdr does: a single listen port
/// goes to the table's port; a port range keeps the port the client asked
/// for unless the table names another port than the range's first.
fn dnat_port(listen: &RedirectListen, table_port: Option<u16>) -> Option<u16> {
    if listen.port.lo == listen.port.hi {
        Some(table_port.unwrap_or(listen.port.lo))
    } else {
        table_port.filter(|p| *p != listen.port.lo)
    }
}

fn family_hosts(hosts: &[IpAddr], v4: bool) -> Vec<IpAddr> {
    hosts
        .iter()
        .copied()
        .filter(|a| a.is_ipv4() == v4)
        .collect()
}

/// nft strings cannot hold `"` and have no escapes.
fn quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len().min(COMMENT_MAX));
    for c in text.chars() {
        let c = if c == '"' || c == '\\' { '_' } else { c };
        if quoted.len() + c.len_utf8() > COMMENT_MAX {
            break;
        }
        quoted.push(c);
    }
    quoted
}

/// The command listing every counter of relayd's table.
pub fn list_counters_script() -> String {
    format!("list counters table {TABLE}\n")
}

/// What one named counter read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// Each named counter in the output of `list counters`.
pub fn parse_counters(text: &str) -> BTreeMap<String, Counter> {
    let mut counters = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("counter ") {
            current = rest
                .trim_end_matches('{')
                .split_whitespace()
                .next()
                .map(String::from);
        } else if let Some(rest) = line.strip_prefix("packets ") {
            // `packets P bytes B`
            let mut words = rest.split_whitespace();
            let packets = words.next().and_then(|p| p.parse().ok());
            let bytes = match (words.next(), words.next()) {
                (Some("bytes"), Some(b)) => b.parse().ok(),
                _ => None,
            };
            if let (Some(name), Some(packets), Some(bytes)) = (current.take(), packets, bytes) {
                counters.insert(name, Counter { packets, bytes });
            }
        }
    }
    counters
}

/// Name of the counter of redirect `id`.
pub fn counter_name(id: ObjectId) -> String {
    format!("rdr_{id}")
}

/// The 32-bit jhash seed of a `mode source-hash KEY`: pf keys are 128 bits
/// (`0x` and 32 hex digits, folded here by xor) or a string (hashed).
pub fn hash_seed(key: &str) -> u32 {
    let hex = key.strip_prefix("0x").or_else(|| key.strip_prefix("0X"));
    if let Some(hex) = hex.filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())) {
        let mut seed = 0u32;
        for chunk in hex.as_bytes().chunks(8) {
            let word = std::str::from_utf8(chunk)
                .ok()
                .and_then(|w| u32::from_str_radix(w, 16).ok())
                .unwrap_or(0);
            seed ^= word;
        }
        seed
    } else {
        fnv1a(key)
    }
}

/// The packet mark standing for pf tag `tag`: FNV-1a of the name (never 0,
/// which means "no mark"). Stable across restarts, so firewall rules can
/// match it; `nft list table inet relayd` shows it next to the tag name.
pub fn tag_mark(tag: &str) -> u32 {
    match fnv1a(tag) {
        0 => 1,
        mark => mark,
    }
}

fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_are_cut_to_what_nftables_keeps_at_a_character() {
        let long = format!("redirect {} tag {}", "w".repeat(63), "é".repeat(40));
        let cut = quoted(&long);
        assert!(cut.len() <= COMMENT_MAX, "{}", cut.len());
        assert!(long.starts_with(&cut));
        assert_eq!(quoted("a\"b\\c"), "a_b_c");
    }

    use super::*;
    use relayd_config::PortRange;

    fn listen(
        addr: &str,
        proto: IpProto,
        lo: u16,
        hi: u16,
        interface: Option<&str>,
    ) -> RedirectListen {
        RedirectListen {
            addr: addr.parse().unwrap(),
            proto,
            port: PortRange { lo, hi },
            interface: interface.map(String::from),
            origin: Default::default(),
        }
    }

    fn rules(scheduler: Scheduler, listens: Vec<RedirectListen>) -> RedirectRules {
        RedirectRules {
            id: 3,
            name: "www".into(),
            listens,
            scheduler,
            mark: None,
            session_timeout_secs: 600,
            tables: Vec::new(),
        }
    }

    fn target(port: u16, hosts: &[&str]) -> Target {
        Target {
            port: Some(port),
            hosts: hosts.iter().map(|h| h.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn round_robin_rules_fill_the_map_and_use_its_size_as_modulus() {
        let r = rules(
            Scheduler::RoundRobin,
            vec![listen("10.0.0.1", IpProto::Tcp, 80, 80, None)],
        );
        let s = redirect_script(&r, Some(&target(8080, &["10.0.1.2", "10.0.2.2"])), true);
        assert!(s.starts_with("flush chain inet relayd rdr_3_pre\nflush chain inet relayd rdr_3_out\nflush map inet relayd rdr_3_v4\n"), "{s}");
        assert!(!s.contains("rdr_3_v6"), "{s}");
        assert!(
            s.contains("add element inet relayd rdr_3_v4 { 0 : 10.0.1.2, 1 : 10.0.2.2 }"),
            "{s}"
        );
        let rule = "ip daddr 10.0.0.1 tcp dport 80 counter name \"rdr_3\" ct timeout set \"rdr_3_tcp\" dnat ip to numgen inc mod 2 map @rdr_3_v4 : 8080 comment \"redirect www\"";
        assert!(
            s.contains(&format!("add rule inet relayd rdr_3_pre {rule}\n")),
            "{s}"
        );
        assert!(
            s.contains(&format!("add rule inet relayd rdr_3_out {rule}\n")),
            "{s}"
        );
    }

    #[test]
    fn a_down_redirect_only_flushes_its_own_objects() {
        let r = rules(
            Scheduler::Random,
            vec![listen("fd00::1", IpProto::Udp, 53, 53, None)],
        );
        let s = redirect_script(&r, None, true);
        assert_eq!(
            s,
            "flush chain inet relayd rdr_3_pre\nflush chain inet relayd rdr_3_out\nflush map inet relayd rdr_3_v6\n"
        );
    }

    #[test]
    fn modes_interfaces_tags_and_ranges_map_to_their_nft_forms() {
        let mut r = rules(
            Scheduler::SourceHash { seed: 0xabc },
            vec![
                listen("fd00::1", IpProto::Udp, 5000, 5010, Some("eth\"0")),
                listen("10.0.0.1", IpProto::Tcp, 80, 80, None),
            ],
        );
        r.mark = Some(("web".into(), 0x1234));
        let s = redirect_script(
            &r,
            Some(&target(5000, &["fd00::2", "10.0.1.2", "fd00::3"])),
            false,
        );
        assert!(
            s.contains("add element inet relayd rdr_3_v6 { 0 : fd00::2, 1 : fd00::3 }"),
            "{s}"
        );
        assert!(
            s.contains("add element inet relayd rdr_3_v4 { 0 : 10.0.1.2 }"),
            "{s}"
        );
        // Interface: prerouting only, and the range keeps the client's port.
        assert!(s.contains("add rule inet relayd rdr_3_pre iifname \"eth_0\" ip6 daddr fd00::1 udp dport 5000-5010 counter name \"rdr_3\" meta mark set 0x00001234 ct mark set meta mark dnat ip6 to jhash ip6 saddr mod 2 seed 0x00000abc map @rdr_3_v6 comment \"redirect www tag web\"\n"), "{s}");
        assert!(!s.contains("rdr_3_out iifname"), "{s}");
        assert!(
            s.contains("jhash ip saddr mod 1 seed 0x00000abc map @rdr_3_v4 : 5000"),
            "{s}"
        );
        assert!(!s.contains("ct timeout"), "{s}");
        r.scheduler = Scheduler::Random;
        let s = redirect_script(&r, Some(&target(5000, &["10.0.1.2"])), false);
        assert!(s.contains("numgen random mod 1 map @rdr_3_v4"), "{s}");
        // No v6 host up: the v6 listen gets no rule rather than a DNAT to nothing.
        assert!(!s.contains("ip6 daddr"), "{s}");
    }

    #[test]
    fn the_table_script_replaces_the_whole_table() {
        let r = rules(
            Scheduler::RoundRobin,
            vec![listen("10.0.0.1", IpProto::Tcp, 80, 80, None)],
        );
        let s = table_script(&[r], true);
        assert!(
            s.starts_with(
                "add table inet relayd\ndelete table inet relayd\nadd table inet relayd\n"
            ),
            "{s}"
        );
        for line in [
            "add chain inet relayd prerouting { type nat hook prerouting priority -100; policy accept; }",
            "add chain inet relayd output { type nat hook output priority -100; policy accept; }",
            "add counter inet relayd rdr_3",
            "add map inet relayd rdr_3_v4 { typeof numgen inc mod 1 : ip daddr; }",
            "add ct timeout inet relayd rdr_3_tcp { protocol tcp; policy = { established: 600 }; }",
            "add rule inet relayd prerouting jump rdr_3_pre",
            "add rule inet relayd output jump rdr_3_out",
            "add counter inet relayd rdr_3_bytes_in",
            "add rule inet relayd bytes_pre jump rdr_3_bytes",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        assert!(!table_script(&[], false).contains("rdr_"));
    }

    #[test]
    fn counters_are_read_from_nft_output() {
        let text = "table inet relayd {\n\tcounter rdr_1 {\n\t\tpackets 12 bytes 720\n\t}\n\tcounter rdr_20 {\n\t\tpackets 0 bytes 0\n\t}\n}\n";
        let counters = parse_counters(text);
        assert_eq!(
            counters.get("rdr_1"),
            Some(&Counter {
                packets: 12,
                bytes: 720
            })
        );
        assert_eq!(counters.get(&counter_name(20)), Some(&Counter::default()));
        assert_eq!(counters.len(), 2);
    }

    #[test]
    fn hash_keys_and_tags_give_stable_numbers() {
        assert_eq!(hash_seed("0x00000001000000020000000400000008"), 15);
        assert_eq!(hash_seed("secret"), hash_seed("secret"));
        assert_ne!(hash_seed("secret"), hash_seed("other"));
        assert_ne!(tag_mark("web"), 0);
        assert_eq!(tag_mark("web"), tag_mark("web"));
    }

    #[test]
    fn the_kernel_takes_every_generated_script() {
        let mut sticky = rules(
            Scheduler::SourceHash { seed: 7 },
            vec![
                listen("10.0.0.1", IpProto::Tcp, 80, 80, Some("veth0")),
                listen("fd00::1", IpProto::Udp, 5000, 5010, None),
            ],
        );
        sticky.id = 4;
        sticky.mark = Some(("web".into(), tag_mark("web")));
        let round_robin = rules(
            Scheduler::RoundRobin,
            vec![listen("10.0.0.1", IpProto::Tcp, 81, 81, None)],
        );
        let all = [round_robin, sticky];
        let Some(results) = crate::pfe::nft::tests::in_own_netns(move |mut nft| {
            let mut results = vec![nft.run(&table_script(&all, true))];
            let up = target(8080, &["10.0.1.2", "10.0.2.2", "fd00::2"]);
            for r in &all {
                results.push(nft.run(&redirect_script(r, Some(&up), true)));
            }
            results.push(nft.run(&format!("list table {TABLE}")));
            results.push(nft.run(&redirect_script(&all[0], None, true)));
            results.push(nft.run(&format!("list chain {TABLE} rdr_3_pre")));
            results.push(nft.run(&list_counters_script()));
            results.push(nft.run(&cleanup_script()));
            results.push(nft.run(&cleanup_script()));
            results.push(nft.run("list tables"));
            results
        }) else {
            return;
        };
        let texts: Vec<String> = results
            .into_iter()
            .enumerate()
            .map(|(step, r)| r.unwrap_or_else(|e| panic!("step {step}: {e}")))
            .collect();
        let table = &texts[3];
        for part in [
            "dnat ip to numgen inc mod 2 map @rdr_3_v4:8080",
            "iifname \"veth0\" ip daddr 10.0.0.1 tcp dport 80",
            "jhash ip saddr mod 2 seed 0x7 map @rdr_4_v4:8080",
            "dnat ip6 to jhash ip6 saddr mod 1 seed 0x7 map @rdr_4_v6:8080 comment",
            "ct timeout set \"rdr_4_tcp\"",
            "elements = { 0 : 10.0.1.2, 1 : 10.0.2.2 }",
        ] {
            assert!(table.contains(part), "missing {part:?} in\n{table}");
        }
        assert!(!texts[5].contains("dnat"), "{}", texts[5]);
        // Each redirect's connection counter and its two byte counters.
        assert_eq!(parse_counters(&texts[6]).len(), 6, "{}", texts[6]);
        assert!(!texts[9].contains("relayd"), "{}", texts[9]);
    }

    #[test]
    fn redirects_from_the_config_pick_their_scheduler_seed_and_mark() {
        let mut config = Config::default();
        config.tables.push(relayd_config::Table {
            id: 2,
            name: "web:80".into(),
            template: "web".into(),
            port: Some(80),
            disabled: false,
            check: relayd_config::Check::Tcp,
            interval_secs: 10,
            timeout_ms: 200,
            demote: None,
            hosts: vec![relayd_config::Host {
                id: 5,
                name: "10.0.1.2".into(),
                addr: "10.0.1.2".parse().unwrap(),
                retry: 0,
                parent: None,
                priority: None,
                ip_ttl: None,
            }],
        });
        let forward = |mode, key: Option<&str>| relayd_config::TableForward {
            table: "web:80".into(),
            mode,
            key: key.map(String::from),
            retry: 0,
            interface: None,
        };
        let mut redirect = Redirect {
            id: 1,
            name: "www".into(),
            disabled: false,
            listen: vec![listen("10.0.0.1", IpProto::Tcp, 80, 80, None)],
            forward: vec![forward(Mode::Random, None)],
            route_to: false,
            pftag: Some("web".into()),
            pftag_match: true,
            sticky_address: false,
            session_timeout_secs: 30,
            origin: Default::default(),
        };
        let r = RedirectRules::new(&redirect, &config, 99);
        assert_eq!(r.scheduler, Scheduler::Random);
        assert_eq!(r.mark, Some(("web".into(), tag_mark("web"))));
        assert_eq!(r.session_timeout_secs, 30);
        assert_eq!(r.tables.len(), 1);
        assert_eq!(r.tables[0].port, Some(80));
        assert_eq!(r.tables[0].hosts, vec![(5, "10.0.1.2".parse().unwrap())]);
        // sticky-address hashes the source, with the random seed if no key.
        redirect.sticky_address = true;
        let r = RedirectRules::new(&redirect, &config, 99);
        assert_eq!(r.scheduler, Scheduler::SourceHash { seed: 99 });
        redirect.sticky_address = false;
        redirect.forward = vec![forward(Mode::SourceHash, Some("secret"))];
        let r = RedirectRules::new(&redirect, &config, 99);
        assert_eq!(
            r.scheduler,
            Scheduler::SourceHash {
                seed: hash_seed("secret")
            }
        );
        redirect.forward = vec![forward(Mode::RoundRobin, None)];
        assert_eq!(
            RedirectRules::new(&redirect, &config, 99).scheduler,
            Scheduler::RoundRobin
        );
    }
}
