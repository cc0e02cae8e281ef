//! Entry points for fuzzing every parser of outside bytes: the `fuzz/` targets call these, and
//! `tests/fuzz_regressions.rs` replays every input that ever crashed one (plus seeds) through
//! them in the normal test run. Each takes arbitrary bytes and must return, never panic.

use crate::config::ServeConfig;
use crate::engine::PolicySource;
use crate::lifecycle::signing::{PublicKey, SecretKey, TrustedKeys};
use crate::server::AppState;
use std::sync::Arc;

/// A node to throw bytes at: the bundled policies, a small sample snapshot, a data directory
/// of its own (removed on drop).
#[derive(Debug)]
pub struct Harness {
    state: Arc<AppState>,
    keys: TrustedKeys,
    dir: std::path::PathBuf,
    /// Awaits decisions (they run on the node's decision threads).
    runtime: tokio::runtime::Runtime,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which parser an input is for (the fuzz targets and the regression folders use these names).
pub const TARGETS: [&str; 7] = [
    "decide_body",
    "event_body",
    "publish_body",
    "snapshot_lines",
    "config_toml",
    "signature",
    "reference",
];

impl Harness {
    /// # Panics
    ///
    /// When the node cannot start (a fuzzing set-up error, not a finding).
    #[expect(
        clippy::expect_used,
        reason = "a harness that cannot start has nothing to fuzz"
    )]
    pub fn new() -> Harness {
        let dir = std::env::temp_dir().join(format!("tailor-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = ServeConfig {
            data_dir: dir.clone(),
            sample_profiles: 200,
            snapshot_poll_seconds: 0,
            decision_log_rate: 0.0,
            ..ServeConfig::default()
        };
        let state = Arc::new(AppState::start(config).expect("fuzz node"));
        let secret =
            SecretKey::parse("ed25519-secret:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")
                .expect("fixed fuzz key");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("fuzz runtime");
        Harness {
            runtime,
            state,
            keys: TrustedKeys::from_keys(vec![secret.public()]),
            dir,
        }
    }

    /// Feeds `input` to the named target; unknown names do nothing.
    pub fn run(&self, target: &str, input: &[u8]) {
        match target {
            "decide_body" => self.decide_body(input),
            "event_body" => self.event_body(input),
            "publish_body" => self.publish_body(input),
            "snapshot_lines" => snapshot_lines(input),
            "config_toml" => config_toml(input),
            "signature" => self.signature(input),
            "reference" => reference(input),
            _ => {}
        }
    }

    /// A decide request through validation, profile lookup and every slot's policy.
    pub fn decide_body(&self, input: &[u8]) {
        let _ = self
            .runtime
            .block_on(crate::server::decide::decide(&self.state, input));
    }

    /// An event batch parsed, validated and applied (durably, as a 202 would).
    pub fn event_body(&self, input: &[u8]) {
        if let Ok(events) = crate::server::events::parse_batch(input) {
            let _ = self.state.profiles.ingest(&events);
        }
    }

    /// A publish body parsed, its signature checked, its component validated and compiled.
    pub fn publish_body(&self, input: &[u8]) {
        let Ok(request) = crate::server::policies::parse_publish(input) else {
            return;
        };
        if let Some(component) = &request.component {
            let digest = crate::registry::digest(component, request.config.as_deref());
            let _ = self.keys.verify(&digest, request.signature.as_deref());
            let _ = self.state.engine.load(PolicySource {
                name: "fuzz",
                component,
                config: request.config.as_deref(),
                limits: None,
            });
        }
    }

    /// Signature and key texts.
    pub fn signature(&self, input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        let _ = self
            .keys
            .verify(&crate::registry::digest(b"", None), Some(&text));
        let _ = PublicKey::parse(&text);
        let _ = SecretKey::parse(&text);
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// Snapshot lines: the first as the header, the rest as profiles.
pub fn snapshot_lines(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let path = std::path::Path::new("fuzz.ndjson");
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            let _ = crate::profiles::parse_snapshot_line::<crate::profiles::SnapshotHeader>(
                path, 1, line,
            );
        } else {
            let _ =
                crate::profiles::parse_snapshot_line::<tailor_types::Profile>(path, i + 1, line);
        }
    }
}

/// A `tailor serve` TOML config, parsed and resolved.
pub fn config_toml(input: &[u8]) {
    let _ = ServeConfig::from_toml(&String::from_utf8_lossy(input));
}

/// Registry references and `--follow` values.
pub fn reference(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let _ = crate::distribution::Reference::parse(&text);
    let _ = crate::distribution::Follow::parse(&text);
}
