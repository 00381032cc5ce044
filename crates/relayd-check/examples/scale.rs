//! How many `check tcp` hosts one check engine holds at a 1 s interval.
//!
//! ```text
//! cargo run --release -p relayd-check --example scale -- [--hosts N[,N...]]
//!     [--rounds R] [--interval-ms MS] [--timeout-ms MS] [--threads T]
//!     [--check tcp|icmp]
//! ```
//!
//! The targets are spread over 127.0.x.y addresses and ports: 3 in 4 hit a
//! listener (up), 1 in 4 a port where nothing listens (down). The listeners
//! run in a child process (this binary with `--serve`), so the CPU time and
//! memory printed are the checker's alone. Every round checks all hosts
//! concurrently; a check still running when the next round starts counts as
//! an `interval timeout`, as in relayd's hce. With several host counts the
//! rounds run for each in turn and a last line names the largest that held
//! the interval.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relayd_check::{check_host, HostError, IcmpPinger, IcmpSockets, Target};
use relayd_config::Check;

/// Listening addresses x ports in the server process.
const LISTEN_ADDRS: u8 = 16;
const PORTS_PER_ADDR: usize = 16;

struct Options {
    host_counts: Vec<usize>,
    /// `check tcp`, or `check icmp` (root) against 127.0.x.y addresses.
    icmp: bool,
    rounds: usize,
    interval: Duration,
    timeout: Duration,
    threads: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    raise_fd_limit();
    if args.first().map(String::as_str) == Some("--serve") {
        serve();
        return;
    }
    let options = match parse_options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("scale: {message}");
            std::process::exit(2);
        }
    };

    let (mut server, listeners) = start_server();
    let runtime = build_runtime(options.threads);
    let mut held = Vec::new();
    for &hosts in &options.host_counts {
        let summary = runtime.block_on(run(&options, hosts, &listeners));
        println!(
            "hosts {hosts}: worst round {:.3} s, mean cpu {:.3} s/round, interval timeouts {}, \
             wrong verdicts {} -> {}",
            summary.worst_round.as_secs_f64(),
            summary.mean_cpu,
            summary.interval_timeouts,
            summary.wrong_verdicts,
            if summary.held() {
                "holds"
            } else {
                "does NOT hold"
            },
        );
        if summary.held() {
            held.push(hosts);
        }
    }
    match held.iter().max() {
        Some(max) => println!("largest host count holding the interval: {max}"),
        None => println!("no host count held the interval"),
    }
    let _ = server.kill();
    let _ = server.wait();
}

struct Summary {
    worst_round: Duration,
    mean_cpu: f64,
    interval_timeouts: usize,
    wrong_verdicts: usize,
    interval: Duration,
}

impl Summary {
    fn held(&self) -> bool {
        self.interval_timeouts == 0 && self.worst_round < self.interval
    }
}

async fn run(options: &Options, hosts: usize, listeners: &[SocketAddr]) -> Summary {
    let targets = targets(hosts, listeners, options.icmp);
    let (check, pinger) = if options.icmp {
        let sockets = IcmpSockets::open().expect("raw ICMP sockets (needs root)");
        let pinger = IcmpPinger::new(sockets).expect("ICMP pinger");
        (Check::Icmp, Some(Arc::new(pinger)))
    } else {
        (Check::Tcp, None)
    };
    let mut summary = Summary {
        worst_round: Duration::ZERO,
        mean_cpu: 0.0,
        interval_timeouts: 0,
        wrong_verdicts: 0,
        interval: options.interval,
    };
    let mut next_round = tokio::time::Instant::now();
    for round in 1..=options.rounds {
        tokio::time::sleep_until(next_round).await;
        next_round += options.interval;
        let cpu_before = cpu_seconds();
        let started = Instant::now();

        let mut checks = tokio::task::JoinSet::new();
        for (index, (target, listening)) in targets.iter().enumerate() {
            let (target, listening, timeout) = (*target, *listening, options.timeout);
            let (check, pinger) = (check.clone(), pinger.clone());
            checks.spawn(async move {
                let outcome = check_host(&check, &target, timeout, pinger.as_deref()).await;
                (index, listening, outcome)
            });
        }

        let mut errors: std::collections::BTreeMap<HostError, usize> = Default::default();
        let (mut done, mut wrong) = (0, 0);
        let mut last_done = Duration::ZERO;
        let deadline = next_round;
        loop {
            match tokio::time::timeout_at(deadline, checks.join_next()).await {
                Ok(Some(Ok((_index, listening, outcome)))) => {
                    done += 1;
                    last_done = started.elapsed();
                    *errors.entry(outcome.error).or_default() += 1;
                    if outcome.up != listening {
                        wrong += 1;
                    }
                }
                Ok(Some(Err(join_error))) => panic!("check task failed: {join_error}"),
                Ok(None) => break,
                // The next interval is due: what still runs timed out.
                Err(_) => break,
            }
        }
        let interval_timeouts = hosts - done;
        checks.abort_all();
        let cpu_after = cpu_seconds();
        let (user, system) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        let cpu = user + system;

        let errors: Vec<String> = errors.iter().map(|(e, n)| format!("{e}: {n}")).collect();
        println!(
            "hosts {hosts} round {round}: wall {:.3} s, cpu {:.3} s (user {:.3}, sys {:.3}), \
             max rss {} MiB, interval timeouts {interval_timeouts}, wrong verdicts {wrong} [{}]",
            last_done.as_secs_f64(),
            cpu,
            user,
            system,
            max_rss_kib() / 1024,
            errors.join(", "),
        );
        let _ = std::io::stdout().flush();
        summary.worst_round = summary.worst_round.max(if interval_timeouts > 0 {
            options.interval
        } else {
            last_done
        });
        summary.mean_cpu += cpu / options.rounds as f64;
        summary.interval_timeouts += interval_timeouts;
        summary.wrong_verdicts += wrong;
    }
    summary
}

/// Hosts with whether something listens on their port: every fourth one
/// uses an address where nothing listens. For ICMP every host is a
/// 127.0.x.y address, and all of them answer.
fn targets(hosts: usize, listeners: &[SocketAddr], icmp: bool) -> Vec<(Target, bool)> {
    if icmp {
        return (0..hosts)
            .map(|i| {
                let addr = Ipv4Addr::new(
                    127,
                    3 + (i / 62_500) as u8,
                    (i / 250 % 250) as u8,
                    (i % 250) as u8 + 1,
                );
                let target = Target {
                    addr: addr.into(),
                    port: 0,
                    ip_ttl: None,
                };
                (target, true)
            })
            .collect();
    }
    (0..hosts)
        .map(|i| {
            let listener = listeners[i % listeners.len()];
            let listening = i % 4 != 3;
            let addr = if listening {
                listener.ip()
            } else {
                // Same port on an address of 127.0.2.0/24: refused.
                IpAddr::V4(Ipv4Addr::new(127, 0, 2, (i % 250) as u8 + 1))
            };
            let target = Target {
                addr,
                port: listener.port(),
                ip_ttl: None,
            };
            (target, listening)
        })
        .collect()
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        host_counts: vec![10_000],
        icmp: false,
        rounds: 5,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(200),
        threads: 1,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |text: &str| -> Result<u64, String> {
            text.parse()
                .map_err(|_| format!("{flag}: not a number: {text}"))
        };
        match flag.as_str() {
            "--hosts" => {
                options.host_counts = value
                    .split(',')
                    .map(|n| number(n).map(|n| n as usize))
                    .collect::<Result<_, _>>()?
            }
            "--rounds" => options.rounds = number(value)?.clamp(1, 100) as usize,
            "--interval-ms" => options.interval = Duration::from_millis(number(value)?),
            "--timeout-ms" => options.timeout = Duration::from_millis(number(value)?),
            "--threads" => options.threads = number(value)?.clamp(1, 64) as usize,
            "--check" => {
                options.icmp = match value.as_str() {
                    "tcp" => false,
                    "icmp" => true,
                    other => return Err(format!("--check: tcp or icmp, not {other}")),
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.timeout >= options.interval {
        return Err("the timeout must be shorter than the interval".into());
    }
    Ok(options)
}

/// One thread like relayd's single-threaded hce, or a worker pool.
fn build_runtime(threads: usize) -> tokio::runtime::Runtime {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build().expect("tokio runtime")
}

/// Starts this binary as the listener process; returns its listen addresses.
fn start_server() -> (Child, Vec<SocketAddr>) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start listener process");
    let stdout = child.stdout.take().expect("listener stdout");
    let mut listeners = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("listener output");
        if line == "ready" {
            break;
        }
        listeners.push(line.parse().expect("listener address"));
    }
    assert!(!listeners.is_empty(), "listener process gave no addresses");
    (child, listeners)
}

/// The listener process: accepts and drops every connection, until killed
/// (or until its parent goes away and stdout breaks).
fn serve() {
    let runtime = build_runtime(2);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for a in 1..=LISTEN_ADDRS {
            let ip = Ipv4Addr::new(127, 0, 1, a);
            for _ in 0..PORTS_PER_ADDR {
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                socket.bind((ip, 0).into()).expect("bind");
                let listener = socket.listen(4096).expect("listen");
                println!("{}", listener.local_addr().expect("local addr"));
                tasks.push(tokio::spawn(async move {
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            drop(stream);
                        }
                    }
                }));
            }
        }
        println!("ready");
        let _ = std::io::stdout().flush();
        // Stop when the parent is gone: bounded even if nobody kills us.
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if std::os::unix::process::parent_id() == 1 {
                break;
            }
        }
    });
}

/// One socket per host in flight: lift the soft limit to the hard one, and
/// the hard one too when root may.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    const WANTED: u64 = 1 << 20;
    if setrlimit(Resource::RLIMIT_NOFILE, WANTED, WANTED).is_ok() {
        return;
    }
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// User and system CPU seconds of this process so far. On loopback the
/// kernel's TCP work for both ends of a handshake lands in system time.
fn cpu_seconds() -> (f64, f64) {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let seconds = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    (seconds(usage.user_time()), seconds(usage.system_time()))
}

fn max_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|usage| usage.max_rss())
        .unwrap_or(0)
}
