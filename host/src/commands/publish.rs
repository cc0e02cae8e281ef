//! `tailor publish`: send a policy version (component, config, signature, fixtures) to a node's
//! admin API as `PUT /admin/v1/policies/{name}`.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use hyper::Method;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::http_client::HttpClient;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Base URL of the node's admin API (plain http).
    #[arg(long, env = "TAILOR_NODE", default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// Admin bearer token of the node.
    #[arg(long, env = "TAILOR_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Name of the policy to publish (letters, digits, `-`, `_`, `.`).
    #[arg(long, value_parser = parse_name)]
    pub name: String,
    /// The policy component (`.wasm`); absent keeps the node's current component.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// The policy's config JSON file, sent byte for byte.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Signature file written by `tailor sign`.
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// Fixture case folders the node runs against the version before accepting it.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Serve the new version to this share of traffic first (strictly between 0 and 100).
    #[arg(long, value_parser = parse_percent)]
    pub canary_percent: Option<f64>,
    /// The policy's weight in the decision scheduler from now on.
    #[arg(long)]
    pub share_weight: Option<u32>,
    /// Decisions of the policy that may run at once from now on.
    #[arg(long)]
    pub share_max_concurrent: Option<u32>,
    /// CPU milliseconds per second the policy's decisions may use from now on (0: no cap).
    #[arg(long)]
    pub share_cpu_ms_per_second: Option<u64>,
}

pub fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let body = serde_json::to_vec(&build_body(&args)?)?;
    let url = format!(
        "{}/admin/v1/policies/{}",
        args.node.trim_end_matches('/'),
        args.name
    );
    let authorization = format!("Bearer {}", args.token);
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let response = runtime
        .block_on(HttpClient::default().request(Method::PUT, &url, &headers, body))
        .with_context(|| format!("publishing to node {}", args.node))?;

    if response.status.is_success() {
        let text = match response.json::<Value>() {
            Ok(json) => serde_json::to_string_pretty(&json)?,
            Err(_) => response.text(),
        };
        writeln!(std::io::stdout().lock(), "{text}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let detail = match response.json::<Value>().ok().and_then(refusal) {
        Some(detail) => detail,
        None => response.text(),
    };
    let status = response.status;
    writeln!(
        std::io::stderr().lock(),
        "publish refused ({status}): {detail}"
    )?;
    Ok(ExitCode::from(1))
}

/// `code: message (field f)` from the node's `{"error": {...}}` body.
fn refusal(body: Value) -> Option<String> {
    let error = body.get("error")?;
    let code = error.get("code")?.as_str()?;
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    Some(match error.get("field").and_then(Value::as_str) {
        Some(field) => format!("{code}: {message} (field {field})"),
        None => format!("{code}: {message}"),
    })
}

/// The request body; fields the user did not give are left out.
fn build_body(args: &PublishArgs) -> anyhow::Result<Value> {
    if args.component.is_none() && args.config.is_none() {
        bail!(
            "nothing to publish: give --component, --config or both \
             (a config-only publish keeps the node's current component)"
        );
    }
    let mut body = Map::new();
    if let Some(path) = &args.component {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading component {}", path.display()))?;
        body.insert("component".into(), STANDARD.encode(bytes).into());
    }
    if let Some(path) = &args.config {
        let text = read_text(path)?;
        serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        body.insert("config".into(), text.into());
    }
    if let Some(path) = &args.signature {
        body.insert("signature".into(), read_text(path)?.trim().into());
    }
    if let Some(dir) = &args.fixtures {
        body.insert("fixtures".into(), fixtures(dir)?.into());
    }
    if let Some(percent) = args.canary_percent {
        body.insert("canary_percent".into(), percent.into());
    }
    let mut share = Map::new();
    for (key, value) in [
        ("weight", args.share_weight.map(u64::from)),
        ("max_concurrent", args.share_max_concurrent.map(u64::from)),
        ("cpu_ms_per_second", args.share_cpu_ms_per_second),
    ] {
        if let Some(value) = value {
            share.insert(key.into(), value.into());
        }
    }
    if !share.is_empty() {
        body.insert("share".into(), Value::Object(share));
    }
    Ok(Value::Object(body))
}

/// One object per case folder, the files sent as JSON as they are written.
fn fixtures(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let cases = tailor_types::fixture::load_cases(dir).context("invalid fixture case")?;
    if cases.is_empty() {
        bail!("no fixture case folders in {}", dir.display());
    }
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let folder = dir.join(&case.name);
        let mut object = Map::new();
        object.insert("name".into(), case.name.into());
        for file in ["context", "profile", "candidates", "config", "expected"] {
            let path = folder.join(format!("{file}.json"));
            if !path.exists() {
                continue; // load_cases has checked that the required ones exist
            }
            let value: Value = serde_json::from_str(&read_text(&path)?)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            object.insert(file.into(), value);
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn parse_name(name: &str) -> Result<String, String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(valid) {
        return Err("a policy name is letters, digits, `-`, `_` and `.`".into());
    }
    Ok(name.to_owned())
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(p),
        _ => Err("a percentage strictly between 0 and 100".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_component_config_signature_and_fixtures() {
        let dir = std::env::temp_dir().join(format!("tailor-publish-test-{}", std::process::id()));
        let case = dir.join("fixtures/anonymous-visitor");
        std::fs::create_dir_all(&case).unwrap();
        let wasm = b"\0asm\x01\0\0\0\xff\xfe";
        std::fs::write(dir.join("policy.wasm"), wasm).unwrap();
        let config = "{ \"weights\" :  [1.0, 2.50],\n  \"b\": 1 }\n";
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(dir.join("policy.sig"), "  sig-text\n").unwrap();
        let context = r#"{"channel": "web", "slot": "hero", "now_ms": 1}"#;
        std::fs::write(case.join("context.json"), context).unwrap();
        let expected = r#"{"error": {"code": "no_candidates"}}"#;
        std::fs::write(case.join("expected.json"), expected).unwrap();

        let args = PublishArgs {
            node: "http://127.0.0.1:1".into(),
            token: "t".into(),
            name: "hero".into(),
            component: Some(dir.join("policy.wasm")),
            config: Some(dir.join("config.json")),
            signature: Some(dir.join("policy.sig")),
            fixtures: Some(dir.join("fixtures")),
            canary_percent: Some(10.0),
            share_weight: Some(2),
            share_max_concurrent: None,
            share_cpu_ms_per_second: Some(300),
        };
        let body = build_body(&args);
        std::fs::remove_dir_all(&dir).unwrap();
        let body = body.unwrap();

        let component = body["component"].as_str().unwrap();
        assert_eq!(STANDARD.decode(component).unwrap(), wasm);
        assert_eq!(body["config"].as_str().unwrap(), config);
        assert_eq!(body["signature"], "sig-text");
        assert_eq!(body["canary_percent"], 10.0);
        assert_eq!(
            body["share"],
            serde_json::json!({"weight": 2, "cpu_ms_per_second": 300})
        );
        let cases = body["fixtures"].as_array().unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0]["name"], "anonymous-visitor");
        assert_eq!(cases[0]["context"]["slot"], "hero");
        assert_eq!(cases[0]["expected"]["error"]["code"], "no_candidates");
        assert!(cases[0].get("profile").is_none() && cases[0].get("config").is_none());
    }

    #[test]
    fn needs_a_component_or_a_config() {
        let args = PublishArgs {
            node: "http://127.0.0.1:1".into(),
            token: "t".into(),
            name: "hero".into(),
            component: None,
            config: None,
            signature: None,
            fixtures: None,
            canary_percent: Some(5.0),
            share_weight: None,
            share_max_concurrent: None,
            share_cpu_ms_per_second: None,
        };
        let error = build_body(&args).unwrap_err().to_string();
        assert!(error.contains("--component, --config"), "{error}");
        assert!(parse_percent("100").is_err() && parse_percent("0").is_err());
        assert!(parse_name("a/b").is_err() && parse_name("hero-banner").is_ok());
    }
}
