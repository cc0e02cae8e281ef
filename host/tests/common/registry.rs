//! A real OCI registry (Debian's `docker-registry`, the CNCF distribution registry) on a
//! loopback address of the test's own, and hero-banner versions signed and pushed to it.

use super::process::Process;
use super::{ADMIN, admin, decide, run_tailor as tailor};
use super::{packages, pki};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A registry on a loopback address of the test's own, stopped when dropped.
pub struct Registry {
    process: Process,
    pub url: String,
    pub dir: PathBuf,
    /// The CA that signed the registry's certificate (`ca.pem`), for a TLS registry.
    pub ca: Option<PathBuf>,
}

/// A registry that serves TLS only, with a certificate from a CA the test makes, and admits
/// one user (htpasswd, bcrypt).
#[derive(Debug, Clone, Copy)]
pub struct Secured {
    pub user: &'static str,
    pub password: &'static str,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The port every test's registry listens on, each on its own loopback address.
const REGISTRY_PORT: u16 = 5000;

/// Starts a registry on `host` (a loopback address no other test uses: the tests run in
/// parallel, and a port picked and released on a shared address could be taken by another
/// test's server before the registry binds it).
pub fn start_registry(tag: &str, host: &str) -> Registry {
    start_registry_with(tag, host, None)
}

/// [`start_registry`], serving TLS and requiring credentials when `secured`.
pub fn start_registry_with(tag: &str, host: &str, secured: Option<Secured>) -> Registry {
    let dir = std::env::temp_dir().join(format!("tailor-registry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yml");
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}:{REGISTRY_PORT}\n",
        dir.join("data").display()
    );
    let mut ca = None;
    if let Some(secured) = secured {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        pki::certificates(&certs, host);
        let users = dir.join("htpasswd");
        pki::htpasswd(&users, secured.user, secured.password);
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: tailor-test\n    path: {}\n",
            certs.join("server.pem").display(),
            certs.join("server.key").display(),
            users.display()
        ));
        ca = Some(certs.join("ca.pem"));
    }
    std::fs::write(&config, yaml).unwrap();
    let binary = packages::require(packages::DOCKER_REGISTRY);
    let process = Process::spawn(
        "docker-registry",
        Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null()),
    );
    let scheme = if secured.is_some() { "https" } else { "http" };
    let mut registry = Registry {
        process,
        url: format!("{scheme}://{host}:{REGISTRY_PORT}"),
        dir,
        ca,
    };
    let addr: SocketAddr = format!("{host}:{REGISTRY_PORT}").parse().unwrap();
    registry
        .process
        .wait_listening(addr, Duration::from_secs(30));
    registry
}

pub fn hero() -> &'static tailor_policies::BundledPolicy {
    tailor_policies::find("hero-banner").unwrap()
}

/// Writes `<variant>.wasm`, `<variant>.json` (a hero-banner config whose default is `variant`)
/// and, when `key` is given, `<variant>.sig`.
pub fn write_version(dir: &Path, variant: &str, key: Option<&str>) {
    let mut config: Value = serde_json::from_str(hero().config.unwrap()).unwrap();
    config["default_variant"] = json!(variant);
    config["variants"][variant] =
        json!({"headline": variant, "image": "/i.jpg", "cta": "Go", "url": "/"});
    config.as_object_mut().unwrap().remove("experiment");
    std::fs::write(dir.join(format!("{variant}.wasm")), hero().component).unwrap();
    std::fs::write(dir.join(format!("{variant}.json")), config.to_string()).unwrap();
    if let Some(key) = key {
        let wasm = format!("{variant}.wasm");
        let json = format!("{variant}.json");
        let sig = format!("{variant}.sig");
        tailor(
            dir,
            &[
                "sign",
                "--key",
                key,
                "--component",
                &wasm,
                "--config",
                &json,
                "--out",
                &sig,
            ],
        );
    }
}

pub fn push_version(dir: &Path, reference: &str, variant: &str, signed: bool) {
    push_version_with(dir, reference, variant, signed, &[]);
}

/// [`push_version`] with more `tailor push` arguments.
pub fn push_version_with(dir: &Path, reference: &str, variant: &str, signed: bool, extra: &[&str]) {
    let args = push_args(reference, variant, signed, extra);
    tailor(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The `tailor push` arguments of [`push_version_with`].
pub fn push_args(reference: &str, variant: &str, signed: bool, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["push", reference, "--component"].map(str::to_owned).into();
    args.extend([
        format!("{variant}.wasm"),
        "--config".into(),
        format!("{variant}.json"),
    ]);
    if signed {
        args.extend(["--signature".into(), format!("{variant}.sig")]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

pub fn variant_served(addr: SocketAddr) -> Option<String> {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"anonymous_id": "v"}, "consent": {"personalization": true},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    (reply.status == 200).then(|| {
        reply.body["slots"][0]["variant"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

pub fn wait_for_variant(addr: SocketAddr, variant: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while variant_served(addr).as_deref() != Some(variant) {
        assert!(
            Instant::now() < deadline,
            "{variant} never served (now {:?})",
            variant_served(addr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most 60 s) until the node at `addr` lists a refused publish of `policy` whose
/// detail contains `needle`; on failure, the node's last answer.
pub fn wait_for_refusal(addr: SocketAddr, policy: &str, needle: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let detail = admin(
            addr,
            "GET",
            &format!("/admin/v1/policies/{policy}"),
            Some(ADMIN),
            b"",
        );
        let refused = detail.body["refused"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refused
            .iter()
            .any(|r| r["detail"].as_str().unwrap_or_default().contains(needle))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no refused publish mentioning {needle:?}: {}",
                detail.body
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
