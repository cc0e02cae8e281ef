//! Per-decision limits and the wasmtime configuration that enforces them.

use super::{EngineConfig, EngineError};
use std::time::Duration;
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};

/// What one decision of a policy may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU-time budget of one decision, checked at every epoch tick (see `engine::decide`);
    /// the wall-clock ceiling is a multiple of it.
    pub deadline: Duration,
    /// Cap on the policy's linear memory; growing past it traps.
    pub max_memory_bytes: usize,
    /// Cap on the decision's payload (variant, item ids, render key/values), in bytes.
    pub max_output_bytes: usize,
    /// Cap on ranked items in one decision.
    pub max_items: usize,
    /// Log lines one decision may write; more are dropped and counted.
    pub max_log_lines: u32,
    /// Bytes of one log line kept; the rest is cut.
    pub max_log_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(10),
            max_memory_bytes: 16 << 20,
            max_output_bytes: 64 << 10,
            max_items: 100,
            max_log_lines: 16,
            max_log_line_bytes: 1024,
        }
    }
}

impl Limits {
    /// Checks the limits against what the engine can provide, naming the offending field.
    pub fn validate(&self, memory_ceiling: usize) -> Result<(), EngineError> {
        let invalid =
            |field: &'static str, reason: String| EngineError::InvalidLimit { field, reason };
        if self.deadline.is_zero() {
            return Err(invalid("deadline", "must be greater than zero".into()));
        }
        if self.max_memory_bytes < 64 << 10 {
            return Err(invalid(
                "max_memory_bytes",
                "must be at least one 64 KiB page".into(),
            ));
        }
        if self.max_memory_bytes > memory_ceiling {
            return Err(invalid(
                "max_memory_bytes",
                format!(
                    "{} exceeds the engine ceiling of {memory_ceiling}",
                    self.max_memory_bytes
                ),
            ));
        }
        if self.max_output_bytes == 0 {
            return Err(invalid(
                "max_output_bytes",
                "must be greater than zero".into(),
            ));
        }
        Ok(())
    }

    /// Epoch ticks that cover the deadline at a given tick length (at least two, so a decision
    /// that starts just before a tick still gets a full tick).
    pub(crate) fn deadline_ticks(&self, tick: Duration) -> u64 {
        let tick_ns = tick.as_nanos().max(1);
        (self.deadline.as_nanos().div_ceil(tick_ns) as u64).max(1) + 1
    }
}

/// Core instances (and tables) one decision's component may use.
pub(crate) const CORE_INSTANCES_PER_DECISION: u32 = 8;

pub(crate) fn wasmtime_config(config: &EngineConfig) -> wasmtime::Config {
    let mut pool = PoolingAllocationConfig::default();
    let slots = config.max_concurrent_decisions;
    // A `wasm32-wasip2` component holds several core instances (the policy's module plus the
    // shims that wire its imports) but one linear memory.
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_DECISION)
        .max_core_instances_per_component(CORE_INSTANCES_PER_DECISION)
        .total_memories(slots)
        .total_tables(slots * CORE_INSTANCES_PER_DECISION)
        .max_tables_per_component(CORE_INSTANCES_PER_DECISION)
        .max_memories_per_component(1)
        .max_memory_size(config.max_memory_bytes_ceiling)
        .linear_memory_keep_resident(config.memory_keep_resident_bytes)
        .pagemap_scan(if config.pagemap_scan {
            wasmtime::Enabled::Auto
        } else {
            wasmtime::Enabled::No
        })
        .table_keep_resident(config.table_keep_resident_bytes);

    let mut wasm = wasmtime::Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .max_wasm_stack(512 << 10)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Memory reservation stays at wasmtime's default (4 GiB of address space per slot plus
    // guard pages) so compiled code needs no explicit bounds checks; it costs address space only.
    wasm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up_and_add_one() {
        let limits = Limits {
            deadline: Duration::from_millis(10),
            ..Limits::default()
        };
        assert_eq!(limits.deadline_ticks(Duration::from_millis(1)), 11);
        let limits = Limits {
            deadline: Duration::from_micros(1500),
            ..Limits::default()
        };
        assert_eq!(limits.deadline_ticks(Duration::from_millis(1)), 3);
    }

    #[test]
    fn invalid_limits_name_the_field() {
        let limits = Limits {
            max_memory_bytes: 1 << 30,
            ..Limits::default()
        };
        let err = limits.validate(64 << 20).unwrap_err().to_string();
        assert!(err.contains("max_memory_bytes"), "{err}");
        let limits = Limits {
            deadline: Duration::ZERO,
            ..Limits::default()
        };
        assert!(
            limits
                .validate(64 << 20)
                .unwrap_err()
                .to_string()
                .contains("deadline")
        );
    }
}
