//! A real OCI registry (Debian's `docker-registry`, the CNCF distribution registry) on a
//! loopback address of the test's own, and hero-banner versions signed and pushed to it.

use super::packages;
use super::process::Process;
use super::{ADMIN, admin, decide, run_tailor as tailor};
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
    let dir = std::env::temp_dir().join(format!("tailor-registry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}:{REGISTRY_PORT}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let binary = packages::require(packages::DOCKER_REGISTRY);
    let process = Process::spawn(
        "docker-registry",
        Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null()),
    );
    let mut registry = Registry {
        process,
        url: format!("http://{host}:{REGISTRY_PORT}"),
        dir,
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
    let wasm = format!("{variant}.wasm");
    let json = format!("{variant}.json");
    let sig = format!("{variant}.sig");
    let mut args = vec!["push", reference, "--component", &wasm, "--config", &json];
    if signed {
        args.extend(["--signature", &sig]);
    }
    args.extend_from_slice(extra);
    tailor(dir, &args);
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
