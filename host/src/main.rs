//! `tailor`: the edge personalization runtime. Parses arguments and hands off to a command.

mod commands;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    commands::init_logging(&cli.global);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            // The CLI's own failure message; logs may be filtered out.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("error: {error:#}\n"),
            );
            ExitCode::from(1)
        }
    }
}
