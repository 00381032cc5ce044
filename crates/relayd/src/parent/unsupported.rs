//! What a valid relayd.conf may ask for that this Linux relayd does not do.
//! The parser accepts these (the file is valid relayd.conf(5)); the daemon,
//! `relayd -n` included, refuses them with their place in the file rather
//! than ignoring them.

use relayd_config::Config;

/// Every unsupported feature the configuration uses, one error per line.
pub fn refuse_unsupported(config: &Config) -> Result<(), String> {
    let mut errors = Vec::new();
    for router in &config.routers {
        errors.push(format!(
            "{}:{}: router {}: routers (route, rtable, rtlabel) are not supported on Linux",
            router.origin.file, router.origin.line, router.name
        ));
    }
    if config.global.snmp.is_some() {
        errors.push("snmp: SNMP traps are not supported by this relayd".to_string());
    }
    if config.global.agentx.is_some() {
        errors.push("agentx: AgentX metrics are not supported by this relayd".to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
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
        let why = refuse_unsupported(&config).expect_err("refused");
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
