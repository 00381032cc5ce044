//! Shared by the parser's tests: a resolver that needs no DNS, and loading
//! the files of tests/configs/.

#![allow(dead_code)]

use relayd_config::{load_file, parse_str, Config, ConfigErrors, LoadOptions};
use std::net::IpAddr;
use std::path::PathBuf;

/// The host names of the example configs and their addresses; any other
/// name fails, so a test never asks real DNS.
pub fn test_resolver(name: &str) -> std::io::Result<Vec<IpAddr>> {
    let addrs: &[&str] = match name {
        "www.example.com" => &["192.0.2.10", "2001:db8::10"],
        "www6.example.com" => &["2001:db8::80"],
        "front-www1.private.example.com" => &["10.0.0.11"],
        "front-www2.private.example.com" => &["10.0.0.12"],
        "front-www3.private.example.com" => &["10.0.0.13"],
        "front-www4.private.example.com" => &["10.0.0.14"],
        "sorryhost.private.example.com" => &["10.0.0.20"],
        "dns.example.com" => &["192.0.2.53"],
        "shell.example.com" => &["192.0.2.22"],
        "localhost" => &["127.0.0.1"],
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{name}: unknown host"),
            ))
        }
    };
    Ok(addrs.iter().map(|a| a.parse().unwrap()).collect())
}

pub fn options() -> LoadOptions<'static> {
    LoadOptions {
        macros: Vec::new(),
        resolver: Some(&test_resolver),
    }
}

pub fn config_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
}

/// Loads tests/configs/NAME, panicking with the errors if it does not load.
pub fn load(name: &str) -> Config {
    match load_file(&config_path(name), &options()) {
        Ok(config) => config,
        Err(errors) => panic!("{name} does not load:\n{errors}"),
    }
}

pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_str(text, "test.conf", &options())
}

/// The errors of `text`, which must not load.
pub fn errors_of(text: &str) -> ConfigErrors {
    match parse(text) {
        Ok(config) => panic!("expected errors, but it loads:\n{text}\n{config:#?}"),
        Err(errors) => errors,
    }
}
