//! Writing answers: JSON bodies kept as bytes (so idempotent requests can store them), and
//! list pages with their next cursor.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::{NEXT_ITERATOR_HEADER, WARNING_HEADER};
use crate::store::Page;

/// A JSON answer with its status, kept as bytes so idempotent requests can store it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// What an Idempotency-Key replays instead of `body`, when the answer holds something
    /// that must not be stored (a new token).
    pub replay: Option<Vec<u8>>,
    /// A `Warning` header: the request was done, but something in it looks wrong.
    pub warning: Option<String>,
}

impl Reply {
    /// Serializes `value` as the body of a `status` answer.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult<Reply> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply {
            status,
            body,
            replay: None,
            warning: None,
        })
    }

    /// The same answer, replayed as `value` to later requests with its Idempotency-Key.
    pub fn replayed_as<T: Serialize>(mut self, value: &T) -> ApiResult<Reply> {
        self.replay =
            Some(serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?);
        Ok(self)
    }

    /// The same answer with a `Warning` header.
    pub fn warned(mut self, warning: Option<String>) -> Reply {
        self.warning = warning;
        self
    }

    /// The HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(text) = &self.warning {
            response.insert_header(warning_header(text));
        }
        response.content_type("application/json").body(self.body)
    }
}

/// A `Warning` header (`299 - "text"`, a persistent warning) carrying `text`.
pub fn warning_header(text: &str) -> (&'static str, String) {
    let quoted = text.replace(['\\', '"'], "'");
    (WARNING_HEADER, format!("299 - \"{quoted}\""))
}

/// A list answer: the JSON array and, when more follow, the next cursor in a header.
pub fn page_response<T: Serialize>(page: Page<T>) -> ApiResult<HttpResponse> {
    let mut response = HttpResponse::Ok();
    if let Some(next) = &page.next {
        response.insert_header((NEXT_ITERATOR_HEADER, next.as_str()));
    }
    Ok(response.json(page.items))
}
