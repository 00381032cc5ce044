//! Tests of what operators install around the binaries: the rc.d script
//! (against a shim of rc.subr(8) with a fake daemon), the systemd unit
//! (`systemd-analyze verify` and its ExecStart line against the example
//! configuration) and install.sh with DESTDIR (install, keep operators'
//! files, uninstall).

use e2e::{
    bin, process_alive, read_text, repo_root, running_as_root, send_signal, skip_or_fail,
    tools_installed, wait_until, ScratchDir,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod +x");
}

/// Replaces `from` by `to`, failing loudly if `from` is not there: the tests
/// rely on these paths being in the shipped files.
fn rewrite(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    text.replace(from, to)
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"))
}

// ---------------------------------------------------------------------------
// rc.d script
// ---------------------------------------------------------------------------

/// The subset of OpenBSD's rc.subr(8) that etc/rc.d/relayd uses: it reads
/// `<name>_flags` from rc.conf.local into `daemon_flags`, starts the daemon,
/// and checks and stops it by the pid it recorded at start.
const RC_SUBR_SHIM: &str = r#"# Test shim of rc.subr(8).
_name=${0##*/}
_RC_RUNFILE=${RC_RUNDIR:?}/${_name}.pid

[ -f "${RC_CONF_LOCAL:?}" ] && . "${RC_CONF_LOCAL}"
eval _rcflags=\${${_name}_flags-}
[ -n "${_rcflags}" ] && daemon_flags=${_rcflags}

rc_start() {
	${daemon} ${daemon_flags} >/dev/null 2>&1 &
	echo $! > "${_RC_RUNFILE}"
}

# Alive and not a zombie, read from /proc (procps may not be installed).
rc_check() {
	[ -f "${_RC_RUNFILE}" ] || return 1
	_pid=$(cat "${_RC_RUNFILE}")
	[ -r "/proc/${_pid}/stat" ] || return 1
	case "$(cut -d')' -f2 "/proc/${_pid}/stat" 2>/dev/null)" in
	"" | " Z"*) return 1 ;;
	esac
}

rc_stop() {
	kill "$(cat "${_RC_RUNFILE}")" || return 1
	while rc_check; do sleep 0.05; done
	rm -f "${_RC_RUNFILE}"
}

rc_reload() {
	kill -HUP "$(cat "${_RC_RUNFILE}")"
}

rc_cmd() {
	case "$1" in
	start)
		rc_check && { echo "${_name}: already running"; return 0; }
		rc_start && echo "${_name}(ok)"
		;;
	check)
		if rc_check; then echo "${_name}(ok)"; else echo "${_name}(failed)"; exit 1; fi
		;;
	reload)
		rc_check || { echo "${_name}(failed)"; exit 1; }
		rc_reload && echo "${_name}(ok)"
		;;
	stop)
		rc_check || exit 0
		rc_stop && echo "${_name}(ok)"
		;;
	*)
		echo "usage: $0 start|check|reload|stop" >&2
		exit 1
		;;
	esac
}
"#;

/// A copy of etc/rc.d/relayd wired to the shim rc.subr and to fake relayd
/// and relayctl binaries that record their argv (and the daemon its pid).
struct RcFixture {
    dir: ScratchDir,
}

impl RcFixture {
    fn new(label: &str, rc_conf_local: &str) -> RcFixture {
        let dir = ScratchDir::new(label);
        let root = dir.path.as_path();
        for sub in ["bin", "rc.d", "run"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let record = root.display();
        write_executable(
            &root.join("bin/relayd"),
            &format!(
                "#!/bin/sh\necho $$ > {record}/daemon.pid.tmp\n\
                 printf '%s\\n' \"$@\" > {record}/daemon.argv\n\
                 mv {record}/daemon.pid.tmp {record}/daemon.pid\nexec sleep 300\n"
            ),
        );
        write_executable(
            &root.join("bin/relayctl"),
            &format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}/relayctl.argv\n"),
        );
        fs::write(root.join("rc.subr"), RC_SUBR_SHIM).expect("write rc.subr");
        fs::write(root.join("rc.conf.local"), rc_conf_local).expect("write rc.conf.local");

        let script = read_text(&repo_root().join("etc/rc.d/relayd"));
        let script = rewrite(
            &script,
            "/usr/local/sbin/relayd",
            &root.join("bin/relayd").display().to_string(),
            "etc/rc.d/relayd",
        );
        let script = rewrite(
            &script,
            "/etc/rc.d/rc.subr",
            &root.join("rc.subr").display().to_string(),
            "etc/rc.d/relayd",
        );
        write_executable(&root.join("rc.d/relayd"), &script);
        RcFixture { dir }
    }

    fn root(&self) -> &Path {
        &self.dir.path
    }

    fn rc(&self, action: &str) -> Output {
        run(Command::new("sh")
            .arg(self.root().join("rc.d/relayd"))
            .arg(action)
            .env("RC_RUNDIR", self.root().join("run"))
            .env("RC_CONF_LOCAL", self.root().join("rc.conf.local")))
    }

    fn start_and_wait(&self) -> u32 {
        let output = self.rc("start");
        assert!(
            output.status.success(),
            "start failed: {}",
            describe(&output)
        );
        let pid_file = self.root().join("daemon.pid");
        assert!(
            wait_until(Duration::from_secs(10), || pid_file.exists()),
            "timed out waiting for the fake daemon to record its pid"
        );
        read_text(&pid_file)
            .trim()
            .parse()
            .expect("pid in daemon.pid")
    }

    fn daemon_argv(&self) -> Vec<String> {
        read_text(&self.root().join("daemon.argv"))
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for RcFixture {
    fn drop(&mut self) {
        // A failed assertion must not leave the fake daemon behind.
        if let Ok(pid) = fs::read_to_string(self.root().join("daemon.pid")) {
            if let Ok(pid) = pid.trim().parse::<u32>() {
                if process_alive(pid) {
                    send_signal(pid, "KILL");
                }
            }
        }
    }
}

#[test]
fn rc_script_passes_rc_conf_local_flags_and_checks_and_stops_by_pid() {
    let fixture = RcFixture::new(
        "rc-flags",
        "relayd_flags=\"-v -D ext_addr=192.0.2.1 -f /tmp/relayd-test.conf\"\n",
    );

    let pid = fixture.start_and_wait();
    assert_eq!(
        fixture.daemon_argv(),
        [
            "-v",
            "-D",
            "ext_addr=192.0.2.1",
            "-f",
            "/tmp/relayd-test.conf"
        ],
        "relayd_flags from rc.conf.local must reach the daemon"
    );
    let recorded: u32 = read_text(&fixture.root().join("run/relayd.pid"))
        .trim()
        .parse()
        .expect("pid in the rc run file");
    assert_eq!(recorded, pid, "rc.subr must track the daemon's own pid");

    let check = fixture.rc("check");
    assert!(
        check.status.success(),
        "check while running: {}",
        describe(&check)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("relayd(ok)"));

    let reload = fixture.rc("reload");
    assert!(reload.status.success(), "reload: {}", describe(&reload));
    assert_eq!(
        read_text(&fixture.root().join("relayctl.argv")).trim(),
        "reload",
        "rc_reload must run `relayctl reload` from the daemon's directory"
    );
    assert!(process_alive(pid), "reload must not stop the daemon");

    let stop = fixture.rc("stop");
    assert!(stop.status.success(), "stop: {}", describe(&stop));
    assert!(
        !process_alive(pid),
        "daemon pid {pid} still runs after stop"
    );

    let check = fixture.rc("check");
    assert!(
        !check.status.success(),
        "check after stop: {}",
        describe(&check)
    );
}

#[test]
fn rc_script_uses_its_default_flags_without_rc_conf_local_entry() {
    let fixture = RcFixture::new("rc-default", "# nothing for relayd here\n");
    let pid = fixture.start_and_wait();
    assert_eq!(fixture.daemon_argv(), ["-f", "/etc/relayd.conf"]);
    let stop = fixture.rc("stop");
    assert!(stop.status.success(), "stop: {}", describe(&stop));
    assert!(
        !process_alive(pid),
        "daemon pid {pid} still runs after stop"
    );
}

// ---------------------------------------------------------------------------
// systemd unit
// ---------------------------------------------------------------------------

fn unit_text() -> String {
    read_text(&repo_root().join("etc/systemd/relayd.service"))
}

/// The value of the first `Key=` line of the unit, without systemd's
/// command prefixes (`-`, `@`, `:`, `+`, `!`).
fn unit_command(unit: &str, key: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("relayd.service has no {key}= line"));
    line.trim_start_matches(['-', '@', ':', '+', '!'])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    if !tools_installed(&["systemd-analyze"]) {
        return;
    }
    // verify insists that every Exec binary exists: point them at stand-ins.
    let dir = ScratchDir::new("unit-verify");
    for name in ["relayd", "relayctl"] {
        write_executable(&dir.path.join(name), "#!/bin/sh\nexit 0\n");
    }
    let unit = rewrite(
        &unit_text(),
        "/usr/local/sbin/",
        &format!("{}/", dir.path.display()),
        "etc/systemd/relayd.service",
    );
    let unit_path = dir.path.join("relayd.service");
    fs::write(&unit_path, unit).expect("write unit copy");

    let output = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit_path)
        .current_dir(&dir.path));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("relayd.service"))
        .collect();
    assert!(
        output.status.success() && complaints.is_empty(),
        "systemd-analyze verify rejects the unit: {}",
        describe(&output)
    );
}

#[test]
fn systemd_unit_declares_config_check_environment_file_and_reload() {
    let unit = unit_text();
    assert!(unit.contains("EnvironmentFile=-/etc/default/relayd"));
    assert_eq!(
        unit_command(&unit, "ExecStartPre"),
        ["/usr/local/sbin/relayd", "-n", "$RELAYD_FLAGS"]
    );
    let start = unit_command(&unit, "ExecStart");
    assert!(start.contains(&"-d".to_string()), "Type=simple needs -d");
    assert!(start.contains(&"$RELAYD_FLAGS".to_string()));
    assert!(unit
        .lines()
        .any(|l| l == "ExecReload=/usr/local/sbin/relayctl reload"));
    // A lost child takes relayd down: systemd starts it again, with room
    // for control connections and sessions.
    assert!(unit.lines().any(|l| l == "Restart=on-failure"), "{unit}");
    assert!(unit.lines().any(|l| l == "LimitNOFILE=65536"), "{unit}");
    let defaults = read_text(&repo_root().join("etc/default/relayd"));
    assert!(
        defaults.lines().any(|l| l.starts_with("RELAYD_FLAGS=")),
        "etc/default/relayd must set RELAYD_FLAGS"
    );
}

#[test]
fn systemd_exec_start_command_line_accepts_the_example_config() {
    let config = repo_root().join("etc/relayd.conf");
    assert!(
        config.exists(),
        "{} is missing: the unit's command line is checked against it",
        config.display()
    );
    let command = unit_command(&unit_text(), "ExecStart");
    let relayd = bin("relayd");
    // $RELAYD_FLAGS stands for what /etc/default/relayd would hold here;
    // -n turns the daemon's command line into a configuration check.
    let mut args: Vec<String> = Vec::new();
    for word in &command[1..] {
        if word == "$RELAYD_FLAGS" || word == "${RELAYD_FLAGS}" {
            args.extend(["-f".to_string(), config.display().to_string()]);
        } else {
            args.push(word.clone());
        }
    }
    args.push("-n".to_string());
    let output = run(Command::new(&relayd).args(&args));
    assert!(
        output.status.success(),
        "relayd {} failed: {}",
        args.join(" "),
        describe(&output)
    );
}

// ---------------------------------------------------------------------------
// install.sh
// ---------------------------------------------------------------------------

/// Fake build output so install.sh has binaries to copy without a release
/// build.
fn fake_build_dir(root: &Path) -> PathBuf {
    let build = root.join("build");
    fs::create_dir_all(&build).expect("mkdir build");
    for name in ["relayd", "relayctl"] {
        write_executable(&build.join(name), &format!("#!/bin/sh\necho {name}\n"));
    }
    build
}

fn install_sh(action: &str, destdir: &Path, prefix: &str, build: &Path) -> Output {
    let output = run(Command::new("sh")
        .arg(repo_root().join("install.sh"))
        .arg(action)
        .env("DESTDIR", destdir)
        .env("PREFIX", prefix)
        .env("BUILD_DIR", build));
    assert!(
        output.status.success(),
        "install.sh {action}: {}",
        describe(&output)
    );
    output
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every regular file under `root`, relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn install_sh_installs_under_destdir_and_uninstall_removes_it_all() {
    let tmp = ScratchDir::new("install");
    let build = fake_build_dir(&tmp.path);
    let dest = tmp.path.join("dest");
    let repo = repo_root();

    let output = install_sh("install", &dest, "/usr/local", &build);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("not creating the _relayd user"),
        "install under DESTDIR must say it skips the user: {}",
        describe(&output)
    );

    let relayd = dest.join("usr/local/sbin/relayd");
    assert_eq!(read_text(&relayd), read_text(&build.join("relayd")));
    assert_eq!(mode(&relayd), 0o555);
    assert_eq!(mode(&dest.join("usr/local/sbin/relayctl")), 0o555);
    for (page, section) in [
        ("relayd.8", "man8"),
        ("relayctl.8", "man8"),
        ("relayd.conf.5", "man5"),
    ] {
        let installed = dest.join("usr/local/share/man").join(section).join(page);
        assert_eq!(
            read_text(&installed),
            read_text(&repo.join("man").join(page))
        );
    }
    let unit = read_text(&dest.join("usr/local/lib/systemd/system/relayd.service"));
    assert!(unit.contains("ExecStart=/usr/local/sbin/relayd -d"));
    let protocol = dest.join("etc/iproute2/rt_protos.d/relayd.conf");
    assert!(
        read_text(&protocol)
            .lines()
            .any(|line| line == "147\trelayd"),
        "ip(8) learns the routers' route protocol"
    );
    assert_eq!(mode(&protocol), 0o644);
    assert!(dest.join("var/empty").is_dir());
    assert_eq!(
        read_text(&dest.join("etc/default/relayd")),
        read_text(&repo.join("etc/default/relayd"))
    );
    if repo.join("etc/relayd.conf").exists() {
        let config = dest.join("etc/relayd.conf");
        assert_eq!(read_text(&config), read_text(&repo.join("etc/relayd.conf")));
        assert_eq!(mode(&config), 0o600, "relayd.conf may hold key passwords");
    }

    install_sh("uninstall", &dest, "/usr/local", &build);
    assert_eq!(files_under(&dest), Vec::<String>::new());
    assert!(
        !dest.join("var/empty").exists(),
        "install.sh created /var/empty"
    );
}

#[test]
fn install_sh_keeps_operators_files() {
    let tmp = ScratchDir::new("install-keep");
    let build = fake_build_dir(&tmp.path);
    let dest = tmp.path.join("dest");

    // An existing /etc/default/relayd is never overwritten nor removed.
    fs::create_dir_all(dest.join("etc/default")).expect("mkdir");
    fs::write(dest.join("etc/default/relayd"), "RELAYD_FLAGS=\"-v\"\n").expect("write");
    install_sh("install", &dest, "/usr/local", &build);
    assert_eq!(
        read_text(&dest.join("etc/default/relayd")),
        "RELAYD_FLAGS=\"-v\"\n"
    );

    // A reinstall keeps the record of what the first install created.
    install_sh("install", &dest, "/usr/local", &build);

    // A file install.sh put there but the operator edited stays too.
    let config = dest.join("etc/relayd.conf");
    let edited_config = config.exists();
    if edited_config {
        fs::write(&config, "# edited by the operator\n").expect("edit config");
    }
    install_sh("uninstall", &dest, "/usr/local", &build);
    assert_eq!(
        read_text(&dest.join("etc/default/relayd")),
        "RELAYD_FLAGS=\"-v\"\n"
    );
    if edited_config {
        assert_eq!(read_text(&config), "# edited by the operator\n");
    }
    assert!(!dest.join("usr/local/sbin/relayd").exists());
}

#[test]
fn install_sh_rewrites_unit_paths_for_another_prefix() {
    let tmp = ScratchDir::new("install-prefix");
    let build = fake_build_dir(&tmp.path);
    let dest = tmp.path.join("dest");

    install_sh("install", &dest, "/opt/relayd", &build);
    let unit = read_text(&dest.join("opt/relayd/lib/systemd/system/relayd.service"));
    assert!(unit.contains("ExecStart=/opt/relayd/sbin/relayd -d"));
    assert!(unit.contains("ExecReload=/opt/relayd/sbin/relayctl reload"));
    assert!(!unit.contains("/usr/local/"), "unit still names /usr/local");
    assert!(dest.join("opt/relayd/sbin/relayctl").exists());
    assert!(dest
        .join("opt/relayd/share/man/man5/relayd.conf.5")
        .exists());

    install_sh("uninstall", &dest, "/opt/relayd", &build);
    assert!(!dest.join("opt/relayd/sbin/relayd").exists());
}

#[test]
fn install_sh_refuses_without_built_binaries() {
    let tmp = ScratchDir::new("install-nobuild");
    let output = run(Command::new("sh")
        .arg(repo_root().join("install.sh"))
        .env("DESTDIR", tmp.path.join("dest"))
        .env("BUILD_DIR", tmp.path.join("no-such-build")));
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cargo build --release"),
        "the error must say how to build: {}",
        describe(&output)
    );
    assert!(!tmp.path.join("dest").exists(), "nothing may be installed");
}

/// Runs install.sh for real (no DESTDIR) inside a private mount namespace
/// whose /etc and /var are copies, so user creation and removal are
/// exercised without touching this machine. Needs root.
#[test]
fn install_sh_creates_and_removes_the_user_it_created() {
    if !running_as_root()
        || !tools_installed(&[
            "unshare", "mount", "useradd", "groupadd", "userdel", "groupdel",
        ])
    {
        return;
    }
    let can_unshare = Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can_unshare {
        skip_or_fail("unshare(1) cannot make a mount namespace here");
        return;
    }
    let tmp = ScratchDir::new("install-user");
    let build = fake_build_dir(&tmp.path);
    let sandbox = tmp.path.join("sandbox");
    fs::create_dir_all(sandbox.join("var")).expect("mkdir var");
    let copy = run(Command::new("cp")
        .args(["-a", "/etc"])
        .arg(sandbox.join("etc")));
    assert!(copy.status.success(), "copy /etc: {}", describe(&copy));

    let script = r#"
        set -e
        mount --bind "$SANDBOX/etc" /etc
        mount --bind "$SANDBOX/var" /var
        userdel _relayd 2>/dev/null || true
        groupdel _relayd 2>/dev/null || true
        sh "$INSTALL_SH"
        echo "installed user: $(getent passwd _relayd)"
        echo "installed group: $(getent group _relayd | cut -d: -f1)"
        [ -d /var/empty ] && echo "installed chroot dir"
        sh "$INSTALL_SH" uninstall
        echo "removed user: [$(getent passwd _relayd)]"
        echo "removed group: [$(getent group _relayd)]"
        [ -d /var/empty ] || echo "removed chroot dir"
    "#;
    let output = run(Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("SANDBOX", &sandbox)
        .env("INSTALL_SH", repo_root().join("install.sh"))
        .env("PREFIX", tmp.path.join("prefix"))
        .env("BUILD_DIR", &build));
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let user = stdout
        .lines()
        .find_map(|l| l.strip_prefix("installed user: "))
        .unwrap_or_default();
    let fields: Vec<&str> = user.split(':').collect();
    assert_eq!(fields.first(), Some(&"_relayd"), "{}", describe(&output));
    assert_eq!(fields.get(5), Some(&"/var/empty"), "home: {user}");
    assert!(
        fields
            .get(6)
            .is_some_and(|shell| shell.ends_with("nologin") || shell.ends_with("false")),
        "shell: {user}"
    );
    for line in [
        "installed group: _relayd",
        "installed chroot dir",
        "removed user: []",
        "removed group: []",
        "removed chroot dir",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?}: {}",
            describe(&output)
        );
    }
}
