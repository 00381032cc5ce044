//! Reading a file, printing it and reading the print gives the same model:
//! for every `.conf` under tests/configs/ (the parser's examples, including
//! `everything.conf`) and tests/configs/roundtrip/ (the printer's own cases).
//! The print of the print must also be the same text, and a model without
//! line numbers (blocks ordered by their tables) must round-trip as well.

use relayd_config::{load_file, print_config, Config, ConfigErrors, LoadOptions};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Names resolve without DNS: each name always gets the same documentation
/// address, IPv6 for names starting with `v6`; names starting with `multi`
/// get two addresses (a table host uses the first, as in relayd).
fn test_resolver(name: &str) -> std::io::Result<Vec<IpAddr>> {
    let n = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let host = (n % 250 + 1) as u8;
    let v4 = |host: u8| IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, host));
    Ok(if name.starts_with("v6") {
        let segment = u16::from(host);
        vec![IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, 0, 0, 0, 0, 0, segment,
        ))]
    } else if name.starts_with("multi") {
        vec![v4(host), v4(host.wrapping_add(1))]
    } else {
        vec![v4(host)]
    })
}

fn options() -> LoadOptions<'static> {
    LoadOptions {
        macros: Vec::new(),
        resolver: Some(&test_resolver),
    }
}

/// Line numbers differ between a file and its print; nothing else may.
fn without_origins(mut config: Config) -> Config {
    for redirect in &mut config.redirects {
        redirect.origin = Default::default();
        for listen in &mut redirect.listen {
            listen.origin = Default::default();
        }
    }
    for relay in &mut config.relays {
        relay.origin = Default::default();
    }
    for router in &mut config.routers {
        router.origin = Default::default();
    }
    for protocol in &mut config.protocols {
        protocol.origin = Default::default();
        *protocol.tls.origins = Default::default();
        for rule in &mut protocol.rules {
            rule.origin = Default::default();
        }
    }
    config
}

fn configs_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A file in the temp dir that is removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load_text(text: &str, name: &str) -> Result<Config, ConfigErrors> {
    let path = std::env::temp_dir().join(format!("roundtrip-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write printed config");
    let file = TempFile(path);
    load_file(&file.0, &options())
}

/// Parses `path`, prints, re-parses, compares; `Err` says what went wrong.
fn round_trip(path: &Path) -> Result<(), String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let original =
        load_file(path, &options()).map_err(|e| format!("{name}: does not load:\n{e}"))?;
    let printed = print_config(&original);
    let reread = load_text(&printed, &name)
        .map_err(|e| format!("{name}: its print does not load:\n{e}\n--- print:\n{printed}"))?;
    let printed_again = print_config(&reread);
    let (original, reread) = (without_origins(original), without_origins(reread));
    if original != reread {
        return Err(format!(
            "{name}: the print reads back differently\n--- print:\n{printed}\n\
             --- original:\n{original:#?}\n--- re-read:\n{reread:#?}"
        ));
    }
    // Without line numbers the printer orders blocks by the tables they
    // create instead; that must give the same configuration too.
    let printed_unordered = print_config(&original);
    let reread_unordered = load_text(&printed_unordered, &name).map_err(|e| {
        format!("{name}: its print without origins does not load:\n{e}\n--- print:\n{printed_unordered}")
    })?;
    if without_origins(reread_unordered) != original {
        return Err(format!(
            "{name}: the print without origins reads back differently\n--- print:\n{printed_unordered}"
        ));
    }
    if printed_again != printed {
        return Err(format!(
            "{name}: printing twice differs\n--- first:\n{printed}\n--- second:\n{printed_again}"
        ));
    }
    Ok(())
}

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")
}

#[test]
fn the_printers_own_configs_round_trip() {
    let files = configs_in(&configs_dir().join("roundtrip"));
    assert!(files.len() >= 8, "round-trip configs missing: {files:?}");
    let failures: Vec<String> = files.iter().filter_map(|f| round_trip(f).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_parsers_example_configs_round_trip() {
    let files = configs_in(&configs_dir());
    let mut failures = Vec::new();
    for file in &files {
        match round_trip(file) {
            Ok(()) => {}
            // Fragments meant for `include` do not load on their own; the
            // parser's own tests say which files must load.
            Err(e) if e.contains(": does not load:") && !e.starts_with("everything.conf") => {
                eprintln!("skipped {e}");
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_example_files_of_etc_round_trip() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    for name in ["relayd.conf", "demo.conf"] {
        if let Err(e) = round_trip(&etc.join(name)) {
            panic!("{e}");
        }
    }
}
