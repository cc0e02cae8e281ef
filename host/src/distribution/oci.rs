//! Pushing and pulling artifacts with the OCI distribution API, in the CNCF Wasm OCI artifact
//! layout: a manifest whose config has media type `application/vnd.wasm.config.v0+json` and
//! whose one layer is the component (`application/wasm`). The policy's config document and
//! signature travel as manifest annotations, so any registry and any Wasm-aware tool accepts
//! the artifact unchanged. Profile snapshots use the same manifest with tailor media types.
//! Artifacts are deterministic (no timestamps): pushing the same version twice, to any tag,
//! gives the same manifest digest.

use super::{DistributionError, Reference};
use crate::digest::sha256;
use crate::http_client::HttpClient;
use hyper::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
pub const SNAPSHOT_CONFIG_MEDIA_TYPE: &str = "application/vnd.tailor.snapshot.config.v1+json";
pub const SNAPSHOT_LAYER_MEDIA_TYPE: &str = "application/vnd.tailor.snapshot.v1.ndjson";

/// Annotation holding the policy's config document, exactly as signed.
pub const CONFIG_ANNOTATION: &str = "dev.tailor.policy.config";
/// Annotation holding the signature text (`tailor sign`).
pub const SIGNATURE_ANNOTATION: &str = "dev.tailor.policy.signature";
/// Annotation holding the policy digest (component + config), for people and tools.
pub const DIGEST_ANNOTATION: &str = "dev.tailor.policy.digest";

type Result<T> = std::result::Result<T, DistributionError>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// A policy version as it travels through a registry.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyArtifact {
    pub component: Vec<u8>,
    pub config: Option<String>,
    pub signature: Option<String>,
}

/// The contract version a component was built against, for the artifact's config: a 0.2.0
/// component names 0.2.0 interfaces among its imports (their names are plain strings in the
/// binary). Only descriptive: what a node runs is decided by loading the component.
fn contract_version(component: &[u8]) -> &'static str {
    const V0_2: [&[u8]; 3] = [
        b"tailor:policy/types@0.2.0",
        b"tailor:policy/host@0.2.0",
        b"tailor:policy/customer@0.2.0",
    ];
    let names = |needle: &[u8]| component.windows(needle.len()).any(|w| w == needle);
    if V0_2.iter().any(|needle| names(needle)) {
        "0.2.0"
    } else {
        "0.1.0"
    }
}

/// Pushes a policy version; returns the manifest digest.
pub async fn push_policy(
    client: &HttpClient,
    to: &Reference,
    artifact: &PolicyArtifact,
) -> Result<String> {
    let digest = crate::registry::digest(&artifact.component, artifact.config.as_deref());
    let contract = contract_version(&artifact.component);
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [sha256(&artifact.component)],
        "component": {
            "exports": [format!("tailor:policy/types@{contract}")],
            "target": format!("tailor:policy/policy@{contract}"),
        },
    })
    .to_string();
    let mut annotations = BTreeMap::new();
    annotations.insert(DIGEST_ANNOTATION.to_owned(), digest);
    if let Some(config) = &artifact.config {
        annotations.insert(CONFIG_ANNOTATION.to_owned(), config.clone());
    }
    if let Some(signature) = &artifact.signature {
        annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature.trim().to_owned());
    }
    push(
        client,
        to,
        (WASM_CONFIG_MEDIA_TYPE, config.as_bytes()),
        (WASM_LAYER_MEDIA_TYPE, &artifact.component),
        annotations,
    )
    .await
}

/// Pushes a profile snapshot file (NDJSON, gzip or not); returns the manifest digest.
pub async fn push_snapshot(client: &HttpClient, to: &Reference, snapshot: &[u8]) -> Result<String> {
    let config = serde_json::json!({ "layerDigests": [sha256(snapshot)] }).to_string();
    push(
        client,
        to,
        (SNAPSHOT_CONFIG_MEDIA_TYPE, config.as_bytes()),
        (SNAPSHOT_LAYER_MEDIA_TYPE, snapshot),
        BTreeMap::new(),
    )
    .await
}

/// Pulls a policy version; returns it with the manifest digest.
pub async fn pull_policy(
    client: &HttpClient,
    from: &Reference,
) -> Result<(PolicyArtifact, String)> {
    let (manifest, digest) = fetch_manifest(client, from).await?;
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(DistributionError::invalid(
            from,
            format!(
                "config media type is {:?}, not a Wasm artifact ({WASM_CONFIG_MEDIA_TYPE})",
                manifest.config.media_type
            ),
        ));
    }
    let component = fetch_layer(client, from, &manifest, WASM_LAYER_MEDIA_TYPE).await?;
    let artifact = PolicyArtifact {
        component,
        config: manifest.annotations.get(CONFIG_ANNOTATION).cloned(),
        signature: manifest.annotations.get(SIGNATURE_ANNOTATION).cloned(),
    };
    Ok((artifact, digest))
}

/// Pulls a profile snapshot; returns its bytes with the manifest digest.
pub async fn pull_snapshot(client: &HttpClient, from: &Reference) -> Result<(Vec<u8>, String)> {
    let (manifest, digest) = fetch_manifest(client, from).await?;
    let bytes = fetch_layer(client, from, &manifest, SNAPSHOT_LAYER_MEDIA_TYPE).await?;
    Ok((bytes, digest))
}

/// The digest a tag points at now (a `HEAD` of the manifest: cheap to poll).
pub async fn resolve(client: &HttpClient, reference: &Reference) -> Result<String> {
    let url = reference.manifest_url();
    let response = call(
        client,
        Method::HEAD,
        &url,
        &[("accept", MANIFEST_MEDIA_TYPE)],
        Vec::new(),
        None,
    )
    .await?;
    response
        .headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            DistributionError::invalid(reference, "the registry sent no Docker-Content-Digest")
        })
}

/// One registry exchange; a status other than `expected` (or any success, when `None`) is an
/// error naming the URL.
async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    expected: Option<u16>,
) -> Result<crate::http_client::HttpResponse> {
    let response = client.request(method, url, headers, body).await?;
    let ok = match expected {
        Some(status) => response.status.as_u16() == status,
        None => response.status.is_success(),
    };
    if ok {
        Ok(response)
    } else {
        Err(DistributionError::status(url, &response))
    }
}

async fn push(
    client: &HttpClient,
    to: &Reference,
    config: (&str, &[u8]),
    layer: (&str, &[u8]),
    annotations: BTreeMap<String, String>,
) -> Result<String> {
    let config_desc = upload_blob(client, to, config.0, config.1).await?;
    let layer_desc = upload_blob(client, to, layer.0, layer.1).await?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: config_desc,
        layers: vec![layer_desc],
        annotations,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| DistributionError::invalid(to, e))?;
    let digest = sha256(&body);
    let url = to.manifest_url();
    call(
        client,
        Method::PUT,
        &url,
        &[("content-type", MANIFEST_MEDIA_TYPE)],
        body,
        None,
    )
    .await?;
    Ok(digest)
}

/// Uploads a blob unless the registry has it (monolithic upload: POST then PUT).
async fn upload_blob(
    client: &HttpClient,
    to: &Reference,
    media_type: &str,
    bytes: &[u8],
) -> Result<Descriptor> {
    let digest = sha256(bytes);
    let descriptor = Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size: bytes.len() as u64,
    };
    let exists = client
        .request(Method::HEAD, &to.blob_url(&digest), &[], Vec::new())
        .await?;
    if exists.status.is_success() {
        return Ok(descriptor);
    }
    let url = to.upload_url();
    let started = call(client, Method::POST, &url, &[], Vec::new(), Some(202)).await?;
    let location = started
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| DistributionError::invalid(to, "upload started without a Location"))?;
    let location = if location.starts_with('/') {
        format!("{}{location}", to.registry)
    } else {
        location.to_owned()
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put_url = format!("{location}{separator}digest={digest}");
    call(
        client,
        Method::PUT,
        &put_url,
        &[("content-type", "application/octet-stream")],
        bytes.to_vec(),
        Some(201),
    )
    .await?;
    Ok(descriptor)
}

async fn fetch_manifest(client: &HttpClient, from: &Reference) -> Result<(Manifest, String)> {
    let url = from.manifest_url();
    let response = call(
        client,
        Method::GET,
        &url,
        &[("accept", MANIFEST_MEDIA_TYPE)],
        Vec::new(),
        None,
    )
    .await?;
    let digest = sha256(&response.body);
    if from.reference.starts_with("sha256:") && from.reference != digest {
        return Err(DistributionError::invalid(
            from,
            format!("the manifest hashes to {digest}"),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&response.body)
        .map_err(|e| DistributionError::invalid(from, format!("not an OCI image manifest: {e}")))?;
    Ok((manifest, digest))
}

async fn fetch_layer(
    client: &HttpClient,
    from: &Reference,
    manifest: &Manifest,
    media_type: &str,
) -> Result<Vec<u8>> {
    let mut layers = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == media_type);
    let (Some(layer), None) = (layers.next(), layers.next()) else {
        return Err(DistributionError::invalid(
            from,
            format!("expected exactly one {media_type} layer"),
        ));
    };
    let url = from.blob_url(&layer.digest);
    let response = call(client, Method::GET, &url, &[], Vec::new(), None).await?;
    let actual = sha256(&response.body);
    if actual != layer.digest || response.body.len() as u64 != layer.size {
        return Err(DistributionError::invalid(
            from,
            format!("layer {} arrived as {actual}", layer.digest),
        ));
    }
    Ok(response.body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::contract_version;

    #[test]
    fn the_artifact_names_the_contract_the_component_was_built_against() {
        let hero = crate::bundled::find("hero-banner").map(|p| p.component);
        assert_eq!(hero.map(contract_version), Some("0.2.0"));
        assert_eq!(
            contract_version(tailor_test_policies::CONTRACT_0_1),
            "0.1.0"
        );
    }
}
