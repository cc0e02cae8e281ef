//! What a policy says about its own config document (contract 0.2.0): the problems it finds in
//! it (`check-config`) and its JSON Schema (`config-schema`), each asked of a fresh instance
//! under the version's limits, with an empty profile: nothing but the document decides.

use super::bindings::{ConfigProblem, Prepared};
use super::decide::classify;
use super::state::{DecisionState, Started};
use super::{DecisionError, Engine, LoadedPolicy};
use tailor_types::Profile;
use wasmtime::Store;

impl Engine {
    /// The problems the policy finds in its version's config document; none when it accepts
    /// it, and none for a 0.1.0 component (which cannot say).
    pub fn check_config(&self, policy: &LoadedPolicy) -> Result<Vec<ConfigProblem>, DecisionError> {
        self.ask(policy, Prepared::check_config)
            .map(Option::unwrap_or_default)
    }

    /// The JSON Schema of the policy's config document, when it describes one.
    pub fn config_schema(&self, policy: &LoadedPolicy) -> Result<Option<String>, DecisionError> {
        self.ask(policy, Prepared::config_schema)
            .map(Option::flatten)
    }

    fn ask<T>(
        &self,
        policy: &LoadedPolicy,
        call: impl FnOnce(&Prepared, &mut Store<DecisionState>) -> Option<wasmtime::Result<T>>,
    ) -> Result<Option<T>, DecisionError> {
        let profile = Profile::default().into();
        let mut store = self.store(policy, &profile, None, policy.limits, Started::now());
        store.data_mut().outcomes = None;
        match call(&policy.pre, &mut store) {
            None => Ok(None),
            Some(Ok(answer)) => Ok(Some(answer)),
            Some(Err(error)) => Err(classify(error, store.data())),
        }
    }
}
