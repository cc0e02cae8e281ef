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
        if self.max_memory_mib > 1024 {
            return Err(invalid("max_memory_mib", "must be at most 1024"));
        }
        if !(0.0..=1.0).contains(&self.decision_log_rate) {
            return Err(invalid(
                "decision_log_rate",
                format!("{} is not between 0 and 1", self.decision_log_rate),
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
            ("api_token", &self.api_token),
        ] {
            if token.as_ref().is_some_and(|token| token.len() < 16) {
                return Err(invalid(key, "must be at least 16 characters"));
            }
        }
        if self.require_signatures == Some(true) && self.trusted_keys.is_empty() {
            return Err(invalid(
                "require_signatures",
                "signatures are required but no trusted_keys are configured",
            ));
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
        let cases: [(&str, Tweak); 8] = [
            ("max_slots", |c| c.max_slots = 0),
            ("deadline_ms", |c| c.deadline_ms = 0),
            ("max_memory_mib", |c| c.max_memory_mib = 2048),
            ("decision_log_rate", |c| c.decision_log_rate = 1.5),
            ("decision_log_rate", |c| c.decision_log_rate = f64::NAN),
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
