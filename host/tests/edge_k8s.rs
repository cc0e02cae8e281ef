//! The Kubernetes manifests in `edge-deploy/k8s/`: schema-valid (kubernetes-validate from
//! PyPI, strict), and the `edge.toml` their ConfigMap carries is a config tailor accepts, with
//! every path on a mounted volume.
//!
//! Needs `python3` with PyPI access. A missing tool fails the test; it never skips.
mod common;

use common::python::Python;
use common::{Scratch, describe, edge_deploy, run};
use std::path::{Path, PathBuf};
use std::process::Command;
use tailor_host::config::ServeConfig;

/// The text of a YAML block scalar (`key: |`) in `yaml`, without its indentation.
fn block_scalar(yaml: &str, key: &str) -> Option<String> {
    let mut lines = yaml.lines();
    let opening = lines.find(|line| line.trim_start() == format!("{key}: |"))?;
    let key_indent = opening.len() - opening.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|line| {
            line.trim().is_empty() || line.len() - line.trim_start().len() > key_indent
        })
        .collect();
    let indent = body
        .iter()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())?;
    let text: Vec<&str> = body
        .iter()
        .map(|line| line.get(indent..).unwrap_or(""))
        .collect();
    Some(text.join("\n").trim_end().to_owned() + "\n")
}

/// `kubernetes-validate` from PyPI.
fn kubernetes_validate(scratch: &Path) -> Command {
    Python::install(scratch, &["kubernetes-validate==1.37.0"]).script("kubernetes-validate")
}

#[test]
fn kubernetes_manifests_are_valid_and_carry_a_config_tailor_accepts() {
    let k8s = edge_deploy().join("k8s");
    let read = |name: &str| std::fs::read_to_string(k8s.join(name)).unwrap();
    let daemonset = read("daemonset.yaml");

    // The ConfigMap's edge.toml is a `tailor serve` config: known keys, valid values.
    let edge_toml = block_scalar(&read("configmap.yaml"), "edge.toml")
        .unwrap_or_else(|| panic!("configmap.yaml has no `edge.toml: |` block"));
    let config = ServeConfig::from_toml(&edge_toml)
        .unwrap_or_else(|e| panic!("edge.toml in configmap.yaml is refused by tailor: {e}"));
    let unknown = ServeConfig::from_toml(&format!("{edge_toml}listen_address = \"x\"\n"));
    assert!(unknown.is_err(), "an unknown key would go unnoticed");
    assert!(config.signatures_required() && !config.seed_bundled);
    assert!(
        daemonset.contains(&format!("containerPort: {}", config.listen.port())),
        "the container port is not the port edge.toml listens on"
    );
    assert!(daemonset.contains("--config") && daemonset.contains("/etc/tailor/edge.toml"));
    // The node joins the fleet's hub; its credential is never in the ConfigMap but comes from
    // a Secret through the environment.
    assert!(config.fleet().is_some(), "edge.toml names no events_broker");
    assert!(
        config.events_token.is_none()
            && config.events_password.is_none()
            && config.events_credentials_file.is_none(),
        "a broker credential is in the ConfigMap"
    );
    let token_env: Vec<&str> = daemonset
        .lines()
        .skip_while(|line| line.trim() != "- name: TAILOR_EVENTS_TOKEN")
        .take(3)
        .map(str::trim)
        .collect();
    assert_eq!(
        token_env,
        ["- name: TAILOR_EVENTS_TOKEN", "valueFrom:", "secretKeyRef:"],
        "the DaemonSet does not give TAILOR_EVENTS_TOKEN from a Secret"
    );
    // Every path tailor is configured with lies on a volume the DaemonSet mounts.
    let mounts: Vec<&str> = daemonset
        .lines()
        .filter_map(|line| line.trim().strip_prefix("mountPath: "))
        .collect();
    let paths = [
        Some(config.data_dir.clone()),
        config.snapshot.clone(),
        config.policies_dir.clone(),
    ]
    .into_iter()
    .flatten()
    .chain(config.trusted_keys.iter().cloned());
    for path in paths {
        assert!(
            mounts.iter().any(|mount| path.starts_with(mount)),
            "{} is on no volume of daemonset.yaml (mounts: {mounts:?})",
            path.display()
        );
    }

    // The manifests against the Kubernetes API schema, unknown fields refused.
    let scratch = Scratch::new("k8s");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&k8s)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 3, "{manifests:?}");
    let checked = run(kubernetes_validate(&scratch.0)
        .args(["--strict", "--kubernetes-version", "1.29.0"])
        .args(&manifests));
    assert!(
        checked.status.success(),
        "kubernetes-validate refuses the manifests: {}",
        describe(&checked)
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for manifest in &manifests {
        let name = manifest.file_name().unwrap().to_string_lossy();
        assert!(
            report.contains(&format!("{name} passed")),
            "{name} was not validated: {report}"
        );
    }
}
