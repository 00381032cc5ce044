//! `relayd -n`, the configuration check, run as an operator runs it: the
//! example files pass, a broken file is refused with `file:line:column`,
//! `-nv` prints a configuration that reads back to the same text, and `-D`
//! overrides a macro of the file.

use e2e::{bin, repo_root, ScratchDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn relayd(args: &[&str], config: &Path) -> Output {
    Command::new(bin("relayd"))
        .args(args)
        .arg("-f")
        .arg(config)
        .output()
        .expect("run relayd")
}

fn example(name: &str) -> PathBuf {
    repo_root().join("etc").join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_config_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: relayd -n failed ({:?}):\n{}",
        output.status,
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("configuration OK"),
        "{what}: no \"configuration OK\" in:\n{}",
        text(&output.stderr)
    );
}

#[test]
fn the_example_configurations_are_valid() {
    for name in ["relayd.conf", "demo.conf"] {
        let output = relayd(&["-n"], &example(name));
        assert_config_ok(&output, name);
    }
}

#[test]
fn a_broken_file_is_refused_with_its_location() {
    let dir = ScratchDir::new("config-check");
    let broken = dir.write(
        "broken.conf",
        "interval 5\n\nrelay \"broken\" {\n\tlisten on port\n}\n",
    );
    let output = relayd(&["-n"], &broken);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    let location = format!("{}:4:", broken.display());
    let at = stderr
        .find(&location)
        .unwrap_or_else(|| panic!("no {location} in:\n{stderr}"));
    let column: String = stderr[at + location.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        !column.is_empty(),
        "no column after {location} in:\n{stderr}"
    );
    assert!(!stderr.contains("configuration OK"), "{stderr}");
}

#[test]
fn verbose_output_reads_back_to_the_same_configuration() {
    for name in ["relayd.conf", "demo.conf"] {
        let first = relayd(&["-n", "-v"], &example(name));
        assert_config_ok(&first, name);
        let printed = text(&first.stdout);
        assert!(
            printed.contains("relay \""),
            "{name}: -nv printed no relay:\n{printed}"
        );
        let dir = ScratchDir::new("config-check");
        let copy = dir.write("printed.conf", &printed);
        let second = relayd(&["-n", "-v"], &copy);
        assert_config_ok(&second, &format!("{name} as printed"));
        assert_eq!(
            text(&second.stdout),
            printed,
            "{name}: printing the printed configuration changed it"
        );
    }
}

#[test]
fn a_macro_given_with_dash_d_wins_over_the_file() {
    let output = relayd(
        &["-n", "-v", "-D", "front=127.0.0.9"],
        &example("relayd.conf"),
    );
    assert_config_ok(&output, "relayd.conf with -D");
    let printed = text(&output.stdout);
    assert!(
        printed.contains("listen on 127.0.0.9 port 8080"),
        "-D front=127.0.0.9 not applied:\n{printed}"
    );
    assert!(!printed.contains("listen on 127.0.0.1 "), "{printed}");
}
