//! relayd's route protocol number: the mark on every route relayd adds,
//! and the only routes it ever changes or removes.
//!
//! 147 is assigned neither by Linux (`RTPROT_*` in linux/rtnetlink.h,
//! numbers up to 4 mean something to the kernel, the rest belong to
//! routing daemons) nor in iproute2's `rt_protos`, and no routing daemon
//! we know of uses it. A line `147 relayd` in
//! `/etc/iproute2/rt_protos.d/relayd.conf` (etc/iproute2 in the
//! repository) makes `ip route` print and accept the name
//! (`ip route show proto relayd`).

/// The `rtm_protocol` of relayd's routes.
pub const RTPROT_RELAYD: u8 = 147;

/// Its name for iproute2.
pub const PROTOCOL_NAME: &str = "relayd";

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(relative: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../").to_string() + relative;
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn the_iproute2_file_and_the_manual_name_this_number() {
        let names = repo_file("etc/iproute2/rt_protos.d/relayd.conf");
        let line = names
            .lines()
            .find(|l| !l.starts_with('#'))
            .expect("a line that names the protocol");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, [RTPROT_RELAYD.to_string().as_str(), PROTOCOL_NAME]);
        let manual = repo_file("man/relayd.conf.5");
        assert!(manual.contains(&format!("route protocol {RTPROT_RELAYD}")));
        assert!(manual.contains(&format!("{RTPROT_RELAYD} {PROTOCOL_NAME}")));
    }
}
