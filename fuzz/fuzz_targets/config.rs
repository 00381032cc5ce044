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
use std::sync::{Mutex, OnceLock};

const SEPARATOR: &str = "\n%%include%%\n";

fn include_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("relayd-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir.join("inc.conf")
    })
}

/// Writes the included text unless the file already holds it: most
/// inputs have the same (often empty) include part, and a write per
/// input is a third of the system calls of a run.
fn write_include(path: &PathBuf, text: String) -> bool {
    static WRITTEN: Mutex<Option<String>> = Mutex::new(None);
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    if written.as_deref() == Some(text.as_str()) {
        return true;
    }
    if std::fs::write(path, &text).is_err() {
        *written = None;
        return false;
    }
    *written = Some(text);
    true
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
    if !write_include(path, included.replace("@INC@", &inc)) {
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
