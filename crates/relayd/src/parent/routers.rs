//! Routers in the parent: a configuration's routers are checked for Linux
//! where it is loaded (`relayd -n`, start, reload), with the `rtlabel`
//! names of iproute2's `rt_realms`, which only the parent can read; the
//! resulting plan goes to the pfe with each configuration it rolls out.
//! The pfe installs the routes; `router enable|disable` reach it through
//! `commands`.

use relayd_config::Config;
use relayd_route::{PlanErrors, Realms, RealmsFileError, RoutePlan};

/// Why a configuration's routers cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("{0}")]
    Realms(#[from] RealmsFileError),
    /// One line per problem, `file:line: router NAME: why`.
    #[error("{0}")]
    Plan(#[from] PlanErrors),
}

/// The routes `config`'s routers want, checked for Linux. `rt_realms` is
/// read only when a router has an `rtlabel`.
pub fn route_plan(config: &Config) -> Result<RoutePlan, RouterError> {
    let realms = if config.routers.iter().any(|r| r.rtlabel.is_some()) {
        Realms::load_system()?
    } else {
        Realms::default()
    };
    Ok(RoutePlan::new(config, &realms)?)
}

#[cfg(test)]
mod tests {
    use super::route_plan;
    use relayd_config::{parse_str, LoadOptions};

    fn load(text: &str) -> relayd_config::Config {
        parse_str(text, "test.conf", &LoadOptions::default()).expect("valid config")
    }

    #[test]
    fn a_router_linux_cannot_run_is_refused_with_its_line() {
        let config = load(
            "table <gw> { 10.0.0.1 }\n\
             router \"up\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n rtable 255\n}\n",
        );
        let why = route_plan(&config).expect_err("refused").to_string();
        assert!(
            why.starts_with("test.conf:2: router up: rtable 255"),
            "{why}"
        );
    }

    #[test]
    fn numbered_labels_need_no_realms_file() {
        let config = load(
            "table <gw> { 10.0.0.1 }\n\
             router \"up\" {\n route 0.0.0.0/0\n forward to <gw> check icmp\n rtlabel \"7\"\n}\n",
        );
        let plan = route_plan(&config).expect("planned");
        assert_eq!(plan.routers()[0].realm, Some(7));
    }
}
