//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, as committed in
//! `docs/openapi.json` and embedded in the binary.
//!
//! The document is written by hand, once, and checked against the code from both sides: the
//! tests beside this file walk every method and path the route parser accepts (and each `Allow`
//! list) against the document's operations and compare the document's request schemas with the
//! field names serde itself reads; `tests/openapi.rs` runs schemathesis against the real binary,
//! which checks every answer's status, content type and body against the document.

use super::{Response, json};
use hyper::StatusCode;

/// The document, byte for byte as `docs/openapi.json` holds it.
pub(super) const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

pub(super) fn serve() -> Response {
    json(StatusCode::OK, DOCUMENT.to_owned())
}

#[cfg(test)]
mod tests;
