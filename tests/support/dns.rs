//! DNS on the wire with Debian's programs: an `unbound` server the test
//! starts inside one of its network namespaces, serving one TXT record that
//! names it, and `dig` as the client.

use crate::netns::Namespace;
use crate::process::wait_until;
use crate::scratch::ScratchDir;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The name every [`Unbound`] answers: `who.test. TXT "<its name>"`.
pub const WHO: &str = "who.test";

/// `unbound -d` on `addr@port` (UDP and TCP) in a namespace, serving the
/// static zone `test.`; stopped on drop.
pub struct Unbound {
    child: Option<Child>,
    pub addr: String,
    pub port: u16,
    _dir: ScratchDir,
}

impl Unbound {
    /// Starts unbound in `ns` and waits until it answers; `Err` says why not.
    pub fn start(ns: &Namespace, addr: &str, port: u16, name: &str) -> Result<Unbound, String> {
        let dir = ScratchDir::new("unbound");
        let config = format!(
            "server:\n\
             \tinterface: {addr}@{port}\n\
             \tport: {port}\n\
             \tdo-daemonize: no\n\
             \tusername: \"\"\n\
             \tchroot: \"\"\n\
             \tdirectory: \"{dir}\"\n\
             \tpidfile: \"\"\n\
             \tuse-syslog: no\n\
             \tlogfile: \"\"\n\
             \tverbosity: 1\n\
             \tdo-ip6: no\n\
             \taccess-control: 0.0.0.0/0 allow\n\
             \tmodule-config: \"iterator\"\n\
             \tlocal-zone: \"test.\" static\n\
             \tlocal-data: '{WHO}. 60 IN TXT \"{name}\"'\n\
             remote-control:\n\
             \tcontrol-enable: no\n",
            dir = dir.join("").display(),
        );
        let path = dir.write("unbound.conf", &config);
        let log = std::fs::File::create(dir.join("unbound.log")).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "unbound", "-d", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start unbound: {e}"))?;
        let mut server = Unbound {
            child: Some(child),
            addr: addr.to_string(),
            port,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(10), || {
            dig(ns, addr, port, WHO, 1).is_ok_and(|answer| answer.txt == [name])
        });
        if !ready {
            let log = std::fs::read_to_string(server._dir.join("unbound.log")).unwrap_or_default();
            server.stop();
            return Err(format!("unbound on {addr}@{port} does not answer:\n{log}"));
        }
        Ok(server)
    }

    /// Kills unbound: its UDP and TCP ports close.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What `dig` printed for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigAnswer {
    /// The ID of the answer's header (dig takes only an answer with the
    /// ID of its query).
    pub id: u16,
    /// `NOERROR`, `NXDOMAIN`...
    pub status: String,
    /// The TXT strings of the answer section, unquoted.
    pub txt: Vec<String>,
}

/// `dig @server -p port name TXT +qid=ID` inside `ns`, one try of two
/// seconds over UDP.
pub fn dig(
    ns: &Namespace,
    server: &str,
    port: u16,
    name: &str,
    id: u16,
) -> Result<DigAnswer, String> {
    dig_with(ns, server, port, name, id, &[])
}

/// [`dig`] with more options (`+tcp`).
pub fn dig_with(
    ns: &Namespace,
    server: &str,
    port: u16,
    name: &str,
    id: u16,
    options: &[&str],
) -> Result<DigAnswer, String> {
    let (server, port, id) = (format!("@{server}"), port.to_string(), format!("+qid={id}"));
    let mut command = vec![
        "dig",
        &server,
        "-p",
        &port,
        name,
        "TXT",
        &id,
        "+tries=1",
        "+time=2",
        "+nocookie",
    ];
    command.extend_from_slice(options);
    let output = ns.exec(&command)?;
    parse_dig(&output).ok_or_else(|| format!("no answer in dig's output:\n{output}"))
}

fn parse_dig(output: &str) -> Option<DigAnswer> {
    let header = output.lines().find(|l| l.contains("->>HEADER<<-"))?;
    let field = |name: &str| {
        header
            .split(',')
            .find_map(|part| part.trim().strip_prefix(name).map(str::trim))
            .map(str::to_string)
    };
    let status = field("status:")?;
    let id = field("id:")?.parse().ok()?;
    let txt = output
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| l.split_once("\tTXT\t"))
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .collect();
    Some(DigAnswer { id, status, txt })
}
