//! Two relayd nodes sharing a service address with keepalived, as shipped
//! in etc/keepalived/: node namespaces on a bridge in a client namespace,
//! each node with relayd, its own backend and keepalived (VRRP, unicast
//! peers). When the master's backend goes, relayd's `demote www` track file
//! says 1, keepalived lowers the master's priority and the other node takes
//! the address: requests to it are answered by the second node. When the
//! backend comes back, the first node takes the address back (preemption).
//! The test prints the failover time and the requests lost during it.

use e2e::{
    daemon_can_run, ip, or_skip, read_text, repo_root, send_signal, tools_installed, wait_until,
    Daemon, Namespace, ScratchDir, TcpBackend, TcpBehaviour,
};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The service address of the shipped keepalived configurations.
const SERVICE: &str = "192.0.2.10";
/// Where the shipped keepalived configurations read relayd's track files.
const SHIPPED_DEMOTE_DIR: &str = "/var/run/relayd/demote/";
/// The client's requests: at most this many, one every [`PAUSE`].
const MAX_REQUESTS: u32 = 3000;
const PAUSE: Duration = Duration::from_millis(20);
/// How long the address may take to move; far above what VRRP needs.
const MOVE_BOUND: Duration = Duration::from_secs(30);

/// keepalived in a namespace, stopped on drop.
struct Keepalived {
    child: Child,
    log: std::path::PathBuf,
}

impl Keepalived {
    fn start(node: &Namespace, dir: &ScratchDir, config: &str) -> Result<Keepalived, String> {
        let file = dir.write("keepalived.conf", config);
        let log = dir.join("keepalived.log");
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let path = |name: &str| dir.join(name).to_string_lossy().to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", &node.name, "keepalived"])
            .args(["--dont-fork", "--log-console", "--log-detail", "--vrrp"])
            .arg(format!("--use-file={}", file.display()))
            .arg(format!("--pid={}", path("keepalived.pid")))
            .arg(format!("--vrrp_pid={}", path("vrrp.pid")))
            .arg(format!("--checkers_pid={}", path("checkers.pid")))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start keepalived: {e}"))?;
        Ok(Keepalived { child, log })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        // SIGTERM lets it remove the address and stop its VRRP child.
        send_signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One relayd node: its namespace, backend, relayd and keepalived (the
/// fields drop in this order, the namespace last).
struct Node {
    keepalived: Option<Keepalived>,
    relayd: Option<Daemon>,
    backend: Option<TcpBackend>,
    dir: ScratchDir,
    ns: Namespace,
    name: &'static str,
}

impl Node {
    fn has_service_address(&self) -> bool {
        self.ns
            .exec(&["ip", "-4", "addr", "show", "dev", "eth0"])
            .is_ok_and(|out| out.contains(&format!("inet {SERVICE}/")))
    }

    /// Its backend on 127.0.0.1:8080 (relayd.conf's `port 8080`), which
    /// says the node's name and closes.
    fn start_backend(&mut self) {
        let banner = format!("{}\n", self.name).into_bytes();
        self.backend = Some(
            self.ns
                .run(move || TcpBackend::start("127.0.0.1:8080", TcpBehaviour::Banner(banner))),
        );
    }

    fn logs(&self) -> String {
        format!(
            "--- {} relayd:\n{}\n--- {} keepalived:\n{}",
            self.name,
            self.relayd
                .as_ref()
                .map(Daemon::log_text)
                .unwrap_or_default(),
            self.name,
            self.keepalived
                .as_ref()
                .map(Keepalived::log_text)
                .unwrap_or_default()
        )
    }
}

/// The client namespace with the bridge, and the two nodes on it.
fn build_lan() -> Result<(Namespace, Vec<Node>), String> {
    let lan = Namespace::create("halan")?;
    let l = lan.name.clone();
    let run = |command: String| ip(&command.split_whitespace().collect::<Vec<_>>());
    run(format!("-n {l} link add br0 type bridge"))?;
    run(format!("-n {l} addr add 192.0.2.100/24 dev br0"))?;
    run(format!("-n {l} link set br0 up"))?;
    let mut nodes = Vec::new();
    for (i, name) in [(1, "node1"), (2, "node2")] {
        let ns = Namespace::create(&format!("ha{i}"))?;
        let n = &ns.name;
        run(format!(
            "-n {l} link add p{i} type veth peer name eth0 netns {n}"
        ))?;
        run(format!("-n {l} link set p{i} master br0"))?;
        run(format!("-n {l} link set p{i} up"))?;
        run(format!("-n {n} addr add 192.0.2.{i}/24 dev eth0"))?;
        run(format!("-n {n} link set eth0 up"))?;
        ns.wait_for_local_address(&format!("192.0.2.{i}"))?;
        nodes.push(Node {
            name,
            ns,
            dir: ScratchDir::new(&format!("ha-{name}")),
            backend: None,
            relayd: None,
            keepalived: None,
        });
    }
    lan.wait_for_local_address("192.0.2.100")?;
    Ok((lan, nodes))
}

/// What one request of the client got: the node that answered, or none.
struct Answer {
    at: Instant,
    node: Option<String>,
}

/// Requests to the service address from the client namespace, one every
/// [`PAUSE`], until stopped or [`MAX_REQUESTS`].
fn start_client(
    lan: &Namespace,
    stop: Arc<AtomicBool>,
) -> (mpsc::Receiver<Answer>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let service: SocketAddr = format!("{SERVICE}:80").parse().expect("service address");
    let thread = lan.spawn(move || {
        for _ in 0..MAX_REQUESTS {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let node = ask(service);
            if tx
                .send(Answer {
                    at: Instant::now(),
                    node,
                })
                .is_err()
            {
                return;
            }
            std::thread::sleep(PAUSE);
        }
    });
    (rx, thread)
}

/// The name the answering backend sent, through relayd.
fn ask(service: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&service, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let name = text.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Reads answers until one comes from `node` (within [`MOVE_BOUND`]):
/// that answer's time and how many requests failed before it.
fn wait_for_answer_from(answers: &mpsc::Receiver<Answer>, node: &str) -> Option<(Instant, u32)> {
    let deadline = Instant::now() + MOVE_BOUND;
    let mut failed = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let answer = answers.recv_timeout(left).ok()?;
        match answer.node.as_deref() {
            Some(name) if name == node => return Some((answer.at, failed)),
            Some(_) => {}
            None => failed += 1,
        }
    }
    None
}

#[test]
fn a_failed_table_moves_the_service_address_to_the_other_node_and_back() {
    if !tools_installed(&["keepalived", "ip"]) || !daemon_can_run() {
        return;
    }
    let Some((lan, mut nodes)) = or_skip(build_lan()) else {
        return;
    };
    let shipped = |name: &str| read_text(&repo_root().join("etc/keepalived").join(name));
    let relayd_conf = shipped("relayd.conf");
    for (i, node) in nodes.iter_mut().enumerate() {
        node.start_backend();
        let demote_dir = node.dir.join("demote");
        std::fs::create_dir_all(&demote_dir).expect("demote dir");
        let demote_dir = format!("{}/", demote_dir.display());
        node.relayd = Some(Daemon::start_in_with_env(
            &node.ns,
            node.name,
            &relayd_conf,
            &[("RELAYD_DEMOTE_DIR", &demote_dir)],
        ));
        let www = format!("{demote_dir}www");
        assert!(
            wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(&www).is_ok_and(|s| s.trim() == "0")
            }),
            "{www} never said 0\n{}",
            node.logs()
        );
        let config = shipped(&format!("keepalived-node{}.conf", i + 1))
            .replace(SHIPPED_DEMOTE_DIR, &demote_dir);
        let keepalived = Keepalived::start(&node.ns, &node.dir, &config);
        node.keepalived = Some(keepalived.unwrap_or_else(|e| panic!("{e}")));
    }
    let logs = |nodes: &[Node]| nodes.iter().map(Node::logs).collect::<Vec<_>>().join("\n");

    // Node 1 has the higher priority: it takes the address.
    assert!(
        wait_until(MOVE_BOUND, || nodes[0].has_service_address()),
        "node1 never took {SERVICE}\n{}",
        logs(&nodes)
    );
    assert!(!nodes[1].has_service_address(), "both hold {SERVICE}");

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, client) = start_client(&lan, stop.clone());
    assert!(
        wait_for_answer_from(&answers, "node1").is_some(),
        "no answer from node1\n{}",
        logs(&nodes)
    );

    // Node 1's only backend goes: its table fails, `demote www` fires.
    let down_at = Instant::now();
    nodes[0].backend = None;
    let moved = wait_for_answer_from(&answers, "node2");
    let Some((answered_at, lost)) = moved else {
        panic!("node2 never answered\n{}", logs(&nodes));
    };
    assert!(nodes[1].has_service_address(), "{}", logs(&nodes));
    assert!(!nodes[0].has_service_address(), "{}", logs(&nodes));

    // The backend comes back: node 1's priority is restored and it
    // preempts.
    let up_at = Instant::now();
    nodes[0].start_backend();
    let back = wait_for_answer_from(&answers, "node1");
    let Some((back_at, lost_back)) = back else {
        panic!("node1 never took the address back\n{}", logs(&nodes));
    };
    assert!(nodes[0].has_service_address(), "{}", logs(&nodes));
    assert!(!nodes[1].has_service_address(), "{}", logs(&nodes));
    stop.store(true, Ordering::SeqCst);
    let _ = client.join();

    eprintln!(
        "ha: failover (backend down to first answer from node2) {} ms, {lost} requests failed \
         (one every {} ms); failback {} ms, {lost_back} failed",
        answered_at.duration_since(down_at).as_millis(),
        PAUSE.as_millis(),
        back_at.duration_since(up_at).as_millis(),
    );
    // keepalived first, so neither node holds the address when relayd goes.
    for node in &mut nodes {
        node.keepalived = None;
    }
}
