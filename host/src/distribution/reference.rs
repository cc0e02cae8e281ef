//! Artifact references: `https://<registry host[:port]>/<repository>:<tag>` or `…@sha256:<hex>`;
//! `http://` for plain HTTP; without a scheme, `https://` unless the host is a loopback address.

use std::fmt;

/// Where an artifact lives in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `https://host[:port]` or `http://host[:port]`.
    pub registry: String,
    /// Repository path, e.g. `retail/hero-banner`.
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl Reference {
    /// Parses `https://host[:port]/repo/path:tag`, `…@sha256:…`, the same with `http://`, or
    /// without a scheme (https, or http on a loopback host such as `127.0.0.1:5000`).
    pub fn parse(text: &str) -> Result<Reference, String> {
        let (scheme, rest) = match text.split_once("://") {
            Some(("https", rest)) => (Some("https"), rest),
            Some(("http", rest)) => (Some("http"), rest),
            Some(_) => return Err(format!("{text:?}: a registry is https:// or http://")),
            None => (None, text),
        };
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
        let scheme = scheme.unwrap_or(if is_loopback(host) { "http" } else { "https" });
        Ok(Reference {
            registry: format!("{scheme}://{host}"),
            repository: repository.to_owned(),
            reference,
        })
    }

    /// `host[:port]`, as registries and docker's `config.json` name it.
    pub fn host(&self) -> &str {
        self.registry
            .split_once("://")
            .map_or(self.registry.as_str(), |(_, host)| host)
    }

    /// Whether the registry is reached over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.registry.starts_with("http://")
    }

    /// The same artifact as `oci-client` names it.
    pub(super) fn to_oci(&self) -> oci_client::Reference {
        let (host, repository) = (self.host().to_owned(), self.repository.clone());
        if self.reference.starts_with("sha256:") {
            oci_client::Reference::with_digest(host, repository, self.reference.clone())
        } else {
            oci_client::Reference::with_tag(host, repository, self.reference.clone())
        }
    }
}

/// Whether `host` (`name[:port]`) is a loopback address or `localhost`.
pub(super) fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
        assert_eq!(r.host(), "127.0.0.1:5000");
        let latest = Reference::parse("registry.local:5000/hero").unwrap();
        assert_eq!(latest.reference, "latest");
        assert_eq!(latest.registry, "https://registry.local:5000");
        let local = Reference::parse("localhost:5000/hero:v1").unwrap();
        assert_eq!(local.registry, "http://localhost:5000");
        let tls = Reference::parse("https://127.0.0.1:5000/hero:v1").unwrap();
        assert!(!tls.is_plain_http());
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("reg:5000/hero@{digest}")).unwrap();
        assert_eq!(pinned.reference, digest);
        assert_eq!(
            pinned.to_string(),
            format!("https://reg:5000/hero@{digest}")
        );
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "ftp://reg/hero:v1",
            "reg",
            "reg/Hero:v1",
            "reg/hero:v 1",
            "reg/hero@sha256:12",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
