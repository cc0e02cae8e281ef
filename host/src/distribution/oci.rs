//! Pushing and pulling artifacts with the OCI distribution API, in the CNCF Wasm OCI artifact
//! layout: a manifest whose config has media type `application/vnd.wasm.config.v0+json` and
//! whose one layer is the component (`application/wasm`). The policy's config document and
//! signature travel as manifest annotations, so any registry and any Wasm-aware tool accepts
//! the artifact unchanged. Profile snapshots use the same manifest with tailor media types.
//! Artifacts are deterministic (no timestamps): pushing the same version twice, to any tag,
//! gives the same manifest digest. The exchanges (auth, TLS, chunked or monolithic uploads,
//! redirected blob downloads) are `oci-client`'s; the manifest bytes are written here, so the
//! digest depends on nothing but the version.

use super::{DistributionError, Reference, RegistryClient};
use crate::digest::sha256;
use hyper::body::Bytes;
use oci_client::RegistryOperation;
use oci_client::manifest::OciDescriptor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt as _, AsyncWrite};

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
    client: &RegistryClient,
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
        (WASM_CONFIG_MEDIA_TYPE, Blob::Bytes(config.as_bytes())),
        (WASM_LAYER_MEDIA_TYPE, Blob::Bytes(&artifact.component)),
        annotations,
    )
    .await
}

/// Pushes a profile snapshot file (NDJSON, gzip or not) from disk, never holding it whole (a
/// national export is gigabytes): it is read once for its digest, then streamed to the
/// registry in chunks, which checks the digest at the end. Returns the manifest digest.
pub async fn push_snapshot(
    client: &RegistryClient,
    to: &Reference,
    snapshot: &Path,
) -> Result<String> {
    let read_error = |source| DistributionError::Read {
        path: snapshot.to_owned(),
        source,
    };
    let path = snapshot.to_owned();
    let (digest, size) = tokio::task::spawn_blocking(move || crate::digest::sha256_file(&path))
        .await
        .map_err(|e| read_error(std::io::Error::other(e)))?
        .map_err(read_error)?;
    let config = serde_json::json!({ "layerDigests": [digest] }).to_string();
    let layer = Blob::File {
        path: snapshot,
        digest,
        size,
    };
    push(
        client,
        to,
        (SNAPSHOT_CONFIG_MEDIA_TYPE, Blob::Bytes(config.as_bytes())),
        (SNAPSHOT_LAYER_MEDIA_TYPE, layer),
        BTreeMap::new(),
    )
    .await
}

/// What a blob is pushed from.
enum Blob<'a> {
    Bytes(&'a [u8]),
    /// A file whose digest and size were read before.
    File {
        path: &'a Path,
        digest: String,
        size: u64,
    },
}

/// Bytes a file is streamed to a registry in: one chunked-upload request each (oci-client's
/// largest chunk).
const UPLOAD_CHUNK: usize = 4 << 20;

/// A file's bytes, a chunk at a time.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut chunk = vec![0; UPLOAD_CHUNK];
        let mut filled = 0;
        while filled < chunk.len() {
            match file.read(&mut chunk[filled..]).await? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        chunk.truncate(filled);
        Ok(Some((Bytes::from(chunk), file)))
    })
}

/// Pulls a policy version; returns it with the manifest digest.
pub async fn pull_policy(
    client: &RegistryClient,
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

/// Pulls a profile snapshot into `out` as it arrives, never holding it whole (a national export
/// is gigabytes); returns the manifest digest and the bytes written. The layer's digest is
/// checked on the way and its size at the end: on an error `out` holds a partial or wrong
/// file, for the caller to throw away.
pub async fn pull_snapshot_into<W: AsyncWrite + Unpin>(
    client: &RegistryClient,
    from: &Reference,
    out: W,
) -> Result<(String, u64)> {
    let (manifest, digest) = fetch_manifest(client, from).await?;
    let layer = only_layer(from, &manifest, SNAPSHOT_LAYER_MEDIA_TYPE)?;
    let mut counted = Counted {
        inner: out,
        bytes: 0,
    };
    client
        .client
        .pull_blob(&from.to_oci(), &layer_descriptor(layer), &mut counted)
        .await
        .map_err(|e| DistributionError::registry(from, e))?;
    if counted.bytes != layer.size {
        return Err(DistributionError::invalid(
            from,
            format!(
                "layer {} arrived as {} bytes, not {}",
                layer.digest, counted.bytes, layer.size
            ),
        ));
    }
    Ok((digest, counted.bytes))
}

/// A writer that counts what goes through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes += n as u64;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The digest a tag points at now (a `HEAD` of the manifest: cheap to poll; a token is asked
/// for only when the cached one has expired).
pub async fn resolve(client: &RegistryClient, reference: &Reference) -> Result<String> {
    let oci = reference.to_oci();
    client
        .client
        .fetch_manifest_digest(&oci, &client.auth)
        .await
        .map_err(|e| DistributionError::registry(reference, e))
}

/// Signs in for `operation` (a bearer token from the registry's `WWW-Authenticate` realm, or
/// basic credentials where the registry asks for those), so a refused sign-in is reported as
/// such. Pulls sign in on their first request instead.
async fn authenticate(
    client: &RegistryClient,
    reference: &Reference,
    oci: &oci_client::Reference,
    operation: RegistryOperation,
) -> Result<()> {
    client
        .client
        .auth(oci, &client.auth, operation)
        .await
        .map(drop)
        .map_err(|e| DistributionError::registry(reference, e))
}

async fn push(
    client: &RegistryClient,
    to: &Reference,
    config: (&str, Blob<'_>),
    layer: (&str, Blob<'_>),
    annotations: BTreeMap<String, String>,
) -> Result<String> {
    let oci = to.to_oci();
    authenticate(client, to, &oci, RegistryOperation::Push).await?;
    let config_desc = upload_blob(client, to, &oci, config.0, config.1).await?;
    let layer_desc = upload_blob(client, to, &oci, layer.0, layer.1).await?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        config: config_desc,
        layers: vec![layer_desc],
        annotations,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| DistributionError::invalid(to, e))?;
    let digest = sha256(&body);
    client
        .client
        .push_manifest_raw(
            &oci,
            body,
            hyper::header::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
        )
        .await
        .map_err(|e| DistributionError::registry(to, e))?;
    Ok(digest)
}

/// Uploads a blob unless the registry has it.
async fn upload_blob(
    client: &RegistryClient,
    to: &Reference,
    oci: &oci_client::Reference,
    media_type: &str,
    blob: Blob<'_>,
) -> Result<Descriptor> {
    let (digest, size) = match &blob {
        Blob::Bytes(bytes) => (sha256(bytes), bytes.len() as u64),
        Blob::File { digest, size, .. } => (digest.clone(), *size),
    };
    let descriptor = Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size,
    };
    let exists = client
        .client
        .blob_exists(oci, &digest)
        .await
        .map_err(|e| DistributionError::registry(to, e))?;
    if exists {
        return Ok(descriptor);
    }
    match blob {
        Blob::Bytes(bytes) => client.client.push_blob(oci, bytes.to_vec(), &digest).await,
        Blob::File { path, .. } => {
            let file =
                tokio::fs::File::open(path)
                    .await
                    .map_err(|source| DistributionError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
            client
                .client
                .push_blob_stream(oci, file_chunks(file), &digest, Some(size))
                .await
        }
    }
    .map_err(|e| DistributionError::registry(to, e))?;
    Ok(descriptor)
}

async fn fetch_manifest(client: &RegistryClient, from: &Reference) -> Result<(Manifest, String)> {
    let oci = from.to_oci();
    let (body, _) = client
        .client
        .pull_manifest_raw(&oci, &client.auth, &[MANIFEST_MEDIA_TYPE])
        .await
        .map_err(|e| DistributionError::registry(from, e))?;
    let digest = sha256(&body);
    if from.reference.starts_with("sha256:") && from.reference != digest {
        return Err(DistributionError::invalid(
            from,
            format!("the manifest hashes to {digest}"),
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&body)
        .map_err(|e| DistributionError::invalid(from, format!("not an OCI image manifest: {e}")))?;
    Ok((manifest, digest))
}

/// The manifest's one layer of `media_type`.
fn only_layer<'m>(
    from: &Reference,
    manifest: &'m Manifest,
    media_type: &str,
) -> Result<&'m Descriptor> {
    let mut layers = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == media_type);
    match (layers.next(), layers.next()) {
        (Some(layer), None) => Ok(layer),
        _ => Err(DistributionError::invalid(
            from,
            format!("expected exactly one {media_type} layer"),
        )),
    }
}

fn layer_descriptor(layer: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: i64::try_from(layer.size).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
    }
}

async fn fetch_layer(
    client: &RegistryClient,
    from: &Reference,
    manifest: &Manifest,
    media_type: &str,
) -> Result<Vec<u8>> {
    let layer = only_layer(from, manifest, media_type)?;
    let mut body = Vec::new();
    client
        .client
        .pull_blob(&from.to_oci(), &layer_descriptor(layer), &mut body)
        .await
        .map_err(|e| DistributionError::registry(from, e))?;
    let actual = sha256(&body);
    if actual != layer.digest || body.len() as u64 != layer.size {
        return Err(DistributionError::invalid(
            from,
            format!("layer {} arrived as {actual}", layer.digest),
        ));
    }
    Ok(body)
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
