//! The policy engine: one wasmtime engine, policies compiled once, a fresh instance per decision.
//!
//! Every decision gets its own `Store` and instance from the pooling allocator, so nothing a
//! policy does for one customer can be seen by the next. Each decision runs under an epoch
//! deadline, a linear-memory cap and an output-size cap; whatever goes wrong is turned into a
//! [`DecisionError`] with a specific [`ErrorCode`] and the caller serves the slot's fallback.

mod bindings;
mod config_doc;
pub mod cpu;
mod decide;
mod describe;
mod error;
mod imports;
mod limits;
mod page;
mod pinned;
mod policy;
mod redact;
mod state;
mod std_shim;
mod ticker;

pub use bindings::{ConfigProblem, Contract};
pub use config_doc::{ConfigDocument, ConfigNode, ConfigObject};
pub use decide::{Cost, Evaluation};
pub use error::{DecisionError, EngineError, ErrorCode, LoadError};
pub use limits::Limits;
pub use page::SlotInput;
pub use pinned::PinnedInstance;
pub use policy::{LoadedPolicy, PolicySource};

use state::DecisionState;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;

/// How the engine is set up; fixed for the engine's lifetime.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Decisions that may run at once (instances the pool holds). Beyond it a decision fails
    /// with [`ErrorCode::Capacity`] instead of allocating.
    pub max_concurrent_decisions: u32,
    /// Limits a policy gets unless it overrides them.
    pub default_limits: Limits,
    /// Largest linear memory any policy may be given (the pool's slot size).
    pub max_memory_bytes_ceiling: usize,
    /// Granularity of deadlines: how often the epoch advances.
    pub epoch_tick: Duration,
    /// Bytes of each linear memory kept mapped between decisions and reset with `memset`
    /// instead of `madvise` (cheaper for small policies; see docs/benchmarks.md).
    pub memory_keep_resident_bytes: usize,
    /// Bytes of each table kept resident and reset with `memset` between decisions.
    pub table_keep_resident_bytes: usize,
    /// On Linux 6.7+, reset only the pages a decision dirtied (found with the `PAGEMAP_SCAN`
    /// ioctl) instead of the whole kept-resident prefix. Falls back silently where unsupported.
    pub pagemap_scan: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_decisions: 256,
            default_limits: Limits::default(),
            max_memory_bytes_ceiling: 64 << 20,
            epoch_tick: Duration::from_millis(1),
            memory_keep_resident_bytes: 256 << 10,
            table_keep_resident_bytes: 4 << 10,
            pagemap_scan: true,
        }
    }
}

/// Compiles policies and runs decisions. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    wasmtime: wasmtime::Engine,
    linker: Linker<DecisionState>,
    config: EngineConfig,
    _ticker: ticker::EpochTicker,
    /// What policies read through the contract's `outcomes` interface (none in tools that run
    /// a policy without a node: they read zeros).
    outcomes: std::sync::OnceLock<Arc<crate::outcomes::Outcomes>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the engine: wasmtime with the pooling allocator, the host functions of the
    /// contract, and the inert subset of WASI that Rust's standard library links.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        config
            .default_limits
            .validate(config.max_memory_bytes_ceiling)?;
        let wasmtime = wasmtime::Engine::new(&limits::wasmtime_config(&config))
            .map_err(EngineError::Wasmtime)?;
        let mut linker = Linker::new(&wasmtime);
        bindings::add_to_linker(&mut linker).map_err(EngineError::Wasmtime)?;
        std_shim::add_to_linker(&mut linker).map_err(EngineError::Wasmtime)?;
        let ticker = ticker::EpochTicker::start(wasmtime.clone(), config.epoch_tick);
        Ok(Engine {
            inner: Arc::new(Inner {
                wasmtime,
                linker,
                config,
                _ticker: ticker,
                outcomes: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Gives policies the node's outcome counts (once; later calls change nothing).
    pub fn attach_outcomes(&self, outcomes: Arc<crate::outcomes::Outcomes>) {
        let _ = self.inner.outcomes.set(outcomes);
    }

    /// The underlying wasmtime engine (for precompilation and compatibility hashing).
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }
}
