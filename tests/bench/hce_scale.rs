//! Benchmark, not a test: the real daemon's hce checking thousands of
//! hosts with `check tcp` every second.
//!
//! ```text
//! cargo build --release -p relayd -p relayctl
//! cargo run --release -p relayd-e2e --example hce_scale -- 10000,20000
//! ```
//!
//! The daemon runs in a private network namespace (started from a thread
//! that unshared one), so listeners can bind the whole loopback network. Hosts
//! are 127.x.y.z addresses in tables of 250, one port per table; 3 tables
//! in 4 have a listener on their port (hosts up), the others none (hosts
//! down, connection refused). For each host count it prints the hce's
//! round durations (from its `-v` log), CPU seconds per round and memory,
//! `interval timeout`s and wrong verdicts, and finally the largest count
//! that held the 1 s interval. Needs root.
//!
//! On the 2-core development machine (release build): 10,000 hosts took
//! 290 ms per round (worst 349 ms) and 0.30 s of CPU per round, 0.24 s of
//! it in the kernel (TCP handshakes on loopback are charged to the
//! connecting side), 22 MB resident; 20,000 hosts still held the interval
//! (worst round 742 ms); 30,000 did not.

use e2e::{
    daemon_can_run, in_private_network, proc_status, stdout_text, summary_rows, wait_until, Daemon,
};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const HOSTS_PER_TABLE: usize = 250;
const WARM_UP: Duration = Duration::from_secs(4);
const MEASURED: Duration = Duration::from_secs(10);
/// Linux's USER_HZ, the unit of the times in /proc/PID/stat.
const TICKS_PER_SECOND: f64 = 100.0;

/// Accepts and drops connections on `0.0.0.0:port` until dropped.
struct Sink {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    fn start(port: u16) -> Sink {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind sink");
        // Rounds arrive as bursts of hundreds of connections per port.
        // SAFETY: listen(2) again on a listening socket only grows its queue.
        unsafe { libc::listen(listener.as_raw_fd(), 4096) };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => drop(stream),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Sink {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn host_addr(table: usize, host: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        1 + (table / 256) as u8,
        (table % 256) as u8,
        host as u8 + 1,
    )
}

/// The configuration for `hosts` hosts, and the listeners that make 3
/// tables in 4 answer.
fn setup(hosts: usize) -> (String, Vec<Sink>, usize) {
    let tables = hosts.div_ceil(HOSTS_PER_TABLE);
    let mut config = String::from("prefork 1\ninterval 1\n");
    let mut sinks = Vec::new();
    let mut expected_up = 0;
    let mut left = hosts;
    for table in 0..tables {
        let count = left.min(HOSTS_PER_TABLE);
        left -= count;
        // The network namespace is ours alone: fixed ports cannot clash.
        let port = 20000 + table as u16;
        if table % 4 != 3 {
            sinks.push(Sink::start(port));
            expected_up += count;
        }
        let addrs: Vec<String> = (0..count)
            .map(|host| host_addr(table, host).to_string())
            .collect();
        config += &format!(
            "table <t{table}> {{ {} }}\n\
             relay r{table} {{\n\
             \tlisten on 127.0.0.1 port {}\n\
             \tforward to <t{table}> port {port} check tcp\n\
             }}\n",
            addrs.join(" "),
            40000 + table as u16
        );
    }
    (config, sinks, expected_up)
}

/// (utime, stime) of a process, in seconds.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) / TICKS_PER_SECOND, ticks(12) / TICKS_PER_SECOND)
}

/// Round durations (ms) the hce logged.
fn round_durations(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split("round done in ").nth(1)?;
            rest.trim_end_matches("ms").parse().ok()
        })
        .collect()
}

struct Figures {
    hosts: usize,
    worst_round_ms: u64,
    mean_round_ms: f64,
    hce_cpu_per_round: f64,
    /// The part of it spent in the kernel (sockets, TCP handshakes).
    hce_sys_per_round: f64,
    rounds: usize,
    parent_cpu_per_round: f64,
    hce_rss: String,
    interval_timeouts: usize,
    wrong_verdicts: usize,
}

fn measure(hosts: usize) -> Figures {
    let (config, sinks, expected_up) = setup(hosts);
    let mut daemon = Daemon::start(&format!("scale-{hosts}"), &config);
    let hce = daemon.child_titled("relayd: hce");
    thread::sleep(WARM_UP);
    let log_before = daemon.log_text().len();
    let (hce_cpu, parent_cpu) = (cpu_seconds(hce), cpu_seconds(daemon.pid));
    let started = Instant::now();
    thread::sleep(MEASURED);
    let seconds = started.elapsed().as_secs_f64();
    let ((hce_user, hce_sys), (parent_user, parent_sys)) =
        (cpu_seconds(hce), cpu_seconds(daemon.pid));
    let hce_sys = hce_sys - hce_cpu.1;
    let hce_cpu = hce_user - hce_cpu.0 + hce_sys;
    let parent_cpu = parent_user + parent_sys - parent_cpu.0 - parent_cpu.1;
    let log = daemon.log_text();
    let window = &log[log_before.min(log.len())..];
    // Every table reports one duration per round.
    let durations = round_durations(window);
    let tables = hosts.div_ceil(HOSTS_PER_TABLE);
    let rounds = (durations.len() / tables).max(1);
    let rows = summary_rows(&stdout_text(&daemon.relayctl(&["show", "hosts"])));
    let up = rows
        .iter()
        .filter(|r| r.kind == "host" && r.status == "up")
        .count();
    let figures = Figures {
        hosts,
        worst_round_ms: durations.iter().copied().max().unwrap_or(0),
        mean_round_ms: durations.iter().sum::<u64>() as f64 / durations.len().max(1) as f64,
        hce_cpu_per_round: hce_cpu / seconds,
        hce_sys_per_round: hce_sys / seconds,
        rounds,
        parent_cpu_per_round: parent_cpu / seconds,
        hce_rss: proc_status(hce, "VmHWM").unwrap_or_default(),
        interval_timeouts: window.matches("check interval timeout").count(),
        wrong_verdicts: expected_up.abs_diff(up),
    };
    drop(daemon);
    drop(sinks);
    // Let the kernel recycle this run's sockets before the next one.
    wait_until(Duration::from_secs(2), || false);
    figures
}

/// Host counts from the first argument (`10000,20000`), 10000 without.
fn host_counts() -> Vec<usize> {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Prints the figures of one host count; whether it held the interval.
fn report(f: &Figures) -> bool {
    println!(
        "hosts {}: {} rounds in {} s, worst {} ms, mean {:.0} ms; \
         hce cpu {:.3} s/round ({:.3} in the kernel), rss {}; \
         parent cpu {:.3} s/round; interval timeouts {}; wrong verdicts {}",
        f.hosts,
        f.rounds,
        MEASURED.as_secs(),
        f.worst_round_ms,
        f.mean_round_ms,
        f.hce_cpu_per_round,
        f.hce_sys_per_round,
        f.hce_rss,
        f.parent_cpu_per_round,
        f.interval_timeouts,
        f.wrong_verdicts
    );
    let every_second = f.rounds + 1 >= MEASURED.as_secs() as usize;
    every_second && f.interval_timeouts == 0 && f.worst_round_ms < 1000 && f.wrong_verdicts == 0
}

fn main() {
    if !daemon_can_run() {
        std::process::exit(1);
    }
    let counts = host_counts();
    let largest_held = in_private_network(move || {
        counts
            .into_iter()
            .filter(|hosts| report(&measure(*hosts)))
            .max()
    });
    match largest_held {
        Ok(Some(hosts)) => println!("largest host count holding a 1 s interval: {hosts}"),
        Ok(None) => println!("no host count held a 1 s interval"),
        Err(why) => {
            eprintln!("hce_scale: {why}");
            std::process::exit(1);
        }
    }
}
