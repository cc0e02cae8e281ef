//! Fleet distribution through an OCI registry: policy versions (component, config, signature)
//! and profile snapshots pushed to and pulled from any registry that speaks the OCI
//! distribution API, and a node option that follows a policy by tag.

mod follow;
pub mod oci;
mod reference;

pub use follow::{Follow, OnPublished, follow};
pub use oci::PolicyArtifact;
pub use reference::Reference;

use crate::http_client::{ClientError, HttpResponse};

/// A registry exchange failed; names the artifact or URL.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error(transparent)]
    Http(#[from] ClientError),
    #[error("{url}: the registry answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{reference}: {reason}")]
    Invalid { reference: String, reason: String },
}

impl DistributionError {
    fn status(url: &str, response: &HttpResponse) -> DistributionError {
        let mut body = response.text();
        body.truncate(500);
        DistributionError::Status {
            url: url.to_owned(),
            status: response.status.as_u16(),
            body,
        }
    }

    fn invalid(reference: &Reference, reason: impl std::fmt::Display) -> DistributionError {
        DistributionError::Invalid {
            reference: reference.to_string(),
            reason: reason.to_string(),
        }
    }
}
