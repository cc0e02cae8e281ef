//! Fleet distribution through an OCI registry: policy versions (component, config, signature)
//! and profile snapshots pushed to and pulled from any registry that speaks the OCI
//! distribution API (TLS, basic or token auth, redirected blob downloads: `oci-client`), and a
//! node option that follows a policy by tag.

mod access;
mod follow;
pub mod oci;
mod reference;

pub use access::{RegistryAccess, RegistryClient};
pub use follow::{Follow, OnPublished, follow};
pub use oci::PolicyArtifact;
pub use reference::Reference;

use oci_client::errors::OciDistributionError;
use std::path::PathBuf;

/// A registry exchange failed, or the way to reach a registry is wrong; names the registry
/// or the artifact.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error(
        "{registry}: the registry refused the credentials (give them with --registry-auth, \
         TAILOR_REGISTRY_USERNAME/TAILOR_REGISTRY_PASSWORD or docker's config.json)"
    )]
    Unauthorized {
        registry: String,
        #[source]
        source: Box<OciDistributionError>,
    },
    #[error(
        "{registry}: TLS failed; the registry's certificate is not trusted (give its CA with \
         --registry-ca)"
    )]
    Tls {
        registry: String,
        #[source]
        source: Box<OciDistributionError>,
    },
    #[error("{registry}: the registry exchange failed")]
    Registry {
        registry: String,
        #[source]
        source: Box<OciDistributionError>,
    },
    #[error(
        "{registry}: plain HTTP is allowed only to a loopback registry; use https:// or \
         --registry-insecure"
    )]
    Insecure { registry: String },
    #[error("registry CA {path}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry credentials: {reason}")]
    Credentials { reason: String },
    #[error("{reference}: {reason}")]
    Invalid { reference: String, reason: String },
    #[error("reading {path} to push it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DistributionError {
    /// An `oci-client` error, classified: refused credentials, an untrusted certificate, or
    /// anything else.
    fn registry(reference: &Reference, source: OciDistributionError) -> DistributionError {
        let registry = reference.registry.clone();
        let unauthorized = match &source {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::ServerError { code: 401, .. } => true,
            OciDistributionError::RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, oci_client::errors::OciErrorCode::Unauthorized)),
            OciDistributionError::RequestError(e) => e.status().map(|s| s.as_u16()) == Some(401),
            _ => false,
        };
        let tls = !unauthorized && is_certificate_error(&source);
        let source = Box::new(source);
        if unauthorized {
            DistributionError::Unauthorized { registry, source }
        } else if tls {
            DistributionError::Tls { registry, source }
        } else {
            DistributionError::Registry { registry, source }
        }
    }

    fn invalid(reference: &Reference, reason: impl std::fmt::Display) -> DistributionError {
        DistributionError::Invalid {
            reference: reference.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Whether a cause of `error` is a certificate the TLS layer refused.
fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(next) = cause {
        if next.downcast_ref::<rustls::Error>().is_some()
            || next.to_string().contains("certificate")
        {
            return true;
        }
        cause = next.source();
    }
    false
}
