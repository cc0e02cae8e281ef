//! How tailor reaches a registry: credentials (given, from the environment, or from docker's
//! `config.json`), TLS with the system's roots plus an extra CA, and when plain HTTP is allowed.
//! [`RegistryAccess`] is the options of `tailor push` and `tailor pull` (flattened into each);
//! `tailor serve` has the same options on its `ServeConfig` and builds one from them.

use super::reference::is_loopback;
use super::{DistributionError, Reference};
use base64::Engine;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Credentials and transport for registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct RegistryAccess {
    /// Credentials on the registry, `user:password`, or `@FILE` for a file holding
    /// `user:password`. Without them, `registry_username`/`registry_password`, then the
    /// registry's entry in docker's `config.json`, else anonymous.
    #[arg(long, env = "TAILOR_REGISTRY_AUTH", hide_env_values = true)]
    pub registry_auth: Option<String>,
    /// User name on the registry (with `registry_password`).
    #[arg(long, env = "TAILOR_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Password or access token on the registry (with `registry_username`).
    #[arg(long, env = "TAILOR_REGISTRY_PASSWORD", hide_env_values = true)]
    pub registry_password: Option<String>,
    /// CA certificate (PEM) the registry's TLS certificate is checked against, beside the
    /// system's roots (a registry with a private CA).
    #[arg(long, env = "TAILOR_REGISTRY_CA", value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// Allow plain `http://` to a registry that is not on a loopback address (plain HTTP is
    /// always allowed on loopback; everything else needs `https://`).
    #[arg(
        long,
        env = "TAILOR_REGISTRY_INSECURE",
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub registry_insecure: bool,
}

type Result<T> = std::result::Result<T, DistributionError>;

/// An OCI client for one registry, with the credentials it presents there.
pub struct RegistryClient {
    pub(super) client: oci_client::Client,
    pub(super) auth: RegistryAuth,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl RegistryAccess {
    /// A client for the registry of `reference`: refuses plain HTTP off loopback unless
    /// `registry_insecure`, reads the CA and the credentials.
    pub fn client(&self, reference: &Reference) -> Result<RegistryClient> {
        let host = reference.host();
        let plain = reference.is_plain_http();
        if plain && !self.registry_insecure && !is_loopback(host) {
            return Err(DistributionError::Insecure {
                registry: reference.registry.clone(),
            });
        }
        // reqwest is built without a bundled crypto provider: ring, as the broker link uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let extra_root_certificates = match &self.registry_ca {
            Some(path) => vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(path).map_err(|source| DistributionError::Ca {
                    path: path.clone(),
                    source,
                })?,
            }],
            None => Vec::new(),
        };
        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            user_agent: concat!("tailor/", env!("CARGO_PKG_VERSION")),
            // Every manifest is a plain image manifest; no index to resolve.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client =
            oci_client::Client::try_from(config).map_err(|source| DistributionError::Registry {
                registry: reference.registry.clone(),
                source: Box::new(source),
            })?;
        Ok(RegistryClient {
            client,
            auth: self.credentials(host)?,
        })
    }

    /// The credentials for `host`: given, then the environment's pair, then docker's config.
    fn credentials(&self, host: &str) -> Result<RegistryAuth> {
        if let Some(given) = &self.registry_auth {
            let text = match given.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| credentials_error(format!("reading {path}: {e}")))?,
                None => given.clone(),
            };
            let (user, password) = text.trim().split_once(':').ok_or_else(|| {
                credentials_error("registry_auth: expected user:password".to_owned())
            })?;
            return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
        }
        match (&self.registry_username, &self.registry_password) {
            (Some(user), Some(password)) => {
                return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(credentials_error(
                    "registry_username and registry_password go together".to_owned(),
                ));
            }
        }
        Ok(docker_config_path()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| docker_config_auth(&text, host))
            .unwrap_or(RegistryAuth::Anonymous))
    }
}

fn credentials_error(reason: String) -> DistributionError {
    DistributionError::Credentials { reason }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(Path::new(&dir).join("config.json")),
        None => std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker/config.json")),
    }
}

/// The `auths.<registry>.auth` entry (base64 `user:password`) for `host`; keys may carry a
/// scheme and a path (`https://index.docker.io/v1/`).
fn docker_config_auth(text: &str, host: &str) -> Option<RegistryAuth> {
    let config: serde_json::Value = serde_json::from_str(text).ok()?;
    let wanted = |key: &str| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let key = key.split('/').next().unwrap_or(key);
        let docker_hub = |h: &str| matches!(h, "docker.io" | "index.docker.io");
        key == host || (docker_hub(key) && docker_hub(host))
    };
    let (_, entry) = config
        .get("auths")?
        .as_object()?
        .iter()
        .find(|(key, _)| wanted(key))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.get("auth")?.as_str()?)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.21:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.0.0.1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["registry.local:5000", "10.0.0.1:5000", "ghcr.io"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn docker_config_entries_match_by_host() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let text = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                "127.0.0.1:5000": {{"auth": "{auth}"}}}}}}"#
        );
        let basic = RegistryAuth::Basic("ci".into(), "s3cret".into());
        assert_eq!(docker_config_auth(&text, "docker.io"), Some(basic.clone()));
        assert_eq!(docker_config_auth(&text, "127.0.0.1:5000"), Some(basic));
        assert_eq!(docker_config_auth(&text, "ghcr.io"), None);
    }

    #[test]
    fn given_credentials_win_and_go_in_pairs() {
        let given = RegistryAccess {
            registry_auth: Some("ci:pa:ss".into()),
            registry_username: Some("other".into()),
            registry_password: Some("other".into()),
            ..RegistryAccess::default()
        };
        assert_eq!(
            given.credentials("ghcr.io").unwrap(),
            RegistryAuth::Basic("ci".into(), "pa:ss".into())
        );
        let half = RegistryAccess {
            registry_username: Some("ci".into()),
            ..RegistryAccess::default()
        };
        assert!(matches!(
            half.credentials("ghcr.io"),
            Err(DistributionError::Credentials { .. })
        ));
        let no_colon = RegistryAccess {
            registry_auth: Some("token-only".into()),
            ..RegistryAccess::default()
        };
        assert!(no_colon.credentials("ghcr.io").is_err());
    }

    #[test]
    fn plain_http_off_loopback_needs_insecure() {
        let remote = Reference::parse("http://registry.local:5000/hero:v1").unwrap();
        assert!(matches!(
            RegistryAccess::default().client(&remote),
            Err(DistributionError::Insecure { .. })
        ));
        let insecure = RegistryAccess {
            registry_insecure: true,
            ..RegistryAccess::default()
        };
        assert!(insecure.client(&remote).is_ok());
    }
}
