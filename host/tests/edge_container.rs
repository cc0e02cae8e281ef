//! The container image's recipe (`edge-deploy/container/`) agrees with what runs it: the tag
//! `build.sh` gives is the image the DaemonSet names, the port and data directory are the
//! ones the DaemonSet's config uses, it runs as the DaemonSet's non-root user, and the builder
//! is the pinned toolchain. (Building the image needs a container registry for the base
//! images; see edge-deploy/README.md.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{describe, edge_deploy, run};
use std::process::Command;
use tailor_host::config::ServeConfig;

/// The values of a Dockerfile instruction (`EXPOSE`, `USER` …), one per line it is on.
fn instruction<'a>(dockerfile: &'a str, name: &str) -> Vec<&'a str> {
    dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(str::trim)
        .collect()
}

#[test]
fn the_image_recipe_matches_the_daemonset_that_runs_it() {
    let dir = edge_deploy();
    let read = |path: &str| std::fs::read_to_string(dir.join(path)).unwrap();
    let dockerfile = read("container/Dockerfile");
    let daemonset = read("k8s/daemonset.yaml");
    let configmap = read("k8s/configmap.yaml");

    let image = format!("localhost/tailor:{}", env!("CARGO_PKG_VERSION"));
    assert!(
        daemonset.contains(&format!("image: {image}\n")),
        "the DaemonSet does not run {image}, the tag build.sh gives"
    );
    let script = read("container/build.sh");
    assert!(script.contains("image=${TAILOR_IMAGE:-localhost/tailor:$version}"));
    let checked = run(Command::new("sh")
        .arg("-n")
        .arg(dir.join("container/build.sh")));
    assert!(checked.status.success(), "{}", describe(&checked));

    // What the container serves on and keeps its data in: the config the DaemonSet gives it.
    let edge_toml = configmap
        .split("edge.toml: |")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|line| line.trim().is_empty() || line.starts_with("    "))
        .map(|line| line.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let config = ServeConfig::from_toml(&edge_toml).unwrap();
    assert_eq!(
        instruction(&dockerfile, "EXPOSE"),
        [config.listen.port().to_string()]
    );
    let data_dir = config.data_dir.to_str().unwrap();
    assert_eq!(
        instruction(&dockerfile, "VOLUME"),
        [format!("[\"{data_dir}\"]")]
    );
    assert!(dockerfile.contains(&format!("TAILOR_DATA_DIR={data_dir}")));
    assert!(daemonset.contains(&format!("mountPath: {data_dir}")));

    // Non-root, the DaemonSet's user.
    assert_eq!(instruction(&dockerfile, "USER"), ["10001:10001"]);
    assert!(daemonset.contains("runAsUser: 10001") && daemonset.contains("runAsNonRoot: true"));

    // The builder is the toolchain rust-toolchain.toml pins, with the wasm target.
    let toolchain = std::fs::read_to_string(dir.join("../rust-toolchain.toml")).unwrap();
    let channel = toolchain
        .lines()
        .find_map(|line| line.strip_prefix("channel = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("RUSTUP_TOOLCHAIN={channel}")),
        "the builder does not use {channel}"
    );
    let minor = channel.rsplit_once('.').unwrap().0;
    assert!(dockerfile.contains(&format!("docker.io/library/rust:{minor}-")));
    assert!(dockerfile.contains("rustup target add wasm32-wasip2"));
    assert_eq!(
        instruction(&dockerfile, "ENTRYPOINT"),
        ["[\"/usr/local/bin/tailor\", \"serve\"]"]
    );
}
