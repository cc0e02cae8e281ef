//! `tailor`: the edge personalization runtime. Parses arguments and hands off to a command.

mod commands;

use clap::Parser;
use std::process::ExitCode;

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
