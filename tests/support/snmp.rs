//! net-snmp from Debian: an `snmpd` master agent with its own config in a
//! scratch directory (`master agentx`, the AgentX socket there, a
//! community on a loopback UDP port, optionally a second community that
//! reads an SNMP context), killed by pid on drop; `snmpwalk`
//! `snmpbulkwalk` and `snmpget` against it with numeric OIDs (no MIB files needed).

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::wait_until;
use crate::scratch::ScratchDir;

/// The community the test's snmpd answers (the default context).
const COMMUNITY: &str = "relayd-e2e";
/// The community that reads the context of [`Snmpd::start_with_context`].
const CONTEXT_COMMUNITY: &str = "relayd-e2e-context";

/// A running `snmpd -f`: its AgentX socket and UDP port.
pub struct Snmpd {
    child: Option<Child>,
    dir: ScratchDir,
    pub agentx_socket: PathBuf,
    pub port: u16,
    /// The non-default context [`CONTEXT_COMMUNITY`] reads, if any.
    context: Option<String>,
    starts: u32,
}

impl Snmpd {
    /// Starts snmpd on a free loopback UDP port; waits until it answers.
    pub fn start() -> Result<Snmpd, String> {
        Snmpd::start_in(None)
    }

    /// As [`Snmpd::start`], and SNMPv2c requests with a second community
    /// read context `context` (net-snmp's `com2sec -Cn`), where a subagent
    /// registering in that context shows: [`Snmpd::walk_context`].
    pub fn start_with_context(context: &str) -> Result<Snmpd, String> {
        Snmpd::start_in(Some(context.to_string()))
    }

    fn start_in(context: Option<String>) -> Result<Snmpd, String> {
        let dir = ScratchDir::new("snmpd");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("a free UDP port: {e}"))?;
        let agentx_socket = dir.join("agentx.sock");
        let mut snmpd = Snmpd {
            child: None,
            dir,
            agentx_socket,
            port,
            context,
            starts: 0,
        };
        snmpd.spawn()?;
        Ok(snmpd)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut text = format!(
            "master agentx\n\
             agentXSocket {}\n\
             agentaddress udp:127.0.0.1:{}\n\
             rocommunity {COMMUNITY} 127.0.0.1\n",
            self.agentx_socket.display(),
            self.port
        );
        if let Some(context) = &self.context {
            // The community maps to a security name in the context, whose
            // group may read everything there (snmpd.conf(5), VACM).
            text.push_str(&format!(
                "com2sec -Cn {context} ctxuser 127.0.0.1 {CONTEXT_COMMUNITY}\n\
                 group ctxgroup v2c ctxuser\n\
                 view ctxall included .1\n\
                 access ctxgroup {context} any noauth exact ctxall none none\n"
            ));
        }
        let config = self.dir.write("snmpd.conf", &text);
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(&format!("snmpd.{}.log", self.starts)))
            .map_err(|e| format!("snmpd log: {e}"))?;
        let child = Command::new("snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&config)
            .env("SNMP_PERSISTENT_DIR", self.dir.join("persist"))
            .env("MIBS", "")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start snmpd: {e}"))?;
        self.child = Some(child);
        // sysDescr answers once snmpd serves its UDP port.
        let up = wait_until(Duration::from_secs(20), || {
            self.get(&["1.3.6.1.2.1.1.1.0"])
                .contains_key(".1.3.6.1.2.1.1.1.0")
                && self.agentx_socket.exists()
        });
        if up {
            Ok(())
        } else {
            Err(format!("snmpd did not start:\n{}", self.log_text()))
        }
    }

    /// Stops snmpd (by pid) and starts it again on the same socket and port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(&format!("snmpd.{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }

    fn client(&self, program: &str, oids: &[&str]) -> BTreeMap<String, String> {
        self.client_as(COMMUNITY, program, oids)
    }

    fn client_as(&self, community: &str, program: &str, oids: &[&str]) -> BTreeMap<String, String> {
        let output = Command::new(program)
            .args([
                "-v2c", "-c", community, "-On", "-Oe", "-t", "3", "-r", "1", "-m", "",
            ])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(oids)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        let Ok(output) = output else {
            return BTreeMap::new();
        };
        snmp_values(&String::from_utf8_lossy(&output.stdout))
    }

    /// `snmpwalk` under `oid`: each numeric OID (with its leading dot) and
    /// its value as the tool prints it, type removed.
    pub fn walk(&self, oid: &str) -> BTreeMap<String, String> {
        self.client("snmpwalk", &[oid])
    }

    /// `snmpwalk` under `oid` in the context of
    /// [`Snmpd::start_with_context`] (empty without one), as [`Snmpd::walk`].
    pub fn walk_context(&self, oid: &str) -> BTreeMap<String, String> {
        if self.context.is_none() {
            return BTreeMap::new();
        }
        self.client_as(CONTEXT_COMMUNITY, "snmpwalk", &[oid])
    }

    /// `snmpbulkwalk` under `oid` (GetBulk requests), as [`Snmpd::walk`].
    pub fn bulk_walk(&self, oid: &str) -> BTreeMap<String, String> {
        self.client("snmpbulkwalk", &[oid])
    }

    /// `snmpget` of the OIDs; those without a value are missing.
    pub fn get(&self, oids: &[&str]) -> BTreeMap<String, String> {
        self.client("snmpget", oids)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `.1.3.6... = TYPE: value` lines; values that say there is no such
/// variable are left out.
fn snmp_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (oid, rest) = line.split_once(" = ")?;
            let value = match rest.split_once(": ") {
                Some((_, value)) => value,
                None => rest,
            };
            let missing = rest.starts_with("No Such") || rest.starts_with("No more variables");
            (!missing).then(|| {
                (
                    oid.trim().to_string(),
                    value.trim().trim_matches('"').to_string(),
                )
            })
        })
        .collect()
}
