//! Tries to carry state from one decision to the next: a global counter it increments and the
//! customer id it saw last, both in linear memory. In a fresh instance per decision the counter
//! is always 1 and there is never a previous customer; anything else is a leak between
//! customers.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

static DECISIONS: AtomicU64 = AtomicU64::new(0);
static LAST_CUSTOMER: Mutex<Option<String>> = Mutex::new(None);

struct Remembers;

impl Policy for Remembers {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let seen = DECISIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let customer = request.profile.customer_id().unwrap_or_default().to_owned();
        let previous = LAST_CUSTOMER
            .lock()
            .map(|mut last| last.replace(customer.clone()))
            .unwrap_or_default();
        Ok(Decision::new(Reason::Static)
            .render("decisions_seen", seen.to_string())
            .render("previous_customer", previous.unwrap_or_default())
            .render("customer", customer))
    }
}

tailor_guest::export_policy!(Remembers);
