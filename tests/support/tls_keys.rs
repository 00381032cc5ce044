//! Keys and certificates for TLS relays, made by openssl(1) in a scratch
//! directory laid out as relayd's `/etc/ssl` (`NAME.crt`,
//! `private/NAME.key`), which relayd reads when `RELAYD_SSL_DIR` points
//! there; and searching process memory for a key's secret.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::scratch::ScratchDir;

/// The variable that moves relayd's `/etc/ssl`.
pub const SSL_DIR_VAR: &str = "RELAYD_SSL_DIR";

/// A scratch `/etc/ssl`.
pub struct SslDir {
    pub dir: ScratchDir,
}

impl SslDir {
    pub fn new(label: &str) -> SslDir {
        let dir = ScratchDir::new(label);
        fs::create_dir_all(dir.join("private")).expect("private dir");
        SslDir { dir }
    }

    /// `[(RELAYD_SSL_DIR, dir)]` for `Daemon::start_with_env`.
    pub fn env(&self) -> (&'static str, String) {
        (SSL_DIR_VAR, self.dir.path.display().to_string())
    }

    pub fn certificate(&self, name: &str) -> PathBuf {
        self.dir.join(&format!("{name}.crt"))
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(&format!("private/{name}.key"))
    }

    /// A self-signed ECDSA P-256 certificate for `names` (DNS names; the
    /// first is the subject's CN, 127.0.0.1 is always an IP SAN) as
    /// `NAME.crt` with its key `private/NAME.key`. Panics if openssl fails.
    pub fn keypair(&self, name: &str, names: &[&str]) -> PathBuf {
        self.new_certificate(
            name,
            &common_name(names),
            [OsString::from("-addext"), subject_alt_names(names).into()],
        )
    }

    /// A CA: a self-signed ECDSA P-256 certificate that may sign others,
    /// `NAME.crt` with `private/NAME.key`.
    pub fn ca(&self, name: &str) -> PathBuf {
        self.new_certificate(
            name,
            &format!("/CN=Test CA {name}"),
            ["-addext", "basicConstraints=critical,CA:TRUE"]
                .into_iter()
                .chain(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .map(OsString::from),
        )
    }

    /// A certificate for `names` (DNS SANs, and 127.0.0.1) issued by the CA
    /// `ca` of this directory, for servers and clients alike.
    pub fn signed(&self, name: &str, ca: &str, names: &[&str]) -> PathBuf {
        let issuer: [OsString; 4] = [
            "-CA".into(),
            self.certificate(ca).into(),
            "-CAkey".into(),
            self.key(ca).into(),
        ];
        let extensions = [
            "-addext".to_string(),
            subject_alt_names(names),
            "-addext".to_string(),
            "basicConstraints=critical,CA:FALSE".to_string(),
            "-addext".to_string(),
            "extendedKeyUsage=serverAuth,clientAuth".to_string(),
        ];
        self.new_certificate(
            name,
            &common_name(names),
            issuer.into_iter().chain(extensions.map(OsString::from)),
        )
    }

    /// `openssl req -x509` of a new P-256 key for `subject` with `extra`
    /// arguments (issuer, extensions), as `NAME.crt` and `private/NAME.key`.
    fn new_certificate(
        &self,
        name: &str,
        subject: &str,
        extra: impl IntoIterator<Item = OsString>,
    ) -> PathBuf {
        let mut args: Vec<OsString> = [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
        ]
        .map(OsString::from)
        .into();
        args.push(subject.into());
        args.extend(extra);
        args.extend([
            "-keyout".into(),
            self.key(name).into(),
            "-out".into(),
            self.certificate(name).into(),
        ]);
        openssl(&args);
        self.certificate(name)
    }

    /// The key of `name` as encrypted PKCS#8 (`openssl pkcs8 -topk8`)
    /// under `password`, as `private/NAME.enc.key`.
    pub fn encrypted_key(&self, name: &str, password: &str) -> PathBuf {
        let out = self.dir.join(&format!("private/{name}.enc.key"));
        openssl(&[
            "pkcs8".into(),
            "-topk8".into(),
            "-in".into(),
            self.key(name).into(),
            "-out".into(),
            out.clone().into(),
            "-passout".into(),
            format!("pass:{password}").into(),
        ]);
        out
    }

    /// Like [`SslDir::signed`], but expired a day before it was made.
    pub fn expired(&self, name: &str, ca: &str, names: &[&str]) -> PathBuf {
        let request = self.dir.join(&format!("{name}.csr"));
        let extensions = self.dir.write(
            &format!("{name}.ext"),
            &format!(
                "{}\nbasicConstraints=critical,CA:FALSE\n",
                subject_alt_names(names)
            ),
        );
        let steps: [Vec<OsString>; 2] = [
            vec![
                "req".into(),
                "-new".into(),
                "-newkey".into(),
                "ec".into(),
                "-pkeyopt".into(),
                "ec_paramgen_curve:prime256v1".into(),
                "-nodes".into(),
                "-subj".into(),
                common_name(names).into(),
                "-keyout".into(),
                self.key(name).into(),
                "-out".into(),
                request.clone().into(),
            ],
            vec![
                "x509".into(),
                "-req".into(),
                "-in".into(),
                request.into(),
                "-CA".into(),
                self.certificate(ca).into(),
                "-CAkey".into(),
                self.key(ca).into(),
                "-days".into(),
                "-1".into(),
                "-extfile".into(),
                extensions.into(),
                "-out".into(),
                self.certificate(name).into(),
            ],
        ];
        steps.iter().for_each(|args| openssl(args));
        self.certificate(name)
    }

    /// An OCSP response saying `name` (issued by CA `ca`) is good, signed by
    /// the CA, as `NAME.ocsp`: relayd's staple file for the keypair.
    pub fn ocsp_staple(&self, name: &str, ca: &str) -> PathBuf {
        let serial = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(self.certificate(name))
            .output()
            .expect("run openssl x509");
        let serial = String::from_utf8_lossy(&serial.stdout);
        let serial = serial.trim().trim_start_matches("serial=");
        let expiry = chrono_like_expiry();
        let index = self.dir.join(&format!("{name}.index"));
        fs::write(
            &index,
            format!("V\t{expiry}\t\t{serial}\tunknown\t/CN={name}\n"),
        )
        .expect("write the CA index");
        let request = self.dir.join(&format!("{name}.ocsp-request"));
        let staple = self.dir.join(&format!("{name}.ocsp"));
        let steps: [Vec<OsString>; 2] = [
            vec![
                "ocsp".into(),
                "-no_nonce".into(),
                "-issuer".into(),
                self.certificate(ca).into(),
                "-cert".into(),
                self.certificate(name).into(),
                "-reqout".into(),
                request.clone().into(),
            ],
            vec![
                "ocsp".into(),
                "-index".into(),
                index.into(),
                "-rsigner".into(),
                self.certificate(ca).into(),
                "-rkey".into(),
                self.key(ca).into(),
                "-CA".into(),
                self.certificate(ca).into(),
                "-reqin".into(),
                request.into(),
                "-respout".into(),
                staple.clone().into(),
                "-ndays".into(),
                "1".into(),
            ],
        ];
        steps.iter().for_each(|args| openssl(args));
        staple
    }

    /// The private scalar of an EC key (`openssl ec -text`'s `priv:`
    /// bytes): what must never be in a relay's memory.
    pub fn ec_secret(&self, name: &str) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(["ec", "-noout", "-text", "-in"])
            .arg(self.key(name))
            .stderr(Stdio::null())
            .output()
            .expect("run openssl ec");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut hex = String::new();
        let mut in_priv = false;
        for line in text.lines() {
            if line.starts_with("priv:") {
                in_priv = true;
                continue;
            }
            if in_priv {
                if !line.starts_with(' ') {
                    break;
                }
                hex.extend(line.trim().split(':').filter(|b| !b.is_empty()));
            }
        }
        let mut bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        // openssl prints a leading 00 when the top bit is set.
        while bytes.len() > 32 && bytes[0] == 0 {
            bytes.remove(0);
        }
        assert_eq!(bytes.len(), 32, "a P-256 scalar from:\n{text}");
        bytes
    }
}

/// Runs openssl(1) with `args`; panics with its stderr if it fails.
fn openssl(args: &[OsString]) {
    let out = Command::new("openssl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?}: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `subjectAltName=` for `names` as DNS names, and 127.0.0.1.
fn subject_alt_names(names: &[&str]) -> String {
    let mut sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    sans.push("IP:127.0.0.1".to_string());
    format!("subjectAltName={}", sans.join(","))
}

/// `/CN=` of the first of `names` (`localhost` without any).
fn common_name(names: &[&str]) -> String {
    format!("/CN={}", names.first().copied().unwrap_or("localhost"))
}

/// Whether the readable memory of process `pid` holds `needle` (reads
/// `/proc/PID/mem` region by region; needs root).
pub fn memory_holds(pid: u32, needle: &[u8]) -> bool {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
    let mut mem = fs::File::open(format!("/proc/{pid}/mem")).expect("open mem");
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let path = fields.nth(3).unwrap_or("");
        if !perms.starts_with('r') || path == "[vvar]" || path == "[vsyscall]" {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let mut region = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue;
        }
        if contains(&region, needle) {
            return true;
        }
    }
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    let last = haystack.len().saturating_sub(needle.len());
    let mut at = 0;
    while at <= last && haystack.len() >= needle.len() {
        match haystack[at..=last].iter().position(|&b| b == first) {
            Some(offset) => {
                let start = at + offset;
                if &haystack[start..start + needle.len()] == needle {
                    return true;
                }
                at = start + 1;
            }
            None => return false,
        }
    }
    false
}

/// Two days from now as an OpenSSL CA index wants it (`YYMMDDHHMMSSZ`).
fn chrono_like_expiry() -> String {
    let out = Command::new("date")
        .args(["-u", "-d", "+2 days", "+%y%m%d%H%M%SZ"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
