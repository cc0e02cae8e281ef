//! A watched policies directory, for kiosks and offline devices: a sync tool drops
//! `<name>.wasm`, optionally `<name>.config.json` and `<name>.sig`, and the policy is published
//! through the same validation, signature check and swap as an upload, with no restart.
//!
//! A file set is taken once it has stopped changing for one poll (a sync tool may still be
//! writing it); a set that was refused is not retried until one of its files changes.

use super::{Lifecycle, PublishRequest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Size and modification time of each file of a set: how a change is noticed.
type Fingerprint = Vec<(u64, Option<SystemTime>)>;

/// Polls `dir` every `every` until the task is dropped.
pub async fn watch(lifecycle: Arc<Lifecycle>, dir: PathBuf, every: Duration) {
    let mut seen: HashMap<String, Fingerprint> = HashMap::new();
    let mut handled: HashMap<String, Fingerprint> = HashMap::new();
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let scan_dir = dir.clone();
        let Ok(sets) = tokio::task::spawn_blocking(move || scan(&scan_dir)).await else {
            continue;
        };
        for (name, fingerprint) in sets {
            let stable = seen.get(&name) == Some(&fingerprint);
            seen.insert(name.clone(), fingerprint.clone());
            if !stable || handled.get(&name) == Some(&fingerprint) {
                continue;
            }
            handled.insert(name.clone(), fingerprint);
            let worker = lifecycle.clone();
            let base = dir.join(&name);
            let published = tokio::task::spawn_blocking(move || {
                let request = read_set(&base)?;
                worker
                    .publish(&name, request)
                    .map_err(|e| e.to_string())
                    .map(|o| (name, o))
            })
            .await;
            match published {
                Ok(Ok((name, outcome))) if !outcome.unchanged => tracing::info!(
                    policy = %name, digest = %outcome.digest, "published from the policies directory"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, dir = %dir.display(), "policies directory: publish refused")
                }
                Err(error) => tracing::error!(%error, "policies directory: publish aborted"),
            }
        }
    }
}

/// Every `<name>.wasm` in `dir` with the fingerprint of its file set.
fn scan(dir: &Path) -> Vec<(String, Fingerprint)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sets = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name.strip_suffix(".wasm") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let base = dir.join(name);
        let fingerprint = files(&base)
            .iter()
            .map(|path| match std::fs::metadata(path) {
                Ok(meta) => (meta.len(), meta.modified().ok()),
                Err(_) => (u64::MAX, None),
            })
            .collect();
        sets.push((name.to_owned(), fingerprint));
    }
    sets.sort();
    sets
}

fn files(base: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut path = base.as_os_str().to_owned();
        path.push(suffix);
        PathBuf::from(path)
    };
    [with(".wasm"), with(".config.json"), with(".sig")]
}

/// Reads a file set into a publish request.
fn read_set(base: &Path) -> Result<PublishRequest, String> {
    let [wasm, config, sig] = files(base);
    let optional = |path: &Path| match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    };
    Ok(PublishRequest {
        component: Some(std::fs::read(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?),
        config: optional(&config)?,
        signature: optional(&sig)?.map(|s| s.trim().to_owned()),
        automated: true,
        ..PublishRequest::default()
    })
}
