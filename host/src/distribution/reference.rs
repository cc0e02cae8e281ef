//! Artifact references: `http://<registry host[:port]>/<repository>:<tag>` or `…@sha256:<hex>`.

use std::fmt;

/// Where an artifact lives in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `http://host:port`.
    pub registry: String,
    /// Repository path, e.g. `retail/hero-banner`.
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl Reference {
    /// Parses `http://host[:port]/repo/path:tag`, `…@sha256:…`, or the same without the scheme
    /// (plain http is assumed; registries are reached on a private network or through a
    /// TLS-terminating proxy).
    pub fn parse(text: &str) -> Result<Reference, String> {
        let rest = text
            .strip_prefix("http://")
            .or_else(|| (!text.contains("://")).then_some(text))
            .ok_or_else(|| format!("{text:?}: only http:// registries are supported"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected <registry>/<repository>:<tag>"))?;
        let (repository, reference) = match path.split_once('@') {
            Some((repo, digest)) => (repo, digest.to_owned()),
            None => match path.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo, tag.to_owned()),
                _ => (path, "latest".to_owned()),
            },
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if host.is_empty() || !valid_repo {
            return Err(format!(
                "{text:?}: the repository must be lowercase path components"
            ));
        }
        let valid_ref = if let Some(hex) = reference.strip_prefix("sha256:") {
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        } else {
            !reference.is_empty()
                && reference.len() <= 128
                && reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !valid_ref {
            return Err(format!(
                "{text:?}: {reference:?} is not a tag or sha256 digest"
            ));
        }
        Ok(Reference {
            registry: format!("http://{host}"),
            repository: repository.to_owned(),
            reference,
        })
    }

    pub fn manifest_url(&self) -> String {
        format!(
            "{}/v2/{}/manifests/{}",
            self.registry, self.repository, self.reference
        )
    }

    pub fn blob_url(&self, digest: &str) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.registry, self.repository)
    }

    pub fn upload_url(&self) -> String {
        format!("{}/v2/{}/blobs/uploads/", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_defaults() {
        let r = Reference::parse("http://127.0.0.1:5000/retail/hero-banner:v3").unwrap();
        assert_eq!(r.registry, "http://127.0.0.1:5000");
        assert_eq!(r.repository, "retail/hero-banner");
        assert_eq!(r.reference, "v3");
        assert_eq!(
            r.manifest_url(),
            "http://127.0.0.1:5000/v2/retail/hero-banner/manifests/v3"
        );
        let latest = Reference::parse("registry.local:5000/hero").unwrap();
        assert_eq!(latest.reference, "latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("reg:5000/hero@{digest}")).unwrap();
        assert_eq!(pinned.reference, digest);
        assert_eq!(pinned.to_string(), format!("http://reg:5000/hero@{digest}"));
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "https://reg/hero:v1",
            "reg",
            "reg/Hero:v1",
            "reg/hero:v 1",
            "reg/hero@sha256:12",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
