//! What a decision's `Store` holds: limits, the config it reads, and what the guest wrote.

use super::{ConfigDocument, Limits};
use std::sync::Arc;

/// Per-decision store data. Built fresh for every decision and dropped with the instance.
pub(crate) struct DecisionState {
    pub(crate) config: Arc<ConfigDocument>,
    pub(crate) policy: Arc<str>,
    pub(crate) limits: Limits,
    /// Set when the guest tried to grow memory past its cap.
    pub(crate) memory_limit_hit: bool,
    /// Log lines written and dropped so far in this decision.
    pub(crate) log_lines: u32,
    pub(crate) log_dropped: u32,
    /// What the guest wrote to stdout/stderr (Rust panics land here), capped.
    pub(crate) stdio: Vec<u8>,
}

/// Bytes of guest stdout/stderr kept per decision.
pub(crate) const STDIO_CAP: usize = 4096;

impl DecisionState {
    pub(crate) fn new(policy: Arc<str>, config: Arc<ConfigDocument>, limits: Limits) -> Self {
        DecisionState {
            config,
            policy,
            limits,
            memory_limit_hit: false,
            log_lines: 0,
            log_dropped: 0,
            stdio: Vec::new(),
        }
    }

    /// Keeps guest output up to the cap.
    pub(crate) fn capture_stdio(&mut self, bytes: &[u8]) {
        let room = STDIO_CAP.saturating_sub(self.stdio.len());
        self.stdio.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The guest's panic message, if its output holds one (`panicked at …:\nmessage`).
    pub(crate) fn panic_message(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.stdio);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(text.lines().collect::<Vec<_>>().join(" ").replace("thread '<unnamed>' ", ""))
    }
}

impl wasmtime::ResourceLimiter for DecisionState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.max_memory_bytes {
            self.memory_limit_hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory would grow to {desired} bytes, over the {}-byte cap",
                self.limits.max_memory_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        super::limits::CORE_INSTANCES_PER_DECISION as usize
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        super::limits::CORE_INSTANCES_PER_DECISION as usize
    }
}
