//! `tailor`: the edge personalization runtime. Parses arguments and hands off to a command.

mod commands;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the request threads allocate what the outcome thread
/// frees, and glibc's per-arena locks made that cross-thread traffic cost a sixth of the
/// decisions per second (docs/benchmarks.md, "The loop").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::init_logging(&cli.global).and_then(|()| commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // The CLI's own failure message, printed once (not also logged: logs may be filtered
            // out, and a user would read it twice).
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("error: {error:#}\n"),
            );
            ExitCode::from(1)
        }
    }
}
