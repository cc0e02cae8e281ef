//! Layering: flags over environment variables (both read by clap, which knows which options
//! they set) over the `--config` file over the defaults written on [`ServeConfig`]'s fields.

use super::{ConfigError, Result, ServeConfig, invalid};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value};
use std::path::Path;

/// The options as the command line and the environment give them: every option (clap's default
/// where neither sets it), and which ones they set; those win over the file.
#[derive(Debug, Clone)]
pub struct ServeFlags {
    options: ServeConfig,
    set: Vec<String>,
}

impl Args for ServeFlags {
    fn augment_args(cmd: Command) -> Command {
        ServeConfig::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        ServeConfig::augment_args_for_update(cmd)
    }
}

impl FromArgMatches for ServeFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let set = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| {
                matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .map(str::to_owned)
            .collect();
        Ok(ServeFlags {
            options: ServeConfig::from_arg_matches(matches)?,
            set,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = ServeFlags::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Default for ServeConfig {
    /// The defaults `--help` shows, with no flag or environment variable read.
    #[expect(
        clippy::expect_used,
        reason = "the defaults are literals on the fields; a unit test parses them"
    )]
    fn default() -> Self {
        let command = ServeConfig::augment_args(Command::new("defaults").no_binary_name(true))
            .mut_args(|arg| arg.env(None));
        command
            .try_get_matches_from(std::iter::empty::<&str>())
            .and_then(|matches| ServeConfig::from_arg_matches(&matches))
            .expect("the default of every option parses")
    }
}

impl ServeConfig {
    /// The configuration `tailor serve` runs with: the options `flags` set, over the TOML file
    /// at `file`, over the defaults; validated.
    pub fn load(flags: ServeFlags, file: Option<&Path>) -> Result<ServeConfig> {
        let text = file
            .map(|path| {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            })
            .transpose()?;
        layer(flags, file.zip(text.as_deref()))
    }

    /// A TOML file over the defaults, validated.
    pub fn read(path: &Path) -> Result<ServeConfig> {
        ServeConfig::load(ServeFlags::defaults(), Some(path))
    }

    /// TOML text over the defaults, validated (errors call it `<text>`).
    pub fn from_toml(text: &str) -> Result<ServeConfig> {
        layer(ServeFlags::defaults(), Some((Path::new("<text>"), text)))
    }
}

impl ServeFlags {
    /// No flags and no variables: only the defaults.
    fn defaults() -> ServeFlags {
        ServeFlags {
            options: ServeConfig::default(),
            set: Vec::new(),
        }
    }
}

/// Every key of the file that no flag or variable set replaces the value `flags` hold.
fn layer(flags: ServeFlags, file: Option<(&Path, &str)>) -> Result<ServeConfig> {
    let config = match file {
        None => flags.options,
        Some((path, text)) => {
            let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            let mut merged = to_map(&flags.options)?;
            for (key, value) in table {
                if !merged.contains_key(&key) {
                    return Err(ConfigError::UnknownKey {
                        path: path.to_owned(),
                        key,
                    });
                }
                if flags.set.contains(&key) {
                    continue;
                }
                let value =
                    serde_json::to_value(value).map_err(|e| invalid(&key, e.to_string()))?;
                merged.insert(key, value);
            }
            serde_path_to_error::deserialize(Value::Object(merged))
                .map_err(|e| invalid(&e.path().to_string(), e.inner().to_string()))?
        }
    };
    config.validate()?;
    Ok(config)
}

/// The options as a map from key to value, the shape the file's table is merged into.
fn to_map(options: &ServeConfig) -> Result<Map<String, Value>> {
    match serde_path_to_error::serialize(options, serde_json::value::Serializer) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid(".", "the options are not a table")),
        // A path that is not UTF-8, for example.
        Err(e) => Err(invalid(&e.path().to_string(), e.inner().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    /// `tailor serve`'s options, environment variables read only when `env` is true (so that
    /// a variable set where the tests run changes no other test).
    fn command(env: bool) -> Command {
        let command = ServeFlags::augment_args(Command::new("serve").no_binary_name(true));
        if env {
            command
        } else {
            command.mut_args(|arg| arg.env(None))
        }
    }

    fn flags(args: &[&str]) -> ServeFlags {
        let matches = command(false).try_get_matches_from(args).unwrap();
        ServeFlags::from_arg_matches(&matches).unwrap()
    }

    fn refused_flags(args: &[&str]) -> String {
        command(false)
            .try_get_matches_from(args)
            .unwrap_err()
            .to_string()
    }

    fn layered(args: &[&str], file: &str) -> Result<ServeConfig> {
        layer(flags(args), Some((Path::new("serve.toml"), file)))
    }

    #[test]
    fn defaults_are_those_help_shows() {
        let config = ServeConfig::default();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.data_dir, PathBuf::from("tailor-data"));
        assert_eq!(config.max_slots, 20);
        assert_eq!(config.deadline_ms, 10);
        assert!(config.seed_bundled);
        assert_eq!(config.require_signatures, None);
        assert_eq!(config, layer(flags(&[]), None).unwrap());
        let help = command(false).render_long_help().to_string();
        for shown in [
            "[default: 127.0.0.1:8080]",
            "[default: 20]",
            "[default: 0.01]",
            "[default: true]",
        ] {
            assert!(help.contains(shown), "--help lacks {shown}:\n{help}");
        }
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let config = layered(
            &["--max-slots", "9", "--seed-bundled"],
            "max_slots = 5\ndeadline_ms = 7\nseed_bundled = false\n",
        )
        .unwrap();
        assert_eq!(config.max_slots, 9);
        assert!(config.seed_bundled);
        assert_eq!(config.deadline_ms, 7);
        assert_eq!(config.keep_versions, 5);
        // A flag given its default value still wins.
        let config = layered(&["--max-slots", "20"], "max_slots = 5\n").unwrap();
        assert_eq!(config.max_slots, 20);
        // Lists too: the flag's list replaces the file's.
        let config = layered(
            &["--trusted-key", "a.pub", "--trusted-key", "b.pub"],
            "trusted_keys = [\"file.pub\"]\n",
        )
        .unwrap();
        assert_eq!(
            config.trusted_keys,
            [PathBuf::from("a.pub"), PathBuf::from("b.pub")]
        );
        let config = layered(&[], "trusted_keys = [\"file.pub\"]\n").unwrap();
        assert_eq!(config.trusted_keys, [PathBuf::from("file.pub")]);
        assert!(config.signatures_required());
    }

    #[test]
    fn bools_are_bare_flags_explicit_values_and_toml_booleans() {
        let config = layered(&["--require-signatures", "--trusted-key", "k.pub"], "").unwrap();
        assert_eq!(config.require_signatures, Some(true));
        for (args, seeded) in [
            (&["--seed-bundled"][..], true),
            (&["--seed-bundled", "false"], false),
            (&["--seed-bundled=0"], false),
            (&["--seed-bundled", "yes"], true),
            (&[], true),
        ] {
            assert_eq!(flags(args).options.seed_bundled, seeded, "{args:?}");
        }
        let config = layered(&[], "require_signatures = false\nseed_bundled = false\n").unwrap();
        assert_eq!(config.require_signatures, Some(false));
        assert!(!config.seed_bundled);
        let err = refused_flags(&["--seed-bundled", "maybe"]);
        assert!(err.contains("--seed-bundled"), "{err}");
    }

    #[test]
    fn listen_takes_a_host_name() {
        let config = layered(&["--listen", "localhost:8081"], "").unwrap();
        assert!(config.listen.ip().is_loopback(), "{}", config.listen);
        assert_eq!(config.listen.port(), 8081);
        let config = layered(&[], "listen = \"localhost:9\"\n").unwrap();
        assert_eq!(config.listen.port(), 9);
        let err = refused_flags(&["--listen", "nowhere"]);
        assert!(err.contains("--listen"), "{err}");
        let err = layered(&[], "listen = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config key `listen`: "), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused_by_name() {
        let err = layered(&[], "listen = \"127.0.0.1:1\"\nmax_slotz = 3\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "config file serve.toml: unknown key `max_slotz`");
        // `--config` is not a key of the file it names.
        let err = layered(&[], "config = \"other.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `config`"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_whichever_layer_they_come_from() {
        for (file, key) in [
            ("deadline_ms = \"ten\"\n", "deadline_ms"),
            ("deadline_ms = -1\n", "deadline_ms"),
            ("max_slots = 0\n", "max_slots"),
            ("trusted_keys = \"one.pub\"\n", "trusted_keys"),
            ("follow = [\"no-equals-sign\"]\n", "follow"),
            ("seed_bundled = \"no\"\n", "seed_bundled"),
        ] {
            let err = layered(&[], file).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("config key `{key}")),
                "{file}: {err}"
            );
        }
        let err = layered(&["--max-slots", "0"], "").unwrap_err().to_string();
        assert!(err.starts_with("config key `max_slots`: "), "{err}");
        let err = refused_flags(&["--deadline-ms", "ten"]);
        assert!(err.contains("--deadline-ms"), "{err}");
        let err = layered(&[], "max_slots = 3\n[nested]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `nested`"), "{err}");
        let err = layered(&[], "max_slots = \n").unwrap_err().to_string();
        assert!(err.starts_with("config file serve.toml: "), "{err}");
    }

    #[test]
    fn follow_entries_survive_the_layering() {
        let config = layered(
            &[],
            "follow = [\"hero-banner=https://registry.local:5000/retail/hero-banner:stable\"]\n",
        )
        .unwrap();
        assert_eq!(config.follow.len(), 1);
        assert_eq!(config.follow[0].name, "hero-banner");
        assert_eq!(config.follow[0].reference.reference, "stable");
        let config = layered(
            &["--follow", "a=registry.local/x:1,b=registry.local/y:2"],
            "follow = [\"c=registry.local/z:3\"]\n",
        )
        .unwrap();
        let names: Vec<_> = config.follow.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = ServeConfig::read(Path::new("/nonexistent/tailor.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "config file /nonexistent/tailor.toml");
    }

    /// Set in the child process [`variables_sit_between_flags_and_the_file`] runs itself in.
    const CHILD: &str = "TAILOR_CONFIG_TEST_CHILD";

    /// Environment variables are process-wide: this test runs itself again in a child process
    /// with the variables set, and the child does the checking.
    #[test]
    fn variables_sit_between_flags_and_the_file() {
        if std::env::var_os(CHILD).is_none() {
            let name = "config::load::tests::variables_sit_between_flags_and_the_file";
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            // Only the variables below, none the tests happen to run with.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("TAILOR_") {
                    child.env_remove(key);
                }
            }
            let output = child
                .args([name, "--exact", "--test-threads=1"])
                .env(CHILD, "1")
                .env("TAILOR_MAX_SLOTS", "8")
                .env("TAILOR_DEADLINE_MS", "4")
                .env("TAILOR_REQUIRE_SIGNATURES", "1")
                .env("TAILOR_TRUSTED_KEYS", "a.pub,b.pub")
                .env("TAILOR_SEED_BUNDLED", "false")
                .env("TAILOR_LISTEN", "localhost:8082")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "the child failed or did not run:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        let matches = command(true)
            .try_get_matches_from(["--deadline-ms", "3"])
            .unwrap();
        let config = layer(
            ServeFlags::from_arg_matches(&matches).unwrap(),
            Some((
                Path::new("serve.toml"),
                "max_slots = 5\ndeadline_ms = 2\nseed_bundled = true\nkeep_versions = 2\n",
            )),
        )
        .unwrap();
        assert_eq!(config.max_slots, 8, "the variable beats the file");
        assert_eq!(config.deadline_ms, 3, "the flag beats the variable");
        assert_eq!(config.keep_versions, 2, "the file beats the default");
        assert_eq!(config.require_signatures, Some(true));
        assert_eq!(
            config.trusted_keys,
            [PathBuf::from("a.pub"), PathBuf::from("b.pub")]
        );
        assert!(!config.seed_bundled);
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.listen.port(), 8082);
    }
}
