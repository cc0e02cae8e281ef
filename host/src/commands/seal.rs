//! `tailor seal`: seal a file (a profile snapshot export) with the data key, so the node can
//! read it and nothing else on the device can; and `--data-key` as every command shares it.

use anyhow::{Context as _, bail};
use clap::{ArgMatches, Args, Command, FromArgMatches};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::config::ServeConfig;
use tailor_host::privacy::{DataKey, KeySource, is_sealed, seal_into_place};

#[derive(Debug, Args)]
pub struct SealArgs {
    #[command(flatten)]
    pub key: DataKeyOption,
    /// The file to seal: the snapshot export (NDJSON, gzip or not), as the customer data
    /// platform wrote it; `-` reads stdin, so a download never lands on disk in the clear.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Where the sealed file goes (written aside and renamed into place, so a node watching
    /// it never reads half of it).
    #[arg(value_name = "OUTPUT")]
    pub output: PathBuf,
}

pub fn run(args: SealArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.load()?;
    let input = &args.input;
    let stdin = input.as_os_str() == "-";
    let source: Box<dyn std::io::Read> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(input)
                .with_context(|| format!("cannot open {}", input.display()))?,
        )
    };
    let mut reader = BufReader::new(source);
    let first = reader
        .fill_buf()
        .with_context(|| format!("cannot read {}", input.display()))?;
    if is_sealed(first) {
        bail!("{} is sealed already", input.display());
    }
    if !stdin && same_file(input, &args.output) {
        bail!(
            "{} is both the input and the output; seal into another file",
            input.display()
        );
    }
    seal_into_place(&args.output, &key, |out| copy(&mut reader, input, out))?;
    writeln!(
        std::io::stdout().lock(),
        "sealed {} into {} with data key {}",
        input.display(),
        args.output.display(),
        key.key_id()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Copies `input` into `out`; a failure to read says it was the input, naming it.
fn copy(
    input: &mut impl std::io::Read,
    name: &Path,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(std::io::Error::new(
                    error.kind(),
                    format!("reading {}: {error}", name.display()),
                ));
            }
        };
        out.write_all(&buffer[..read])?;
    }
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `--data-key SOURCE` (env `TAILOR_DATA_KEY`), required: the very option `tailor serve`
/// defines on [`ServeConfig::data_key`], its help, variable and parser taken from there.
#[derive(Debug, Clone)]
pub struct DataKeyOption {
    pub source: KeySource,
}

/// The option's id, the name of its field on [`ServeConfig`].
const DATA_KEY: &str = "data_key";

impl DataKeyOption {
    /// Reads the key from its source.
    pub fn load(&self) -> anyhow::Result<DataKey> {
        Ok(DataKey::load(&self.source)?)
    }

    /// `tailor serve`'s `--data-key`.
    #[expect(
        clippy::expect_used,
        reason = "a field of ServeConfig, not input; a unit test checks it is found"
    )]
    fn serve_arg() -> clap::Arg {
        ServeConfig::augment_args(Command::new("serve"))
            .get_arguments()
            .find(|arg| arg.get_id() == DATA_KEY)
            .cloned()
            .expect("ServeConfig defines data_key")
    }
}

impl Args for DataKeyOption {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(DataKeyOption::serve_arg().required(true))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        DataKeyOption::augment_args(cmd)
    }
}

impl FromArgMatches for DataKeyOption {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let source = OptionalDataKey::from_arg_matches(matches)?
            .source
            .ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "--data-key <SOURCE> is required\n",
                )
            })?;
        Ok(DataKeyOption { source })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = DataKeyOption::from_arg_matches(matches)?;
        Ok(())
    }
}

/// `--data-key SOURCE`, optional: [`DataKeyOption`]'s very option for a command that works
/// with or without a key (`tailor push --partition` opens a sealed export with it and seals
/// each share with it).
#[derive(Debug, Clone, Default)]
pub struct OptionalDataKey {
    pub source: Option<KeySource>,
}

impl OptionalDataKey {
    /// Reads the key from its source, when one is given.
    pub fn load(&self) -> anyhow::Result<Option<DataKey>> {
        Ok(self.source.as_ref().map(DataKey::load).transpose()?)
    }
}

impl Args for OptionalDataKey {
    fn augment_args(cmd: Command) -> Command {
        cmd.arg(DataKeyOption::serve_arg().required(false))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        OptionalDataKey::augment_args(cmd)
    }
}

impl FromArgMatches for OptionalDataKey {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(OptionalDataKey {
            source: matches.get_one::<KeySource>(DATA_KEY).cloned(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = OptionalDataKey::from_arg_matches(matches)?;
        Ok(())
    }
}
