//! End-to-end: the process tree relayd starts and the sandbox of every
//! child (uid/gid, chroot, no_new_privs, capabilities), read from /proc.
//! Needs root, the `_relayd` user and /var/empty; skips otherwise.

use e2e::{
    bin, cmdline, confinement, daemon_can_run, free_port, proc_status, user_ids, Confinement,
    Daemon, ScratchDir, DAEMON_CHROOT, DAEMON_USER,
};
use std::fs;
use std::process::{Command, Stdio};

/// CAP_NET_ADMIN is capability 12.
const CAP_NET_ADMIN_MASK: &str = "0000000000001000";
const NO_CAPS: &str = "0000000000000000";

fn config(port: u16) -> String {
    format!(
        "prefork 2\n\
         table <web> {{ 127.0.0.1 127.0.0.2 }}\n\
         relay www {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tforward to <web> port 80 check tcp\n\
         }}\n"
    )
}

/// The children of the daemon by title (`relayd: hce`, ...), sorted.
fn titles(daemon: &mut Daemon) -> Vec<(String, u32)> {
    let mut titles: Vec<(String, u32)> = daemon
        .children()
        .into_iter()
        .map(|pid| {
            let title = cmdline(pid)
                .split(" -P")
                .next()
                .unwrap_or_default()
                .to_string();
            (title, pid)
        })
        .collect();
    titles.sort();
    titles
}

#[test]
fn the_process_tree_has_one_hce_one_pfe_one_metrics_and_prefork_relays_and_cas() {
    if !daemon_can_run() {
        return;
    }
    let mut daemon = Daemon::start("tree", &config(free_port()));
    let names: Vec<String> = titles(&mut daemon).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        names,
        [
            "relayd: ca 1",
            "relayd: ca 2",
            "relayd: hce",
            "relayd: metrics",
            "relayd: pfe",
            "relayd: relay 1",
            "relayd: relay 2"
        ],
        "log:\n{}",
        daemon.log_text()
    );
    // The kernel's short name matches, so `ps -o comm` and `top` show it too.
    for (title, pid) in titles(&mut daemon) {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(comm.trim_end(), &title[..title.len().min(15)]);
    }
}

#[test]
fn every_child_runs_as_relayd_user_in_the_chroot_with_no_new_privs() {
    if !daemon_can_run() {
        return;
    }
    let (uid, gid) = user_ids(DAEMON_USER).expect("user exists");
    let mut daemon = Daemon::start("sandbox", &config(free_port()));
    let children = titles(&mut daemon);
    assert_eq!(children.len(), 7, "{children:?}\n{}", daemon.log_text());
    for (title, pid) in children {
        let uids = proc_status(pid, "Uid").expect("Uid line");
        assert_eq!(uids, format!("{uid}\t{uid}\t{uid}\t{uid}"), "{title}");
        let gids = proc_status(pid, "Gid").expect("Gid line");
        assert_eq!(gids, format!("{gid}\t{gid}\t{gid}\t{gid}"), "{title}");
        assert_eq!(
            proc_status(pid, "Groups").as_deref(),
            Some(gid.to_string().as_str()),
            "{title}"
        );
        let root = fs::read_link(format!("/proc/{pid}/root")).expect("root link");
        assert_eq!(root, std::path::Path::new(DAEMON_CHROOT), "{title}");
        let caps = if title == "relayd: pfe" {
            CAP_NET_ADMIN_MASK
        } else {
            NO_CAPS
        };
        assert_eq!(confinement(pid), Confinement::child(caps), "{title}");
    }
    // The parent keeps root for sockets, keys, scripts and reloads.
    assert_eq!(
        proc_status(daemon.pid, "Uid").as_deref(),
        Some("0\t0\t0\t0")
    );
}

/// Socket inodes a process holds, from its /proc/PID/fd links.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let text = target.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect()
}

/// Inodes of the TCP sockets listening on 127.0.0.1:`port`.
fn listening_inodes(port: u16) -> Vec<String> {
    let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN; field 9 is the inode.
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|s| s.to_string()))
                .flatten()
        })
        .collect()
}

#[test]
fn each_relay_process_holds_its_own_listening_socket_and_the_parent_a_copy() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let mut daemon = Daemon::start("sockets", &config(port));
    let listeners = listening_inodes(port);
    assert_eq!(
        listeners.len(),
        2,
        "one SO_REUSEPORT socket per relay process"
    );
    let relays: Vec<u32> = titles(&mut daemon)
        .into_iter()
        .filter(|(t, _)| t.starts_with("relayd: relay"))
        .map(|(_, pid)| pid)
        .collect();
    for pid in &relays {
        let held: Vec<&String> = listeners
            .iter()
            .filter(|inode| socket_inodes(*pid).contains(inode))
            .collect();
        assert_eq!(held.len(), 1, "relay pid {pid} holds exactly one listener");
    }
    // The parent keeps each, to hand it over again at a reload.
    let parent_sockets = socket_inodes(daemon.pid);
    assert!(listeners.iter().all(|inode| parent_sockets.contains(inode)));
}

#[test]
fn the_chroot_directory_can_be_changed_for_tests() {
    if !daemon_can_run() {
        return;
    }
    let jail = ScratchDir::new("jail");
    let jail_path = jail.path.to_str().expect("utf-8 path").to_string();
    let mut daemon = Daemon::start_with_env(
        "customroot",
        &config(free_port()),
        &[("RELAYD_CHROOT", &jail_path)],
    );
    for (title, pid) in titles(&mut daemon) {
        let root = fs::read_link(format!("/proc/{pid}/root")).expect("root link");
        assert_eq!(root, jail.path, "{title}");
    }
}

/// Runs `relayd -d -f` on a valid config with `env`, expecting a refusal.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = ScratchDir::new("refused");
    let socket = dir.join("relayd.sock");
    let config_path = dir.join("relayd.conf");
    fs::write(
        &config_path,
        Daemon::config_text(&socket, &config(free_port())),
    )
    .expect("write config");
    let out = Command::new(bin("relayd"))
        .args(["-d", "-f"])
        .arg(&config_path)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run relayd");
    assert!(!out.status.success(), "relayd started with {env:?}");
    assert!(!socket.exists(), "no control socket left behind");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_user_or_chroot_is_a_clear_error() {
    if !daemon_can_run() {
        return;
    }
    let stderr = refused_start(&[("RELAYD_USER", "no_such_relayd_user")]);
    assert!(
        stderr.contains("unknown user no_such_relayd_user"),
        "{stderr}"
    );
    let stderr = refused_start(&[("RELAYD_CHROOT", "/nonexistent/relayd-jail")]);
    assert!(stderr.contains("/nonexistent/relayd-jail"), "{stderr}");
}

/// Inodes of the raw IPv4 sockets, from /proc/net/raw.
fn raw_socket_inodes() -> Vec<String> {
    let table = fs::read_to_string("/proc/net/raw").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(9).map(str::to_string))
        .collect()
}

/// The hce's pid.
fn hce_of(daemon: &mut Daemon) -> u32 {
    titles(daemon)
        .into_iter()
        .find(|(t, _)| t == "relayd: hce")
        .map(|(_, pid)| pid)
        .expect("hce runs")
}

/// Whether `pid` holds one of the raw sockets of /proc/net/raw.
fn holds_a_raw_socket(pid: u32) -> bool {
    let held = socket_inodes(pid);
    raw_socket_inodes().iter().any(|inode| held.contains(inode))
}

#[test]
fn the_hce_holds_a_raw_socket_only_once_a_table_is_checked_with_icmp() {
    if !daemon_can_run() {
        return;
    }
    let port = free_port();
    let mut daemon = Daemon::start("icmp-none", &config(port));
    let hce = hce_of(&mut daemon);
    assert!(!holds_a_raw_socket(hce), "no check icmp, yet a raw socket");
    // A reload that checks a table with icmp hands the sockets over.
    daemon.rewrite_config(&config(port).replace("check tcp", "check icmp"));
    let out = daemon.relayctl(&["reload"]);
    assert!(out.status.success(), "{}", daemon.log_text());
    assert!(
        e2e::wait_until(std::time::Duration::from_secs(10), || holds_a_raw_socket(
            hce
        )),
        "the hce got no raw socket with the reload:\n{}",
        daemon.log_text()
    );
}

#[test]
fn the_hce_gets_its_raw_icmp_socket_from_the_parent() {
    if !daemon_can_run() {
        return;
    }
    let icmp = config(free_port()).replace("check tcp", "check icmp");
    let mut daemon = Daemon::start("icmp", &icmp);
    let hce = hce_of(&mut daemon);
    // Without CAP_NET_RAW the hce could not have opened it itself.
    assert_eq!(proc_status(hce, "CapEff").as_deref(), Some(NO_CAPS));
    let raw = raw_socket_inodes();
    let held = socket_inodes(hce);
    assert!(
        raw.iter().any(|inode| held.contains(inode)),
        "hce holds none of the raw sockets {raw:?}\n{}",
        daemon.log_text()
    );
    let parent = socket_inodes(daemon.pid);
    assert!(
        raw.iter().all(|inode| !parent.contains(inode)),
        "the parent keeps no copy"
    );
}
