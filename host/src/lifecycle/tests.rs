//! Changes and their readers: a reader never waits for a publish in its slow part, and changes
//! that land during one apply in commit order, checked against the state then current.

use super::*;
use crate::engine::EngineConfig;
use crate::engine::Limits;
use std::sync::mpsc;
use std::time::Duration;

type HookFn = Arc<dyn Fn(&str) + Send + Sync>;

/// What a test runs when a publish has done its slow part.
#[derive(Default)]
pub(super) struct Hook(Mutex<Option<HookFn>>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Hook {
    pub(super) fn call(&self, name: &str) {
        let hook = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(name);
        }
    }

    fn set(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
    }
}

/// How long a test waits for what must happen: running out is a failure, not a measurement.
const PATIENCE: Duration = Duration::from_secs(120);

fn start(tag: &str) -> (Arc<Lifecycle>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tailor-lifecycle-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 4,
        default_limits: Limits::default(),
        ..EngineConfig::default()
    })
    .unwrap();
    let metrics = Arc::new(Metrics::default());
    let lifecycle = Lifecycle::start(
        engine,
        Arc::new(Registry::new(metrics.clone())),
        metrics,
        LifecycleConfig {
            store_dir: dir.clone(),
            trusted_keys: TrustedKeys::default(),
            require_signatures: false,
            keep_versions: 5,
            auto_rollback: AutoRollback::default(),
            seed_bundled: false,
            default_share: crate::config::ServeConfig::default().default_share(),
            decision_threads: 2,
            config_signing_key: None,
        },
    )
    .unwrap();
    (Arc::new(lifecycle), dir)
}

fn component(name: &str) -> Vec<u8> {
    crate::bundled::find(name).unwrap().component.to_vec()
}

/// The hero-banner config with another TTL: a distinct version of the same component.
fn config(ttl: u64) -> String {
    let hero = crate::bundled::find("hero-banner").unwrap();
    let mut config: serde_json::Value = serde_json::from_str(hero.config.unwrap()).unwrap();
    config["ttl_seconds"] = serde_json::json!(ttl);
    config.to_string()
}

fn config_only(ttl: u64) -> PublishRequest {
    PublishRequest {
        config: Some(config(ttl)),
        ..PublishRequest::default()
    }
}

fn active(lifecycle: &Lifecycle) -> String {
    lifecycle.record("hero-banner").unwrap().active.digest
}

/// Holds the first publish that finishes its slow part until released, and says when it is
/// there. Later publishes pass.
fn hold_first_publish(lifecycle: &Lifecycle) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (inside_tx, inside_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(Some(release_rx));
    lifecycle.prepared_hook.set(move |_| {
        let first = release_rx.lock().unwrap().take();
        if let Some(release) = first {
            let _ = inside_tx.send(());
            let _ = release.recv_timeout(PATIENCE);
        }
    });
    (inside_rx, release_tx)
}

/// Runs `work` on another thread; its result, if it finishes within [`PATIENCE`].
fn on_thread<T: Send + 'static>(
    lifecycle: &Arc<Lifecycle>,
    work: impl FnOnce(&Lifecycle) -> T + Send + 'static,
) -> (mpsc::Receiver<T>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let lifecycle = lifecycle.clone();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(work(&lifecycle));
    });
    (rx, thread)
}

#[test]
fn readers_do_not_wait_for_a_publish_in_its_slow_part() {
    let (lifecycle, dir) = start("readers");
    let first = PublishRequest {
        component: Some(component("hero-banner")),
        config: Some(config(60)),
        ..PublishRequest::default()
    };
    let before = lifecycle.publish("hero-banner", first).unwrap().digest;
    let (inside, release) = hold_first_publish(&lifecycle);
    let (published, publisher) =
        on_thread(&lifecycle, |l| l.publish("hero-banner", config_only(61)));
    inside
        .recv_timeout(PATIENCE)
        .expect("the publish reaches the end of its slow part");
    // The publisher is inside its slow part until released: readers answer meanwhile.
    let (read, reader) = on_thread(&lifecycle, |l| {
        let record = l.record("hero-banner").map(|r| r.active.digest);
        let state = l.state();
        let refused = l.refusals("hero-banner").len();
        (record, state.generation, refused)
    });
    let read = read.recv_timeout(PATIENCE);
    release.send(()).unwrap();
    let published = published.recv_timeout(PATIENCE).unwrap().unwrap();
    publisher.join().unwrap();
    reader.join().unwrap();
    let (record, generation, refused) =
        read.expect("a reader answers while a publish is in its slow part");
    // It saw the committed state, not the one being prepared.
    assert_eq!(record.as_deref(), Some(before.as_str()));
    assert_eq!(refused, 0);
    assert_eq!(lifecycle.state().generation, generation + 1);
    assert_eq!(active(&lifecycle), published.digest);
    assert_eq!(
        lifecycle
            .registry()
            .entry("hero-banner")
            .unwrap()
            .active
            .digest,
        published.digest
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_config_change_prepared_on_a_replaced_version_builds_on_the_new_one() {
    let (lifecycle, dir) = start("rebase");
    let first = PublishRequest {
        component: Some(component("hero-banner")),
        config: Some(config(60)),
        ..PublishRequest::default()
    };
    lifecycle.publish("hero-banner", first).unwrap();
    let (inside, release) = hold_first_publish(&lifecycle);
    let (late, late_thread) = on_thread(&lifecycle, |l| l.publish("hero-banner", config_only(62)));
    inside.recv_timeout(PATIENCE).unwrap();
    // Another component is published and committed while the config change is held: changes
    // do not wait for another's slow part either.
    let other = component("kiosk-greeting");
    let replacing = PublishRequest {
        component: Some(other.clone()),
        config: Some(config(61)),
        ..PublishRequest::default()
    };
    let (early, early_thread) = on_thread(&lifecycle, |l| l.publish("hero-banner", replacing));
    let early = early.recv_timeout(PATIENCE);
    release.send(()).unwrap();
    let late = late.recv_timeout(PATIENCE).unwrap().unwrap();
    late_thread.join().unwrap();
    early_thread.join().unwrap();
    let early = early
        .expect("a publish commits while another is in its slow part")
        .unwrap();
    // The config change committed second, on the component then active.
    let expected = crate::registry::digest(&other, Some(&config(62)));
    assert_eq!(late.digest, expected);
    assert_eq!(late.previous.as_deref(), Some(early.digest.as_str()));
    let record = lifecycle.record("hero-banner").unwrap();
    assert_eq!(record.active.digest, expected);
    assert_eq!(record.previous[0].digest, early.digest);
    assert_eq!(
        lifecycle
            .registry()
            .entry("hero-banner")
            .unwrap()
            .active
            .digest,
        expected
    );
    // What is served is what is committed: a restart serves the same.
    let committed = lifecycle.store.load_state().unwrap();
    assert_eq!(committed, *lifecycle.state());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_canary_started_during_a_publish_refuses_it() {
    let (lifecycle, dir) = start("canary");
    let first = PublishRequest {
        component: Some(component("hero-banner")),
        config: Some(config(60)),
        ..PublishRequest::default()
    };
    let before = lifecycle.publish("hero-banner", first).unwrap().digest;
    let (inside, release) = hold_first_publish(&lifecycle);
    let (held, held_thread) = on_thread(&lifecycle, |l| l.publish("hero-banner", config_only(61)));
    inside.recv_timeout(PATIENCE).unwrap();
    let canary = PublishRequest {
        canary_percent: Some(10.0),
        ..config_only(62)
    };
    let (started, canary_thread) = on_thread(&lifecycle, |l| l.publish("hero-banner", canary));
    let started = started.recv_timeout(PATIENCE);
    release.send(()).unwrap();
    let held = held.recv_timeout(PATIENCE).unwrap();
    held_thread.join().unwrap();
    canary_thread.join().unwrap();
    let canary = started.expect("a canary starts while another publish is in its slow part");
    assert_eq!(canary.unwrap().status, "canary");
    // Checked under the change lock against the state then current: a canary runs.
    assert!(
        matches!(held, Err(PublishError::CanaryInProgress { .. })),
        "{held:?}"
    );
    assert_eq!(active(&lifecycle), before);
    assert_eq!(lifecycle.refusals("hero-banner").len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_automatic_rollback_takes_out_only_the_version_it_judged() {
    use super::rollback::Trigger::Automatic;
    let (lifecycle, dir) = start("judged");
    let first = PublishRequest {
        component: Some(component("hero-banner")),
        config: Some(config(60)),
        ..PublishRequest::default()
    };
    lifecycle.publish("hero-banner", first).unwrap();
    let judged = lifecycle
        .publish("hero-banner", config_only(61))
        .unwrap()
        .digest;
    let newer = lifecycle
        .publish("hero-banner", config_only(62))
        .unwrap()
        .digest;
    // The monitor judged a version that another publish has replaced since: nothing happens.
    let none = lifecycle.rollback_version("hero-banner", &judged, Automatic, None);
    assert!(none.unwrap().is_none());
    assert_eq!(active(&lifecycle), newer);
    let done = lifecycle
        .rollback_version("hero-banner", &newer, Automatic, None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.active.as_str(), done.removed.as_str()),
        (judged.as_str(), newer.as_str())
    );
    // The same for canaries.
    let canary = PublishRequest {
        canary_percent: Some(5.0),
        ..config_only(63)
    };
    let canary = lifecycle.publish("hero-banner", canary).unwrap().digest;
    let none = lifecycle.abort_canary_version("hero-banner", &newer, Automatic, None);
    assert!(none.unwrap().is_none());
    let aborted = lifecycle
        .abort_canary_version("hero-banner", &canary, Automatic, None)
        .unwrap()
        .unwrap();
    assert_eq!((aborted.canary, aborted.removed), (None, canary));
    assert_eq!(active(&lifecycle), judged);
    let _ = std::fs::remove_dir_all(dir);
}

/// The short digests `tailor_decisions_total` has series for.
fn versions_with_series(lifecycle: &Lifecycle) -> std::collections::BTreeSet<String> {
    lifecycle
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("tailor_decisions_total{"))
        .filter_map(|l| {
            l.split_once("version=\"")?
                .1
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn ten_published_config_versions_leave_series_only_for_the_versions_serving() {
    use super::rollback::Trigger::{Automatic, Manual};
    let (lifecycle, dir) = start("series");
    let first = PublishRequest {
        component: Some(component("hero-banner")),
        config: Some(config(60)),
        ..PublishRequest::default()
    };
    lifecycle.publish("hero-banner", first).unwrap();
    for ttl in 61..70 {
        lifecycle.publish("hero-banner", config_only(ttl)).unwrap();
    }
    let short = |digest: &str| digest[7..19].to_owned();
    let serving = |digests: &[&str]| digests.iter().map(|d| short(d)).collect();
    let tenth = active(&lifecycle);
    assert_eq!(versions_with_series(&lifecycle), serving(&[&tenth]));

    let canary = PublishRequest {
        canary_percent: Some(10.0),
        ..config_only(70)
    };
    let canary = lifecycle.publish("hero-banner", canary).unwrap().digest;
    assert_eq!(
        versions_with_series(&lifecycle),
        serving(&[&tenth, &canary])
    );
    lifecycle
        .abort_canary("hero-banner", Automatic, None, None)
        .unwrap();
    assert_eq!(versions_with_series(&lifecycle), serving(&[&tenth]));

    let back = lifecycle
        .rollback("hero-banner", Manual, None, None)
        .unwrap();
    assert_ne!(back.active, tenth);
    assert_eq!(versions_with_series(&lifecycle), serving(&[&back.active]));
    let _ = std::fs::remove_dir_all(dir);
}
