//! The shape of every answer: JSON, and pymanager's shape for errors.

use serde_json::{Value, json};
use tide::{Response, StatusCode};

/// A JSON response.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder(status)
        .content_type(tide::http::mime::JSON)
        .body(body.to_string())
        .build()
}

/// pymanager's error shape: `{"success": false, "error": {"message": ...}}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        json!({"success": false, "error": {"message": message}}),
    )
}
