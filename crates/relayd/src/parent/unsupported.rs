//! What a valid relayd.conf may ask for that this Linux relayd does not do.
//! The parser accepts these (the file is valid relayd.conf(5)); the daemon,
//! `relayd -n` included, refuses them with their place in the file rather
//! than ignoring them.

use crate::joined::Joined;
use relayd_config::Config;

/// One feature the configuration uses that this relayd does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Feature {
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
    let mut features = Vec::new();
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
    fn snmp_and_agentx_are_refused() {
        let config = load(
            "snmp trap\nagentx\ntable <t> { 127.0.0.1 }\nrelay r {\n \
             listen on 127.0.0.1 port 80\n forward to <t> port 8080 check tcp\n}\n",
        );
        let why = refuse_unsupported(&config)
            .expect_err("refused")
            .to_string();
        assert!(why.contains("snmp"), "{why}");
        assert!(why.contains("agentx"), "{why}");
    }

    #[test]
    fn a_plain_relay_and_a_router_are_fine() {
        let config = load(
            "table <t> { 127.0.0.1 }\nrelay r {\n listen on 127.0.0.1 port 80\n \
             forward to <t> port 8080 check tcp\n}\n\
             table <gw> { 10.0.0.1 }\n\
             router \"up\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n}\n",
        );
        assert_eq!(refuse_unsupported(&config), Ok(()));
    }
}
