//! Reading JSON bodies: bounded in size (413), and every mistake a 400 naming the field
//! (malformed JSON, a wrong type, an unknown enumeration value, an unknown field).

use crate::app::App;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Keys that mean "act on many subjects at once": refused with a message that this API
/// acts on one subject at a time (G-8).
const BULK_KEYS: &[&str] = &[
    "subjects",
    "terms",
    "subjectIds",
    "ids",
    "requests",
    "targets",
    "items",
];

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T, pub Bytes);

/// 413 for a body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {limit} bytes; send one subject or request per call"),
    )
    .details(json!({ "limitBytes": limit }))
}

/// Reads at most `limit` bytes of a body.
pub async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                if s.to_string().contains("length limit") {
                    return Err(too_large(limit));
                }
                src = s.source();
            }
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body could not be read",
            ))
        }
    }
}

/// Parses JSON into `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], one_subject: bool) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not valid JSON: {} (line {}, column {})",
                strip_position(&e),
                e.line(),
                e.column()
            ),
        )
    })?;
    if one_subject {
        let bulk = match &value {
            serde_json::Value::Array(_) => Some("the body is an array".to_owned()),
            serde_json::Value::Object(m) => BULK_KEYS
                .iter()
                .find(|k| m.get(**k).is_some_and(|v| v.is_array()))
                .map(|k| format!("the body has a list {k:?}")),
            _ => None,
        };
        if let Some(why) = bulk {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bulk_refused",
                format!(
                    "{why}: this API acts on one subject at a time (GDPR requests are made per person, never in bulk); send one request per subject"
                ),
            ));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { String::new() } else { path };
        let msg = inner.to_string();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            if field.is_empty() {
                format!("the body is not accepted: {msg}")
            } else {
                format!("{field}: {msg}")
            },
        )
        .details(json!({ "field": field }))
    })
}

fn strip_position(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix)
        .map_or(full.clone(), str::to_owned)
}

impl<T: DeserializeOwned> FromRequest<App> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, Self::Rejection> {
        let limit = state.settings().max_body_bytes;
        let bytes = read_limited(req.into_body(), limit).await?;
        let v = parse(&bytes, true)?;
        Ok(JsonBody(v, bytes))
    }
}

impl<T> JsonBody<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Reads the body as `Bytes` bounded by the JSON limit (for handlers that parse later).
pub async fn bytes_of(req: Request, app: &App) -> Result<Bytes, ApiError> {
    read_limited(req.into_body(), app.settings().max_body_bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct B {
        #[serde(rename = "requestType")]
        ty: Kind,
        n: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        #[serde(rename = "A")]
        A,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<B>(br#"{"requestType": "Z", "n": 1}"#, true).unwrap_err();
        assert_eq!(e.body.details["field"], "requestType", "{e:?}");
        assert!(e.body.message.contains("unknown variant"), "{e:?}");
        let e = parse::<B>(br#"{"requestType": "A", "n": "x"}"#, true).unwrap_err();
        assert_eq!(e.body.details["field"], "n");
        let e = parse::<B>(br#"{"requestType": "A", "n": 1, "zz": 1}"#, true).unwrap_err();
        assert!(e.body.message.contains("zz"), "{e:?}");
        let e = parse::<B>(br#"{"requestType": "#, true).unwrap_err();
        assert_eq!(e.body.code, "malformed_json");
        let e = parse::<B>(br#"{"subjects": [1, 2]}"#, true).unwrap_err();
        assert_eq!(e.body.code, "bulk_refused");
        assert!(e.body.message.contains("one subject at a time"));
    }
}
