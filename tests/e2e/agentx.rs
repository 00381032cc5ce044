//! AgentX: relayd's pfe as the subagent of Debian's net-snmp `snmpd`
//! (started by the test in a scratch directory). snmpwalk and snmpget
//! read OPENBSD-RELAYD-MIB's relay, table and host rows, which match
//! `relayctl show summary`; a host going down shows in the next walk; a
//! restarted snmpd has relayd registered again within seconds; the older
//! `snmp` spelling works too.

use e2e::{
    bin, connect, daemon_can_run, expect_state, free_port, or_skip, summary_rows, tools_installed,
    wait_until, watched_relay_config, Daemon, ScratchDir, Snmpd, SummaryRow, TcpBackend,
    TcpBehaviour,
};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// relaydInfo: enterprises.30155.3.2.
const INFO: &str = ".1.3.6.1.4.1.30155.3.2";

/// The value of relaydInfo.TABLE.1.COLUMN.INDEX in a walk.
fn cell(walk: &BTreeMap<String, String>, table: u32, column: u32, index: u32) -> Option<&str> {
    walk.get(&format!("{INFO}.{table}.1.{column}.{index}"))
        .map(String::as_str)
}

fn summary(daemon: &Daemon) -> Vec<SummaryRow> {
    let out = daemon.relayctl(&["show", "summary"]);
    summary_rows(&String::from_utf8_lossy(&out.stdout))
}

/// relaydHostErrno for a `check tcp` host in a `show summary` status:
/// relayd's HCE_TCP_CONNECT_OK (11) for a host up, HCE_TCP_CONNECT_FAIL
/// (9) for one whose connect was refused.
fn tcp_check_errno(status: &str) -> &'static str {
    match status {
        "up" => "11",
        _ => "9",
    }
}

/// `relayctl -j show hosts`: each host's id and its `errno`.
fn json_errnos(daemon: &Daemon) -> BTreeMap<u32, u64> {
    let out = daemon.relayctl(&["-j", "show", "hosts"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|row| row["type"] == "host")
        .filter_map(|row| {
            let id = u32::try_from(row["status"]["host_id"].as_u64()?).ok()?;
            Some((id, row["errno"].as_u64()?))
        })
        .collect()
}

/// relaydHostStatus for a `show summary` host status.
fn host_status_code(status: &str) -> &'static str {
    match status {
        "up" => "0",
        "disabled" => "1",
        "down" => "2",
        _ => "3",
    }
}

#[test]
fn snmpwalk_reads_relays_tables_and_hosts_and_follows_the_master() {
    if !daemon_can_run() || !tools_installed(&["snmpd", "snmpwalk", "snmpget"]) {
        return;
    }
    let Some(mut snmpd) = or_skip(Snmpd::start()) else {
        return;
    };
    let mut backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Silent);
    let relay_port = free_port();
    let config = watched_relay_config(
        &format!("agentx path \"{}\"\n", snmpd.agentx_socket.display()),
        "127.0.0.1 127.0.0.2",
        "www",
        relay_port,
        backend.port(),
    );
    let daemon = Daemon::start("agentx", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));
    expect_state(&daemon, "127.0.0.2", "down", Duration::from_secs(10));

    let registered = |snmpd: &Snmpd| !snmpd.walk(INFO).is_empty();
    assert!(
        wait_until(Duration::from_secs(15), || registered(&snmpd)),
        "relayd's MIB never showed in snmpd\nsnmpd:\n{}\nrelayd:\n{}",
        snmpd.log_text(),
        daemon.log_text()
    );

    let rows = summary(&daemon);
    let walking = std::time::Instant::now();
    let walk = snmpd.walk(INFO);
    eprintln!(
        "agentx: snmpwalk of {} variables took {:?}",
        walk.len(),
        walking.elapsed()
    );
    let context = || format!("walk: {walk:#?}\nsummary: {rows:#?}");
    let relays: Vec<&SummaryRow> = rows.iter().filter(|r| r.kind == "relay").collect();
    let tables: Vec<&SummaryRow> = rows.iter().filter(|r| r.kind == "table").collect();
    let hosts: Vec<&SummaryRow> = rows.iter().filter(|r| r.kind == "host").collect();
    assert_eq!(
        (relays.len(), tables.len(), hosts.len()),
        (1, 1, 2),
        "{}",
        context()
    );
    for relay in &relays {
        assert_eq!(
            cell(&walk, 2, 1, relay.id),
            Some(relay.id.to_string().as_str()),
            "{}",
            context()
        );
        assert_eq!(cell(&walk, 2, 2, relay.id), Some("0"), "{}", context());
        assert_eq!(
            cell(&walk, 2, 3, relay.id),
            Some(relay.name.as_str()),
            "{}",
            context()
        );
        assert!(cell(&walk, 2, 4, relay.id).is_some(), "{}", context());
    }
    for table in &tables {
        assert_eq!(
            cell(&walk, 7, 2, table.id),
            Some(table.name.as_str()),
            "{}",
            context()
        );
        assert_eq!(cell(&walk, 7, 3, table.id), Some("0"), "{}", context());
    }
    for host in &hosts {
        assert_eq!(
            cell(&walk, 5, 4, host.id),
            Some(host.name.as_str()),
            "{}",
            context()
        );
        assert_eq!(
            cell(&walk, 5, 7, host.id),
            Some(host_status_code(&host.status)),
            "{}",
            context()
        );
        assert_eq!(
            cell(&walk, 5, 3, host.id),
            Some(tables[0].id.to_string().as_str())
        );
        assert_eq!(cell(&walk, 5, 6, host.id), Some("1"), "{}", context());
        // 127.0.0.2 refuses the check's connect: nothing listens there.
        assert_eq!(
            cell(&walk, 5, 10, host.id),
            Some(tcp_check_errno(&host.status)),
            "{}",
            context()
        );
    }
    // relayctl -j says the same codes.
    let errnos = json_errnos(&daemon);
    for host in &hosts {
        assert_eq!(
            errnos.get(&host.id).map(u64::to_string).as_deref(),
            cell(&walk, 5, 10, host.id),
            "{errnos:?}\n{}",
            context()
        );
    }
    let first = hosts
        .iter()
        .find(|h| h.name == "127.0.0.1")
        .expect("host 127.0.0.1");
    assert_eq!(
        cell(&walk, 5, 5, first.id),
        Some("7F 00 00 01"),
        "{}",
        context()
    );
    // The check counter (Counter64) is there and counting.
    let checks: u64 = cell(&walk, 5, 8, first.id)
        .and_then(|v| v.parse().ok())
        .expect("relaydHostCheckCnt");
    assert!(checks >= 1, "{}", context());

    // GetBulk requests see the same variables (the counters may move).
    // net-snmp's master hands a subagent GetNexts for them (the pfe's
    // debug log shows no AgentX GetBulk): the GetBulk PDU itself is the
    // unit tests' (pfe/agentx/mib).
    let bulk = snmpd.bulk_walk(INFO);
    assert_eq!(
        bulk.keys().collect::<Vec<_>>(),
        walk.keys().collect::<Vec<_>>(),
        "{bulk:#?}"
    );

    // snmpget of one instance, and of one that is not there.
    let name_oid = format!("{INFO}.5.1.4.{}", first.id);
    let missing = format!("{INFO}.5.1.4.{}", 100_000);
    let got = snmpd.get(&[&name_oid, &missing]);
    assert_eq!(got.get(&name_oid).map(String::as_str), Some("127.0.0.1"));
    assert!(!got.contains_key(&missing), "{got:?}");

    // A session through the relay is a row of relaydSessions, indexed
    // by relay and session, its client the address we connect from.
    let client = connect(relay_port);
    let relay_id = relays[0].id;
    let session_row = |walk: &BTreeMap<String, String>| {
        let prefix = format!("{INFO}.6.1.2.{relay_id}.");
        walk.iter()
            .find(|(oid, value)| oid.starts_with(&prefix) && **value == relay_id.to_string())
            .map(|(oid, _)| oid[prefix.len()..].to_string())
    };
    let mut walk = BTreeMap::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            walk = snmpd.walk(INFO);
            session_row(&walk).is_some()
        }),
        "no session row: {walk:#?}"
    );
    let session = session_row(&walk).unwrap_or_default();
    let client_port = client.local_addr().map(|a| a.port()).unwrap_or(0);
    assert_eq!(
        walk.get(&format!("{INFO}.6.1.7.{relay_id}.{session}")),
        Some(&client_port.to_string()),
        "{walk:#?}"
    );
    assert_eq!(
        walk.get(&format!("{INFO}.6.1.3.{relay_id}.{session}"))
            .map(String::as_str),
        Some("7F 00 00 01")
    );
    drop(client);

    // The backend goes away: the next walk shows the host down.
    backend.kill();
    expect_state(&daemon, "127.0.0.1", "down", Duration::from_secs(10));
    // A view answers for a quarter second (a walk is a request per
    // variable): the next walk after that sees the change.
    std::thread::sleep(Duration::from_millis(300));
    let status_oid = format!("{INFO}.5.1.7.{}", first.id);
    let walk = snmpd.walk(INFO);
    assert_eq!(
        walk.get(&status_oid).map(String::as_str),
        Some("2"),
        "{walk:#?}"
    );
    // Its port is closed now: the connect is refused.
    assert_eq!(
        walk.get(&format!("{INFO}.5.1.10.{}", first.id))
            .map(String::as_str),
        Some("9"),
        "{walk:#?}"
    );

    // snmpd restarts: relayd opens a new session and registers again.
    let started = std::time::Instant::now();
    snmpd.restart().expect("snmpd restarts");
    let back = wait_until(Duration::from_secs(10), || {
        snmpd.get(&[&name_oid]).contains_key(&name_oid)
    });
    assert!(
        back,
        "relayd did not register again within 10 s\nsnmpd:\n{}\nrelayd:\n{}",
        snmpd.log_text(),
        daemon.log_text()
    );
    eprintln!(
        "agentx: registered again {:?} after snmpd was killed",
        started.elapsed()
    );
}

/// The older spelling, `snmp [trap] [PATH]`, as relayd releases before
/// agentx wrote it: `relayd -n` takes it and warns that no traps are sent,
/// and relayd registers with the master at PATH.
#[test]
fn the_older_snmp_spelling_registers_and_warns_about_traps() {
    if !daemon_can_run() || !tools_installed(&["snmpd", "snmpwalk", "snmpget"]) {
        return;
    }
    let Some(snmpd) = or_skip(Snmpd::start()) else {
        return;
    };
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let snmp_line = format!("snmp trap \"{}\"\n", snmpd.agentx_socket.display());
    let config = watched_relay_config(&snmp_line, "127.0.0.1", "www", free_port(), backend.port());
    let dir = ScratchDir::new("agentx-snmp");
    let file = dir.write("relayd.conf", &config);
    let checked = Command::new(bin("relayd"))
        .arg("-n")
        .arg("-f")
        .arg(&file)
        .output()
        .expect("run relayd -n");
    let said = String::from_utf8_lossy(&checked.stderr).to_string();
    assert!(checked.status.success(), "{said}");
    assert!(
        said.contains("snmp trap: this relayd sends no traps"),
        "{said}"
    );

    let daemon = Daemon::start("agentx-snmp", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));
    let relay_name = format!("{INFO}.2.1.3.1");
    assert!(
        wait_until(Duration::from_secs(15), || {
            snmpd
                .get(&[&relay_name])
                .get(&relay_name)
                .map(String::as_str)
                == Some("www")
        }),
        "relayd did not register at the snmp path\nsnmpd:\n{}\nrelayd:\n{}",
        snmpd.log_text(),
        daemon.log_text()
    );

    // A reload without the option closes the session: the MIB goes away.
    daemon.rewrite_config(&config.replace(&snmp_line, ""));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{out:?}\n{}", daemon.log_text());
    assert!(
        wait_until(Duration::from_secs(10), || snmpd.walk(INFO).is_empty()),
        "still registered after a reload without snmp\n{}",
        daemon.log_text()
    );
    // snmpd itself still answers: it is relayd's subtree that went.
    let sys_descr = ".1.3.6.1.2.1.1.1.0";
    assert!(snmpd.get(&[sys_descr]).contains_key(sys_descr));
}

/// `agentx context C`: relayd registers its MIB in context C of the
/// master. snmpd maps a second community to C (VACM): that community
/// reads relayd's rows, the default context (the first community) has
/// none of them, while snmpd's own variables stay in the default context.
#[test]
fn a_non_default_context_holds_the_rows_and_the_default_one_does_not() {
    if !daemon_can_run() || !tools_installed(&["snmpd", "snmpwalk", "snmpget"]) {
        return;
    }
    let Some(snmpd) = or_skip(Snmpd::start_with_context("relayd")) else {
        return;
    };
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::AcceptAndClose);
    let config = watched_relay_config(
        &format!(
            "agentx context \"relayd\" path \"{}\"\n",
            snmpd.agentx_socket.display()
        ),
        "127.0.0.1",
        "www",
        free_port(),
        backend.port(),
    );
    let daemon = Daemon::start("agentx-context", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));

    let relay_name = format!("{INFO}.2.1.3.1");
    let mut walk = BTreeMap::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            walk = snmpd.walk_context(INFO);
            walk.get(&relay_name).map(String::as_str) == Some("www")
        }),
        "relayd's rows never showed in context relayd: {walk:#?}\nsnmpd:\n{}\nrelayd:\n{}",
        snmpd.log_text(),
        daemon.log_text()
    );
    let host = summary(&daemon)
        .into_iter()
        .find(|r| r.kind == "host")
        .expect("a host row");
    assert_eq!(cell(&walk, 5, 4, host.id), Some("127.0.0.1"), "{walk:#?}");
    assert_eq!(cell(&walk, 5, 7, host.id), Some("0"), "{walk:#?}");

    // The default context: snmpd answers, relayd's subtree is not there.
    let sys_descr = ".1.3.6.1.2.1.1.1.0";
    assert!(snmpd.get(&[sys_descr]).contains_key(sys_descr));
    let default = snmpd.walk(INFO);
    assert!(default.is_empty(), "{default:#?}");
    assert!(!snmpd.get(&[&relay_name]).contains_key(&relay_name));
}

/// `session P:ID` of each `relayctl show sessions` entry.
fn listed_sessions(daemon: &Daemon) -> Vec<(u32, u32)> {
    let out = daemon.relayctl(&["show", "sessions"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("session ")?;
            let (process, id) = rest.split_whitespace().next()?.split_once(':')?;
            Some((process.parse().ok()?, id.parse().ok()?))
        })
        .collect()
}

/// With `prefork 2` both relay processes number their sessions, and
/// relaydSessions is indexed by relay and session id only: each process
/// has ids of its own, so sessions held by the two processes are all rows
/// of the walk, with the pids of both processes.
#[test]
fn sessions_of_two_relay_processes_are_all_rows() {
    if !daemon_can_run() || !tools_installed(&["snmpd", "snmpwalk", "snmpget"]) {
        return;
    }
    let Some(snmpd) = or_skip(Snmpd::start()) else {
        return;
    };
    let backend = TcpBackend::start("127.0.0.1:0", TcpBehaviour::Silent);
    let relay_port = free_port();
    let config = watched_relay_config(
        &format!(
            "prefork 2\nagentx path \"{}\"\n",
            snmpd.agentx_socket.display()
        ),
        "127.0.0.1",
        "www",
        relay_port,
        backend.port(),
    );
    let daemon = Daemon::start("agentx-prefork", &config);
    expect_state(&daemon, "127.0.0.1", "up", Duration::from_secs(10));

    // Connect until the sessions are held by both processes (the kernel
    // spreads the connections over their listening sockets): at most 32.
    let mut clients = Vec::new();
    let mut listed = Vec::new();
    while clients.len() < 32 {
        clients.push(connect(relay_port));
        assert!(
            wait_until(Duration::from_secs(5), || {
                listed = listed_sessions(&daemon);
                listed.len() == clients.len()
            }),
            "{} clients, sessions {listed:?}",
            clients.len()
        );
        let processes: std::collections::BTreeSet<u32> = listed.iter().map(|s| s.0).collect();
        if processes.len() == 2 {
            break;
        }
    }
    let ids: std::collections::BTreeSet<u32> = listed.iter().map(|s| s.1).collect();
    assert_eq!(ids.len(), listed.len(), "ids shared: {listed:?}");

    // Every session is a row: relaydSessionIndex of each listed id, and
    // the pids (column 12) of two processes.
    let relay_id = 1;
    let mut walk = BTreeMap::new();
    let rows = |walk: &BTreeMap<String, String>| -> Vec<(u32, String)> {
        let prefix = format!("{INFO}.6.1.1.{relay_id}.");
        walk.iter()
            .filter_map(|(oid, value)| {
                let id: u32 = oid.strip_prefix(&prefix)?.parse().ok()?;
                let pid = walk.get(&format!("{INFO}.6.1.12.{relay_id}.{id}"))?;
                (value == &id.to_string()).then(|| (id, pid.clone()))
            })
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(15), || {
            walk = snmpd.walk(INFO);
            rows(&walk).len() == listed.len()
        }),
        "sessions {listed:?}, rows {:?}\n{walk:#?}\nrelayd:\n{}",
        rows(&walk),
        daemon.log_text()
    );
    let rows = rows(&walk);
    let row_ids: std::collections::BTreeSet<u32> = rows.iter().map(|r| r.0).collect();
    assert_eq!(row_ids, ids, "{rows:?}");
    let pids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(pids.len(), 2, "{rows:?}");
    eprintln!(
        "agentx: {} sessions over 2 relay processes, ids {ids:?}",
        clients.len()
    );
    drop(clients);
}
