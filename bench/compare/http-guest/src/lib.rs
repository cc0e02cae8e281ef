//! The hero-banner decision as a `wasi:http/proxy` component, so `wasmtime serve` can be measured
//! against `tailor serve` on the same decision.
//!
//! `wasmtime serve` has no profile store, so the request carries what tailor reads from its
//! cached profile (consent, loyalty tier, segments) next to the customer id:
//!
//! ```json
//! {"unit":{"customer_id":"cust-000042"},"slot":"hero",
//!  "profile":{"consent":true,"tier":"gold","segments":["cart_abandoner"]}}
//! ```
//!
//! The logic follows `policies/hero-banner` step by step (consent, tier, first segment in
//! document order, the 50/50 experiment bucketed with tailor-bucketing v1, the default) over the
//! same `config.json`, parsed per request because every request gets a fresh instance, as in
//! tailor. The answer has the fields of one tailor slot: variant, reason, experiment, ttl and the
//! rendered creative.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const CONFIG: &str = include_str!("../../../../policies/hero-banner/config.json");
const MAX_BODY: u64 = 64 * 1024;

#[derive(Deserialize)]
struct DecideRequest {
    unit: Unit,
    slot: String,
    #[serde(default)]
    profile: Profile,
}

#[derive(Deserialize)]
struct Unit {
    customer_id: String,
}

#[derive(Default, Deserialize)]
struct Profile {
    #[serde(default)]
    consent: bool,
    tier: Option<String>,
    #[serde(default)]
    segments: Vec<String>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn object<'a>(value: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    value.pointer(pointer).and_then(Value::as_object)
}

fn decide(request: &DecideRequest, config: &Value) -> Result<Value, String> {
    let default = || {
        text(config, "/default_variant")
            .map(str::to_owned)
            .ok_or("config: /default_variant is missing")
    };
    let profile = &request.profile;
    let mut experiment = None;
    let (variant, reason) = 'choose: {
        if !profile.consent {
            break 'choose (default()?, "DEFAULT");
        }
        if let Some(variant) = profile
            .tier
            .as_deref()
            .and_then(|tier| object(config, "/tier_variants")?.get(tier)?.as_str())
        {
            break 'choose (variant.to_owned(), "TARGETING_MATCH");
        }
        for (segment, variant) in object(config, "/segment_variants").into_iter().flatten() {
            if profile.segments.iter().any(|s| s == segment) {
                let variant = variant
                    .as_str()
                    .ok_or_else(|| format!("config: /segment_variants/{segment} is not text"))?;
                break 'choose (variant.to_owned(), "TARGETING_MATCH");
            }
        }
        if let (Some(key), Some(arms)) = (
            text(config, "/experiment/key"),
            object(config, "/experiment/arms"),
        ) {
            let unit = &request.unit.customer_id;
            let bucket = tailor_bucketing::bucket(key, unit);
            let weights = arms
                .values()
                .map(|w| w.as_f64().unwrap_or(0.0).max(0.0) as u32);
            if let Some(index) = tailor_bucketing::choose_weighted(bucket, weights) {
                let (variant, _) = arms.iter().nth(index).ok_or("arm index")?;
                experiment = Some(json!({"key": key, "variant": variant, "bucket": bucket}));
                break 'choose (variant.clone(), "SPLIT");
            }
        }
        (default()?, "DEFAULT")
    };
    let creative = object(config, &format!("/variants/{variant}"))
        .ok_or_else(|| format!("config: variant {variant:?} has no creative"))?;
    let render: Map<String, Value> = creative
        .iter()
        .filter(|(_, v)| v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut slot = json!({
        "id": request.slot,
        "policy": "hero-banner",
        "variant": variant,
        "reason": reason,
        "render": render,
    });
    if let Some(ttl) = config.pointer("/ttl_seconds").and_then(Value::as_u64) {
        slot["ttl_seconds"] = ttl.into();
    }
    if let Some(experiment) = experiment {
        slot["experiment"] = experiment;
    }
    Ok(json!({ "slots": [slot] }))
}

fn read_body(request: IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request
        .consume()
        .map_err(|()| "request body already taken")?;
    let stream = body
        .stream()
        .map_err(|()| "request body stream already taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(16 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > MAX_BODY {
                    return Err(format!("body: over {MAX_BODY} bytes"));
                }
            }
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("body: {e:?}")),
        }
    }
    Ok(bytes)
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"application/json".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

struct HeroBanner;

impl wasip2::exports::http::incoming_handler::Guest for HeroBanner {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let result = read_body(request).and_then(|bytes| {
            let request: DecideRequest =
                serde_json::from_slice(&bytes).map_err(|e| format!("request: {e}"))?;
            let config: Value = serde_json::from_str(CONFIG).map_err(|e| format!("config: {e}"))?;
            decide(&request, &config)
        });
        match result {
            Ok(answer) => respond(out, 200, answer.to_string().as_bytes()),
            Err(error) => respond(out, 400, json!({ "error": error }).to_string().as_bytes()),
        }
    }
}

wasip2::http::proxy::export!(HeroBanner);
