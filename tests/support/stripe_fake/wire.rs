//! Stripe's wire shapes in the fake: form decoding, the error body, idempotent answers,
//! ids, timestamps and webhook signatures.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Decoded form parameters, in request order.
pub(crate) type Params = Vec<(String, String)>;

/// An answer and whether Stripe would save it for idempotent replay.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) saved: bool,
    replayed: bool,
}

impl Answer {
    pub(crate) fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            saved: true,
            replayed: false,
        }
    }
    pub(crate) fn saved(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: true,
            replayed: false,
        }
    }
    pub(crate) fn not_saved(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: false,
            replayed: false,
        }
    }
    pub(crate) fn replay(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            saved: true,
            replayed: true,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert("request-id", HeaderValue::from_static("req_fake"));
        if self.replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        if self.status >= 500 {
            headers.insert("stripe-should-retry", HeaderValue::from_static("true"));
        }
        response
    }
}

/// Stripe's error body.
pub(crate) fn error(
    kind: &str,
    code: Option<&str>,
    decline_code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Value {
    let mut error = json!({"type": kind, "message": message});
    for (field, value) in [
        ("code", code),
        ("decline_code", decline_code),
        ("param", param),
    ] {
        if let Some(value) = value {
            error[field] = json!(value);
        }
    }
    if let Some(code) = code {
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    json!({"error": error})
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Stripe-looking id with `prefix`.
pub(crate) fn id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

/// Hex HMAC-SHA256 of `"<t>.<body>"` (Stripe's `v1` scheme).
pub(crate) fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub(crate) fn parse_form(body: &[u8]) -> Params {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Same parameters, whatever their order.
pub(crate) fn same_params(a: &Params, b: &Params) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.sort();
    b.sort();
    a == b
}

/// A 400 `invalid_request_error` about `param`, not saved for replay (Stripe does not
/// save answers to requests that fail validation).
pub(crate) fn invalid(code: &str, message: &str, param: &str) -> Answer {
    Answer::not_saved(
        400,
        error(
            "invalid_request_error",
            Some(code),
            None,
            message,
            Some(param),
        ),
    )
}
