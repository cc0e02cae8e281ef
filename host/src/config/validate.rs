//! The checks a configuration passes before the server starts, whatever layer a value came from.

use super::{Result, ServeConfig, invalid};

impl ServeConfig {
    /// Checks the values their types cannot: counts above zero, shares within their range,
    /// tokens long enough not to be guessed, signatures required only with keys to check them.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("sample_profiles", self.sample_profiles),
            ("cache_profiles", self.cache_profiles as u64),
            (
                "max_concurrent_decisions",
                u64::from(self.max_concurrent_decisions),
            ),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_slots", self.max_slots as u64),
            ("deadline_ms", self.deadline_ms),
            ("max_memory_mib", self.max_memory_mib as u64),
            ("policies_poll_seconds", self.policies_poll_seconds),
            ("keep_versions", self.keep_versions as u64),
            (
                "auto_rollback_min_decisions",
                self.auto_rollback_min_decisions,
            ),
            (
                "auto_rollback_window_seconds",
                self.auto_rollback_window_seconds,
            ),
            (
                "auto_rollback_watch_seconds",
                self.auto_rollback_watch_seconds,
            ),
            ("follow_poll_seconds", self.follow_poll_seconds),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(invalid(key, "must be greater than zero"));
        }
        if self.share_weight == 0 || self.share_weight > crate::scheduler::MAX_WEIGHT {
            return Err(invalid(
                "share_weight",
                format!("must be between 1 and {}", crate::scheduler::MAX_WEIGHT),
            ));
        }
        let cpu_most = u64::from(self.decision_threads()) * 1000;
        if self.share_cpu_ms_per_second > cpu_most {
            return Err(invalid(
                "share_cpu_ms_per_second",
                format!(
                    "{} is more than the {} decision thread(s) have ({cpu_most})",
                    self.share_cpu_ms_per_second,
                    self.decision_threads()
                ),
            ));
        }
        for (key, value) in [
            ("guard_p99_ms", self.guard_p99_ms),
            ("guard_cpu_ms", self.guard_cpu_ms),
            ("guard_regression", self.guard_regression),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(invalid(
                    key,
                    format!("{value} is not a number >= 0 (0 turns it off)"),
                ));
            }
        }
        if self.guard_regression > 0.0 && self.guard_regression <= 1.0 {
            return Err(invalid(
                "guard_regression",
                format!(
                    "{} would roll back versions no slower than the one they replace; use more than 1, or 0 to turn it off",
                    self.guard_regression
                ),
            ));
        }
        if self.max_memory_mib > 1024 {
            return Err(invalid("max_memory_mib", "must be at most 1024"));
        }
        if !(0.0..=1.0).contains(&self.decision_log_rate) {
            return Err(invalid(
                "decision_log_rate",
                format!("{} is not between 0 and 1", self.decision_log_rate),
            ));
        }
        if self.outcome_retention_hours > 24 * 366 {
            return Err(invalid(
                "outcome_retention_hours",
                format!("{} is more than a year", self.outcome_retention_hours),
            ));
        }
        if !(0.0..1.0).contains(&self.auto_rollback_error_rate) {
            return Err(invalid(
                "auto_rollback_error_rate",
                format!(
                    "{} is not in [0, 1) (0 disables automatic rollback)",
                    self.auto_rollback_error_rate
                ),
            ));
        }
        for (key, token) in [
            ("admin_token", &self.admin_token),
            ("editor_token", &self.editor_token),
            ("api_token", &self.api_token),
        ] {
            if token.as_ref().is_some_and(|token| token.len() < 16) {
                return Err(invalid(key, "must be at least 16 characters"));
            }
        }
        if self.editor_token.is_some() && self.editor_token == self.admin_token {
            return Err(invalid(
                "editor_token",
                "must differ from admin_token (the roles would be one)",
            ));
        }
        self.validate_fleet()?;
        self.validate_registry()?;
        if self.require_signatures == Some(true) && self.trusted_keys.is_empty() {
            return Err(invalid(
                "require_signatures",
                "signatures are required but no trusted_keys are configured",
            ));
        }
        Ok(())
    }
}

impl ServeConfig {
    /// The followed registries can be reached as the `registry_*` options say: https or a
    /// loopback (or `registry_insecure`) for plain HTTP, a readable CA, whole credentials.
    fn validate_registry(&self) -> Result<()> {
        use crate::distribution::DistributionError;
        if let Some(path) = &self.registry_ca
            && !path.is_file()
        {
            return Err(invalid(
                "registry_ca",
                format!("{} is not a readable file", path.display()),
            ));
        }
        let access = self.registry_access();
        for followed in &self.follow {
            if let Err(error) = access.client(&followed.reference) {
                let key = match error {
                    DistributionError::Insecure { .. } => "follow",
                    DistributionError::Ca { .. } => "registry_ca",
                    _ => "registry_auth",
                };
                return Err(invalid(key, crate::report::chain(&error)));
            }
        }
        Ok(())
    }

    /// The broker settings: usable URLs and names, and one way to authenticate.
    fn validate_fleet(&self) -> Result<()> {
        let fleet_keys = [
            ("node_id", self.node_id.is_some()),
            ("events_user", self.events_user.is_some()),
            ("events_password", self.events_password.is_some()),
            ("events_token", self.events_token.is_some()),
            (
                "events_credentials_file",
                self.events_credentials_file.is_some(),
            ),
        ];
        let Some(fleet) = self.fleet() else {
            if let Some((key, _)) = fleet_keys.iter().find(|(_, set)| *set) {
                return Err(invalid(key, "is set but no events_broker is configured"));
            }
            return Ok(());
        };
        crate::fleet::validate(&fleet).map_err(|e| invalid(e.key, e.message))?;
        if self.events_user.is_some() != self.events_password.is_some() {
            let key = match self.events_user {
                Some(_) => "events_password",
                None => "events_user",
            };
            return Err(invalid(key, "events_user and events_password go together"));
        }
        let ways = [
            self.events_user.is_some(),
            self.events_token.is_some(),
            self.events_credentials_file.is_some(),
        ];
        if ways.iter().filter(|set| **set).count() > 1 {
            return Err(invalid(
                "events_token",
                "use one of events_user/events_password, events_token or events_credentials_file",
            ));
        }
        if self.events_tls_cert.is_some() != self.events_tls_key.is_some() {
            let key = match self.events_tls_cert {
                Some(_) => "events_tls_key",
                None => "events_tls_cert",
            };
            return Err(invalid(
                key,
                "events_tls_cert and events_tls_key go together",
            ));
        }
        for (key, path) in [
            ("events_credentials_file", &self.events_credentials_file),
            ("events_tls_ca", &self.events_tls_ca),
            ("events_tls_cert", &self.events_tls_cert),
            ("events_tls_key", &self.events_tls_key),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(invalid(
                    key,
                    format!("{} is not a readable file", path.display()),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tweak = fn(&mut ServeConfig);

    fn refused(tweak: impl FnOnce(&mut ServeConfig)) -> String {
        let mut config = ServeConfig::default();
        tweak(&mut config);
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_pass() {
        ServeConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: [(&str, Tweak); 14] = [
            ("max_slots", |c| c.max_slots = 0),
            ("share_weight", |c| c.share_weight = 0),
            ("share_cpu_ms_per_second", |c| {
                c.decision_threads = 2;
                c.share_cpu_ms_per_second = 2001
            }),
            ("guard_p99_ms", |c| c.guard_p99_ms = -1.0),
            ("guard_cpu_ms", |c| c.guard_cpu_ms = f64::NAN),
            ("guard_regression", |c| c.guard_regression = 0.5),
            ("deadline_ms", |c| c.deadline_ms = 0),
            ("max_memory_mib", |c| c.max_memory_mib = 2048),
            ("decision_log_rate", |c| c.decision_log_rate = 1.5),
            ("decision_log_rate", |c| c.decision_log_rate = f64::NAN),
            ("outcome_retention_hours", |c| {
                c.outcome_retention_hours = 9000
            }),
            ("auto_rollback_error_rate", |c| {
                c.auto_rollback_error_rate = 1.0
            }),
            ("admin_token", |c| c.admin_token = Some("short".into())),
            ("require_signatures", |c| c.require_signatures = Some(true)),
        ];
        for (key, tweak) in cases {
            let err = refused(tweak);
            assert!(
                err.starts_with(&format!("config key `{key}`: ")),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn bad_fleet_settings_name_the_key() {
        let with_broker =
            |c: &mut ServeConfig| c.events_broker = vec!["nats://127.0.0.1:4222".into()];
        let cases: [(&str, Tweak); 12] = [
            ("node_id", |c| c.node_id = Some("web".into())),
            ("events_broker", |c| {
                c.events_broker = vec!["nats://[::1".into()]
            }),
            ("node_id", |c| {
                c.events_broker = vec!["nats://127.0.0.1:4222".into()];
                c.node_id = Some("edge.fra".into());
            }),
            ("events_partitions", |c| {
                c.events_broker = vec!["nats://127.0.0.1:4222".into()];
                c.events_partitions = 0;
            }),
            ("events_password", |c| {
                c.events_broker = vec!["nats://127.0.0.1:4222".into()];
                c.events_user = Some("tailor".into());
            }),
            ("events_token", |c| {
                c.events_broker = vec!["nats://127.0.0.1:4222".into()];
                c.events_token = Some("t".into());
                c.events_credentials_file = Some("/etc/hostname".into());
            }),
            ("events_credentials_file", |c| {
                c.events_broker = vec!["nats://127.0.0.1:4222".into()];
                c.events_credentials_file = Some("/nonexistent/tailor.creds".into());
            }),
            ("events_tls_key", |c| {
                c.events_broker = vec!["tls://127.0.0.1:4222".into()];
                c.events_tls_cert = Some("/etc/hostname".into());
            }),
            ("events_tls_ca", |c| {
                c.events_broker = vec!["tls://127.0.0.1:4222".into()];
                c.events_tls_ca = Some("/nonexistent/ca.pem".into());
            }),
            ("registry_ca", |c| {
                c.registry_ca = Some("/nonexistent/ca.pem".into());
            }),
            ("follow", |c| {
                c.follow = vec![
                    crate::distribution::Follow::parse("hero=http://registry.local:5000/hero:v1")
                        .unwrap(),
                ];
            }),
            ("registry_auth", |c| {
                c.follow = vec![
                    crate::distribution::Follow::parse("hero=registry.local:5000/hero:v1").unwrap(),
                ];
                c.registry_username = Some("ci".into());
            }),
        ];
        for (key, tweak) in cases {
            let err = refused(tweak);
            assert!(
                err.starts_with(&format!("config key `{key}`: ")),
                "{key}: {err}"
            );
        }
        let mut config = ServeConfig::default();
        with_broker(&mut config);
        config.validate().unwrap();
        let fleet = config.fleet().unwrap();
        assert!(!fleet.node_id.is_empty(), "defaults to the host name");
        assert_eq!(fleet.stream, "TAILOR_EVENTS");
        assert!(ServeConfig::default().fleet().is_none());
    }

    #[test]
    fn signatures_are_required_by_default_exactly_when_keys_are_trusted() {
        let mut config = ServeConfig::default();
        assert!(!config.signatures_required());
        config.trusted_keys = vec!["fleet.pub".into()];
        assert!(config.signatures_required());
        config.require_signatures = Some(false);
        assert!(!config.signatures_required());
        config.validate().unwrap();
    }
}
