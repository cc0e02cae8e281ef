//! What can go wrong setting up the engine, loading a policy, or running a decision.

use std::fmt;

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid limit `{field}`: {reason}")]
    InvalidLimit { field: &'static str, reason: String },
    #[error("wasmtime could not be configured")]
    Wasmtime(#[source] wasmtime::Error),
}

/// A policy was refused at load time. Nothing of it is ever run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("policy `{name}` is not a valid Wasm component")]
    NotAComponent {
        name: String,
        #[source]
        source: wasmtime::Error,
    },
    #[error(
        "policy `{name}` imports `{import}`, which tailor does not provide: {why}{}",
        also(others)
    )]
    ForbiddenImport {
        name: String,
        import: String,
        why: &'static str,
        /// Further forbidden imports, less serious than `import`.
        others: Vec<String>,
    },
    #[error("policy `{name}` does not implement the tailor:policy/policy world (0.1.0 or 0.2.0)")]
    WrongWorld {
        name: String,
        #[source]
        source: wasmtime::Error,
    },
    #[error("policy `{name}` has an invalid config document: {reason}")]
    InvalidConfig { name: String, reason: String },
    #[error("policy `{name}`: {source}")]
    InvalidLimits {
        name: String,
        #[source]
        source: EngineError,
    },
}

fn also(others: &[String]) -> String {
    if others.is_empty() {
        String::new()
    } else {
        format!(" (also imports {})", others.join(", "))
    }
}

/// Why a decision fell back. Stable, machine-readable, and a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The policy used its deadline of CPU time (or its wall-clock ceiling).
    Timeout,
    /// The policy tried to grow its memory past the cap.
    MemoryLimit,
    /// The policy exhausted its call stack.
    StackOverflow,
    /// The policy trapped (a panic, an unreachable, an out-of-bounds access …).
    Trap,
    /// The policy returned a decision tailor refuses (non-finite score, empty id …).
    InvalidOutput,
    /// The policy returned a decision larger than its output cap.
    OutputTooLarge,
    /// The policy returned an error of its own (its code is in the message).
    PolicyError,
    /// No instance slot or decision thread was free in time.
    Capacity,
    /// The policy was over its share of the decision threads (its CPU per second, its bound on
    /// decisions at once, or its weight against busier policies) for as long as the slot could
    /// wait; nothing of it ran.
    OverBudget,
    /// The instance could not be created for another reason.
    Instantiate,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::MemoryLimit => "memory_limit",
            ErrorCode::StackOverflow => "stack_overflow",
            ErrorCode::Trap => "trap",
            ErrorCode::InvalidOutput => "invalid_output",
            ErrorCode::OutputTooLarge => "output_too_large",
            ErrorCode::PolicyError => "policy_error",
            ErrorCode::Capacity => "capacity",
            ErrorCode::OverBudget => "over_budget",
            ErrorCode::Instantiate => "instantiate",
        }
    }
}

impl ErrorCode {
    /// The policy never ran (no slot or thread in time, or over its share): not its failure.
    pub fn never_ran(self) -> bool {
        matches!(self, ErrorCode::Capacity | ErrorCode::OverBudget)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A decision that did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{code}: {message}")]
pub struct DecisionError {
    pub code: ErrorCode,
    /// What happened, including the guest's own message (panic text, error code) when it gave one.
    pub message: String,
}

impl DecisionError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DecisionError {
            code,
            message: message.into(),
        }
    }
}
