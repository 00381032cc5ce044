//! relayd.conf(5) text through the whole loader (`relayd_config`):
//! preprocessing (macros, `\` continuation, quoting, `include`), the pest
//! grammar, building and validation. Bytes after a line `%%include%%`
//! are written to a file that the text reaches as `include "@INC@"`
//! (also from inside that file: loops are found). Host names never reach
//! a resolver. No panic; accepted configurations print and parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_config::{parse_str, print_config, LoadOptions};
use std::path::PathBuf;
use std::sync::OnceLock;

const SEPARATOR: &str = "\n%%include%%\n";

fn include_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("relayd-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir.join("inc.conf")
    })
}

fn no_resolver(_: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
    Err(std::io::Error::other("no resolver while fuzzing"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = include_path();
    let inc = path.display().to_string();
    let (main, included) = text.split_once(SEPARATOR).unwrap_or((text, ""));
    if std::fs::write(path, included.replace("@INC@", &inc)).is_err() {
        return;
    }
    let options = LoadOptions {
        macros: Vec::new(),
        resolver: Some(&no_resolver),
    };
    if let Ok(config) = parse_str(&main.replace("@INC@", &inc), "fuzz.conf", &options) {
        let printed = print_config(&config);
        if let Err(errors) = parse_str(&printed, "printed.conf", &options) {
            panic!("printed configuration refused: {errors}\n{printed}");
        }
    }
});
