//! The relayctl binary against a scripted control server on a real Unix
//! socket: what it sends, what it prints, how it exits. Tests against the
//! real daemon live in the workspace's end-to-end tests.

use relayd_proto::control::{ControlReply, ControlRequest, Target, CONTROL_VERSION};
use relayd_proto::status::{HostRow, HostState, HostStatus, TableRow};
use relayd_proto::BlockingChannel;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread::JoinHandle;

/// A socket path in a private directory, removed on drop.
struct SocketDir(PathBuf);

impl SocketDir {
    fn new(test: &str) -> SocketDir {
        let dir = std::env::temp_dir().join(format!("relayctl-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SocketDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("relayd.sock")
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Accepts one connection, answers relayctl's `Hello` with `version`,
/// checks the request, sends `replies`.
fn serve_once_as(
    listener: UnixListener,
    version: u32,
    expected: ControlRequest,
    replies: Vec<ControlReply>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut channel: BlockingChannel<ControlReply, ControlRequest> =
            BlockingChannel::new(stream);
        let hello = channel.recv().unwrap().unwrap();
        assert_eq!(
            hello.msg,
            ControlRequest::Hello {
                version: CONTROL_VERSION
            }
        );
        channel
            .send(&ControlReply::Hello { version }, None)
            .unwrap();
        if version != CONTROL_VERSION {
            assert!(channel.recv().unwrap().is_none(), "no request follows");
            return;
        }
        let request = channel.recv().unwrap().unwrap();
        assert_eq!(request.msg, expected);
        for reply in &replies {
            channel.send(reply, None).unwrap();
        }
    })
}

/// [`serve_once_as`] a relayd of this build.
fn serve_once(
    listener: UnixListener,
    expected: ControlRequest,
    replies: Vec<ControlReply>,
) -> JoinHandle<()> {
    serve_once_as(listener, CONTROL_VERSION, expected, replies)
}

fn relayctl(socket: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relayctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// Kills a still running relayctl when a test fails early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn show_summary_prints_relayd_table() {
    let dir = SocketDir::new("summary");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = serve_once(
        listener,
        ControlRequest::ShowSummary,
        vec![
            ControlReply::Table(TableRow {
                id: 1,
                name: "web".into(),
                disabled: false,
                up_hosts: 1,
            }),
            ControlReply::Host(HostRow {
                name: "127.0.0.1".into(),
                parent_id: None,
                disabled: false,
                status: HostStatus {
                    host_id: 1,
                    table_id: 1,
                    state: HostState::Up,
                    check_count: 2,
                    up_count: 2,
                    ..HostStatus::default()
                },
            }),
            ControlReply::End,
        ],
    );
    let output = relayctl(&dir.socket(), &["sh", "su"]);
    server.join().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Id  \tType    \tName                    \tAvlblty\tStatus\n\
         1   \ttable   \tweb                     \t       \tactive (1 hosts)\n\
         1   \thost    \t127.0.0.1               \t100.00%\tup\n"
    );
}

#[test]
fn failed_command_exits_non_zero() {
    let dir = SocketDir::new("failed");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = serve_once(
        listener,
        ControlRequest::HostDisable(Target::Name("nosuchhost".into())),
        vec![ControlReply::Failed(String::new())],
    );
    let output = relayctl(&dir.socket(), &["host", "dis", "nosuchhost"]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "command failed\n");
}

#[test]
fn json_mode_prints_one_object_per_row() {
    let dir = SocketDir::new("json");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = serve_once(listener, ControlRequest::Poll, vec![ControlReply::Ok]);
    let output = relayctl(&dir.socket(), &["-j", "poll"]);
    server.join().unwrap();
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "{\"result\":\"ok\"}\n");
}

#[test]
fn daemon_closing_mid_answer_is_an_error() {
    let dir = SocketDir::new("closed");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = serve_once(listener, ControlRequest::ShowSessions, vec![]);
    let output = relayctl(&dir.socket(), &["show", "sessions"]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("pipe closed"));
}

#[test]
fn a_relayd_of_another_protocol_version_is_named_not_misread() {
    let dir = SocketDir::new("version");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let theirs = CONTROL_VERSION + 1;
    // relayctl stops at the Hello: it would not read any rows.
    let server = serve_once_as(listener, theirs, ControlRequest::ShowSummary, vec![]);
    let output = relayctl(&dir.socket(), &["show", "summary"]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("relayctl: relayctl protocol version {CONTROL_VERSION}, relayd speaks {theirs}\n")
    );
    assert!(
        !text(&output.stdout).contains("Id"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_relayd_that_does_not_say_hello_is_refused() {
    let dir = SocketDir::new("nohello");
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut channel: BlockingChannel<ControlReply, ControlRequest> =
            BlockingChannel::new(stream);
        // Hello, then an answer that is no Hello.
        channel.recv().unwrap().unwrap();
        channel.send(&ControlReply::Ok, None).unwrap();
    });
    let output = relayctl(&dir.socket(), &["poll"]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("did not say its protocol version"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn missing_socket_names_the_path() {
    let dir = SocketDir::new("missing");
    let output = relayctl(&dir.socket(), &["show", "summary"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("connect: "), "{stderr}");
    assert!(stderr.contains(dir.socket().to_str().unwrap()), "{stderr}");
}

#[test]
fn bad_command_lines_exit_non_zero_with_help() {
    let dir = SocketDir::new("bad");
    let output = relayctl(&dir.socket(), &["show"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with("missing argument:\nvalid commands/args:\n  summary\n")
    );
    let output = relayctl(&dir.socket(), &["s"]);
    assert!(text(&output.stderr).starts_with("ambiguous argument: s\n"));
    let output = Command::new(env!("CARGO_BIN_EXE_relayctl"))
        .arg("-x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("usage: relayctl"));
}

#[test]
fn monitor_waits_for_the_daemon_then_streams_events() {
    use relayd_proto::control::{IdName, MonitorEvent};
    let dir = SocketDir::new("monitor");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_relayctl"))
            .arg("-s")
            .arg(dir.socket())
            .arg("monitor")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // relayctl starts before the socket exists and must keep trying.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let listener = UnixListener::bind(dir.socket()).unwrap();
    let server = serve_once(
        listener,
        ControlRequest::Monitor,
        vec![
            ControlReply::Event(MonitorEvent::HostDisabled(IdName {
                id: 4,
                name: "www".into(),
            })),
            ControlReply::Event(MonitorEvent::Sync),
        ],
    );
    server.join().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(child.0.wait().unwrap().success());
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("ctl_host_disable: imsg type 5 len "),
        "{stdout}"
    );
    assert!(lines[1].starts_with("\ttimestamp: "), "{stdout}");
    assert_eq!(&lines[2..4], ["\tid: 4", "\tname: www"]);
    assert!(lines[4].starts_with("sync: imsg type 8 "), "{stdout}");
    assert_eq!(lines.len(), 6, "{stdout}");
}
