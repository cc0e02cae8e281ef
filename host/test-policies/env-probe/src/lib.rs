//! Looks for the host's environment, arguments and working directory; the host gives none.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct EnvProbe;

impl Policy for EnvProbe {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let vars = std::env::vars().count();
        let args = std::env::args().count();
        let home = std::env::var("HOME").unwrap_or_default();
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(Decision::new(Reason::Static)
            .render("vars", vars.to_string())
            .render("args", args.to_string())
            .render("home", home)
            .render("cwd", cwd))
    }
}

tailor_guest::export_policy!(EnvProbe);
