//! The inert subset of WASI 0.2 that Rust's standard library links into every `wasm32-wasip2`
//! policy, implemented without a `WasiCtx`.
//!
//! A policy gets: empty environment and arguments, no working directory, stdin at end of
//! stream, stdout and stderr captured into the decision (capped; a Rust panic message lands
//! here and is reported with the trap), no terminal, and `exit` as a trap. There is no
//! filesystem, network, clock or randomness: a policy that imports those is refused at load
//! time (see `imports.rs`), so a decision can only depend on its inputs and its config.
//!
//! One seed is given: `wasi:random/insecure-seed`, which std's `HashMap` (and `serde_json`'s
//! ordered map, through `indexmap`) asks for once to key its hasher. It is the same constant for
//! every decision, so a policy's hash maps iterate in the same order every time and decisions
//! stay a function of their inputs; what is lost is only hash-flooding resistance inside one
//! short, memory-capped decision.
//!
//! Resources need no table: every stream is a fixed handle (`rep`) and dropping one does nothing.

use super::state::DecisionState;
use wasmtime::component::{ComponentType, Lift, Linker, Lower, Resource, ResourceType};
use wasmtime::{Result, StoreContextMut};

/// The WASI version these are registered under; semver-compatible imports (any 0.2.x) match.
const V: &str = "0.2.6";

struct IoError;
struct Pollable;
struct InputStream;
struct OutputStream;
struct TerminalInput;
struct TerminalOutput;

/// What every decision's `insecure-seed` returns (see the module doc).
const INSECURE_SEED: (u64, u64) = (0x7461_696c_6f72_2d68, 0x6173_682d_7365_6564);

const STDOUT: u32 = 1;
const STDERR: u32 = 2;

#[derive(ComponentType, Lift, Lower)]
#[component(variant)]
enum StreamError {
    #[component(name = "last-operation-failed")]
    LastOperationFailed(Resource<IoError>),
    #[component(name = "closed")]
    Closed,
}

type Ctx<'a> = StoreContextMut<'a, DecisionState>;

fn no_drop(_: Ctx<'_>, _rep: u32) -> Result<()> {
    Ok(())
}

pub(crate) fn add_to_linker(linker: &mut Linker<DecisionState>) -> Result<()> {
    let mut error = linker.instance(&format!("wasi:io/error@{V}"))?;
    error.resource("error", ResourceType::host::<IoError>(), no_drop)?;
    error.func_wrap(
        "[method]error.to-debug-string",
        |_: Ctx, (_,): (Resource<IoError>,)| Ok((String::from("closed"),)),
    )?;

    let mut poll = linker.instance(&format!("wasi:io/poll@{V}"))?;
    poll.resource("pollable", ResourceType::host::<Pollable>(), no_drop)?;
    poll.func_wrap(
        "[method]pollable.ready",
        |_: Ctx, (_,): (Resource<Pollable>,)| Ok((true,)),
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |_: Ctx, (_,): (Resource<Pollable>,)| Ok(()),
    )?;
    poll.func_wrap("poll", |_: Ctx, (list,): (Vec<Resource<Pollable>>,)| {
        Ok(((0..list.len() as u32).collect::<Vec<u32>>(),))
    })?;

    add_streams(linker)?;

    let mut stdin = linker.instance(&format!("wasi:cli/stdin@{V}"))?;
    stdin.func_wrap("get-stdin", |_: Ctx, (): ()| {
        Ok((Resource::<InputStream>::new_own(0),))
    })?;
    let mut stdout = linker.instance(&format!("wasi:cli/stdout@{V}"))?;
    stdout.func_wrap("get-stdout", |_: Ctx, (): ()| {
        Ok((Resource::<OutputStream>::new_own(STDOUT),))
    })?;
    let mut stderr = linker.instance(&format!("wasi:cli/stderr@{V}"))?;
    stderr.func_wrap("get-stderr", |_: Ctx, (): ()| {
        Ok((Resource::<OutputStream>::new_own(STDERR),))
    })?;

    let mut env = linker.instance(&format!("wasi:cli/environment@{V}"))?;
    env.func_wrap("get-environment", |_: Ctx, (): ()| {
        Ok((Vec::<(String, String)>::new(),))
    })?;
    env.func_wrap("get-arguments", |_: Ctx, (): ()| {
        Ok((Vec::<String>::new(),))
    })?;
    env.func_wrap("initial-cwd", |_: Ctx, (): ()| Ok((None::<String>,)))?;

    let mut seed = linker.instance(&format!("wasi:random/insecure-seed@{V}"))?;
    seed.func_wrap("insecure-seed", |_: Ctx, (): ()| Ok(((INSECURE_SEED),)))?;

    let mut exit = linker.instance(&format!("wasi:cli/exit@{V}"))?;
    exit.func_wrap(
        "exit",
        |_: Ctx, (status,): (std::result::Result<(), ()>,)| -> Result<()> {
            Err(wasmtime::Error::msg(format!(
                "policy called exit ({})",
                if status.is_ok() { "ok" } else { "error" }
            )))
        },
    )?;

    let mut input = linker.instance(&format!("wasi:cli/terminal-input@{V}"))?;
    input.resource(
        "terminal-input",
        ResourceType::host::<TerminalInput>(),
        no_drop,
    )?;
    let mut output = linker.instance(&format!("wasi:cli/terminal-output@{V}"))?;
    output.resource(
        "terminal-output",
        ResourceType::host::<TerminalOutput>(),
        no_drop,
    )?;
    for (name, func) in [
        ("terminal-stdout", "get-terminal-stdout"),
        ("terminal-stderr", "get-terminal-stderr"),
    ] {
        linker
            .instance(&format!("wasi:cli/{name}@{V}"))?
            .func_wrap(func, |_: Ctx, (): ()| {
                Ok((None::<Resource<TerminalOutput>>,))
            })?;
    }
    linker
        .instance(&format!("wasi:cli/terminal-stdin@{V}"))?
        .func_wrap("get-terminal-stdin", |_: Ctx, (): ()| {
            Ok((None::<Resource<TerminalInput>>,))
        })?;
    Ok(())
}

type Written = Result<(std::result::Result<(), StreamError>,)>;

fn write(mut ctx: Ctx<'_>, stream: &Resource<OutputStream>, bytes: &[u8]) -> Written {
    if matches!(stream.rep(), STDOUT | STDERR) {
        ctx.data_mut().capture_stdio(bytes);
    }
    Ok((Ok(()),))
}

fn add_streams(linker: &mut Linker<DecisionState>) -> Result<()> {
    let mut s = linker.instance(&format!("wasi:io/streams@{V}"))?;
    s.resource("input-stream", ResourceType::host::<InputStream>(), no_drop)?;
    s.resource(
        "output-stream",
        ResourceType::host::<OutputStream>(),
        no_drop,
    )?;

    for name in [
        "[method]input-stream.read",
        "[method]input-stream.blocking-read",
    ] {
        s.func_wrap(name, |_: Ctx, (_, _): (Resource<InputStream>, u64)| {
            Ok((Err::<Vec<u8>, _>(StreamError::Closed),))
        })?;
    }
    for name in [
        "[method]input-stream.skip",
        "[method]input-stream.blocking-skip",
    ] {
        s.func_wrap(name, |_: Ctx, (_, _): (Resource<InputStream>, u64)| {
            Ok((Err::<u64, _>(StreamError::Closed),))
        })?;
    }
    s.func_wrap(
        "[method]input-stream.subscribe",
        |_: Ctx, (_,): (Resource<InputStream>,)| Ok((Resource::<Pollable>::new_own(0),)),
    )?;

    s.func_wrap(
        "[method]output-stream.check-write",
        |_: Ctx, (_,): (Resource<OutputStream>,)| Ok((Ok::<u64, StreamError>(4096),)),
    )?;
    for name in [
        "[method]output-stream.write",
        "[method]output-stream.blocking-write-and-flush",
    ] {
        s.func_wrap(
            name,
            |ctx: Ctx, (stream, bytes): (Resource<OutputStream>, Vec<u8>)| {
                write(ctx, &stream, &bytes)
            },
        )?;
    }
    for name in [
        "[method]output-stream.flush",
        "[method]output-stream.blocking-flush",
    ] {
        s.func_wrap(name, |_: Ctx, (_,): (Resource<OutputStream>,)| {
            Ok((Ok::<(), StreamError>(()),))
        })?;
    }
    for name in [
        "[method]output-stream.write-zeroes",
        "[method]output-stream.blocking-write-zeroes-and-flush",
    ] {
        s.func_wrap(name, |_: Ctx, (_, _): (Resource<OutputStream>, u64)| {
            Ok((Ok::<(), StreamError>(()),))
        })?;
    }
    for name in [
        "[method]output-stream.splice",
        "[method]output-stream.blocking-splice",
    ] {
        s.func_wrap(
            name,
            |_: Ctx, (_, _, _): (Resource<OutputStream>, Resource<InputStream>, u64)| {
                Ok((Err::<u64, _>(StreamError::Closed),))
            },
        )?;
    }
    s.func_wrap(
        "[method]output-stream.subscribe",
        |_: Ctx, (_,): (Resource<OutputStream>,)| Ok((Resource::<Pollable>::new_own(0),)),
    )?;
    Ok(())
}
