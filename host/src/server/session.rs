//! Console sessions: a token traded once for a cookie, so the browser never holds the token.
//!
//! The cookie (`tailor_session`) is `HttpOnly` (no script reads it), `SameSite=Strict` (no
//! other site's page sends it) and `Path=/`; a change made with it must also carry the
//! session's CSRF token in `X-Tailor-Csrf`, which only the console's own script learns (from
//! the sign-in answer). Sessions live in memory: a restart signs everyone out.

use super::auth::Role;
use std::collections::HashMap;
use std::sync::Mutex;

/// The session cookie's name.
pub(super) const COOKIE: &str = "tailor_session";
/// The header a change made with a session cookie must carry.
pub(super) const CSRF_HEADER: &str = "x-tailor-csrf";
/// How long a session lasts from sign-in.
pub(super) const LIFETIME_MS: i64 = 8 * 3_600_000;
/// Sessions held at most; signing in beyond it ends the one closest to expiry.
const MAX_SESSIONS: usize = 1024;

/// One signed-in console.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Session {
    pub role: Role,
    pub csrf: String,
    pub expires_at_ms: i64,
}

/// The node's console sessions, by id.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `role`: its id (the cookie's value) and the session.
    pub fn start(&self, role: Role, now_ms: i64) -> Result<(String, Session), getrandom::Error> {
        let id = random_hex()?;
        let session = Session {
            role,
            csrf: random_hex()?,
            expires_at_ms: now_ms + LIFETIME_MS,
        };
        let mut by_id = self.lock();
        by_id.retain(|_, s| s.expires_at_ms > now_ms);
        if by_id.len() >= MAX_SESSIONS
            && let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, s)| s.expires_at_ms)
                .map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut by_id = self.lock();
        match by_id.get(id) {
            Some(session) if session.expires_at_ms > now_ms => Some(session.clone()),
            Some(_) => {
                by_id.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding this map leaves it consistent (every change is one call).
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The value of cookie `name` in a `Cookie` header.
pub(super) fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// The `Set-Cookie` value that starts a session (`Secure` when the console is reached over
/// HTTPS, as a TLS-terminating proxy says with `X-Forwarded-Proto`).
pub(super) fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends it.
pub(super) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start(Role::Editor, 1_000).unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(session.csrf, id);
        assert_eq!(sessions.get(&id, 2_000), Some(session.clone()));
        assert_eq!(sessions.get(&id, 1_000 + LIFETIME_MS), None);
        let (id, _) = sessions.start(Role::Admin, 1_000).unwrap();
        sessions.end(&id);
        assert_eq!(sessions.get(&id, 2_000), None);
        assert_eq!(sessions.get("not-a-session", 2_000), None);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_set_strictly() {
        assert_eq!(cookie("a=1; tailor_session=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie("tailor_sessionx=abc", COOKIE), None);
        let set = set_cookie("abc", false);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(!set.contains("Secure"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
    }
}
