//! What a valid relayd.conf may ask for that this Linux relayd does not do.
//! The parser accepts these (the file is valid relayd.conf(5)); the daemon,
//! `relayd -n` included, refuses them with their place in the file rather
//! than ignoring them.

use crate::joined::Joined;
use relayd_config::Config;

/// One feature the configuration uses that this relayd does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Feature {
    #[error(
        "{file}:{line}: router {name}: routers (route, rtable, rtlabel) are not supported on Linux"
    )]
    Router {
        file: String,
        line: u32,
        name: String,
    },
    #[error("snmp: SNMP traps are not supported by this relayd")]
    Snmp,
    #[error("agentx: AgentX metrics are not supported by this relayd")]
    Agentx,
}

/// Every unsupported feature of a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Joined(.0, "\n"))]
pub struct Unsupported(pub Vec<Feature>);

/// Every unsupported feature the configuration uses.
pub fn refuse_unsupported(config: &Config) -> Result<(), Unsupported> {
    let mut features: Vec<Feature> = config
        .routers
        .iter()
        .map(|router| Feature::Router {
            file: router.origin.file.clone(),
            line: router.origin.line,
            name: router.name.clone(),
        })
        .collect();
    if config.global.snmp.is_some() {
        features.push(Feature::Snmp);
    }
    if config.global.agentx.is_some() {
        features.push(Feature::Agentx);
    }
    if features.is_empty() {
        Ok(())
    } else {
        Err(Unsupported(features))
    }
}

#[cfg(test)]
mod tests {
    use super::refuse_unsupported;
    use relayd_config::{parse_str, LoadOptions};

    fn load(text: &str) -> relayd_config::Config {
        parse_str(text, "test.conf", &LoadOptions::default()).expect("valid config")
    }

    #[test]
    fn routers_snmp_and_agentx_are_refused_with_their_place() {
        let config = load(
            "snmp trap\nagentx\ntable <gw> { 127.0.0.1 }\n\
             router \"up\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n}\n",
        );
        let why = refuse_unsupported(&config)
            .expect_err("refused")
            .to_string();
        assert!(why.contains("test.conf:4: router up"), "{why}");
        assert!(why.contains("snmp"), "{why}");
        assert!(why.contains("agentx"), "{why}");
    }

    #[test]
    fn a_plain_relay_is_fine() {
        let config = load(
            "table <t> { 127.0.0.1 }\nrelay r {\n listen on 127.0.0.1 port 80\n \
             forward to <t> port 8080 check tcp\n}\n",
        );
        assert_eq!(refuse_unsupported(&config), Ok(()));
    }
}
