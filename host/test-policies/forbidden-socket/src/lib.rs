//! Tries to call home over TCP; the host must refuse to load it.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct CallHome;

impl Policy for CallHome {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let reached = std::net::TcpStream::connect("203.0.113.7:443").is_ok();
        Ok(Decision::new(Reason::Static).render("reached", reached.to_string()))
    }
}

tailor_guest::export_policy!(CallHome);
