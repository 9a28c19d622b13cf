//! A typed async client of the Octohooks API: one method per operation of the OpenAPI document
//! (`GET /api/v1/openapi.json`), named after its `operationId`.
//!
//! ```no_run
//! use octohooks_client::{Client, models::{ApplicationIn, MessageIn}};
//!
//! # async fn run() -> Result<(), octohooks_client::Error> {
//! let client = Client::new("http://127.0.0.1:8080", "oh_…");
//! let app = client.create_application(&ApplicationIn::new("Acme").uid("acme"), None).await?;
//! client
//!     .create_message(&app.id, &MessageIn::new("user.created", serde_json::json!({"id": 1})), None)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Errors the API answers come back as [`Error::Api`] with its stable `code`; every POST takes
//! optional [`PostOptions`] (an `Idempotency-Key`, making the call safe to retry).

pub mod models;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use models::*;

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error (`code` is stable, `detail` explains).
    #[error("{status} {code}: {detail}")]
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    /// The request did not get an answer (connection, timeout, TLS).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer was not what the API documents.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl Error {
    /// The API's error code (`not_found`, `validation_error`, ...), for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result of every call.
pub type Result<T> = std::result::Result<T, Error>;

/// Options of a POST.
#[derive(Debug, Clone, Default)]
pub struct PostOptions {
    /// Sent as `Idempotency-Key`: repeating the call with it replays the first answer.
    pub idempotency_key: Option<String>,
}

impl PostOptions {
    /// Options with this idempotency key.
    pub fn idempotency_key(key: impl Into<String>) -> Self {
        PostOptions {
            idempotency_key: Some(key.into()),
        }
    }
}

/// Paging of a list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Page size (1–250, default 50).
    pub limit: Option<u32>,
    /// The `iterator` of the previous page.
    pub iterator: Option<String>,
}

/// Paging and filters of `listMessages`.
#[derive(Debug, Clone, Default)]
pub struct MessageListOptions {
    pub limit: Option<u32>,
    pub iterator: Option<String>,
    pub event_type: Option<String>,
    pub channel: Option<String>,
    /// Created at or after (epoch ms).
    pub after: Option<i64>,
    /// Created before (epoch ms).
    pub before: Option<i64>,
}

/// Paging and filters of `listEndpointAttempts`.
#[derive(Debug, Clone, Default)]
pub struct AttemptListOptions {
    pub limit: Option<u32>,
    pub iterator: Option<String>,
    pub status: Option<AttemptStatus>,
    /// Started at or after (epoch ms).
    pub since: Option<i64>,
    /// Started at or before (epoch ms).
    pub until: Option<i64>,
}

/// A dashboard session opened with [`Client::create_session`]: the cookie value and the CSRF
/// secret its changes need.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub info: SessionOut,
}

/// One operation of the API: its `operationId`, method and path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

macro_rules! operations {
    ($($name:ident = $id:literal $method:literal $path:literal;)*) => {
        /// The operations, one constant each.
        pub mod op {
            use super::Operation;
            $(pub const $name: Operation = Operation { id: $id, method: $method, path: $path };)*
        }
        /// Every operation this client implements (tests compare it with the OpenAPI document).
        pub const OPERATIONS: &[Operation] = &[$(op::$name),*];
    };
}

operations! {
    GET_HEALTH = "getHealth" "GET" "/health";
    GET_METRICS = "getMetrics" "GET" "/metrics";
    GET_OPENAPI_DOCUMENT = "getOpenApiDocument" "GET" "/api/v1/openapi.json";
    GET_SESSION = "getSession" "GET" "/api/v1/auth/session";
    CREATE_SESSION = "createSession" "POST" "/api/v1/auth/session";
    DELETE_SESSION = "deleteSession" "DELETE" "/api/v1/auth/session";
    LIST_TOKENS = "listTokens" "GET" "/api/v1/tokens";
    CREATE_TOKEN = "createToken" "POST" "/api/v1/tokens";
    REVOKE_TOKEN = "revokeToken" "DELETE" "/api/v1/tokens/{token_id}";
    LIST_APPLICATIONS = "listApplications" "GET" "/api/v1/applications";
    CREATE_APPLICATION = "createApplication" "POST" "/api/v1/applications";
    GET_APPLICATION = "getApplication" "GET" "/api/v1/applications/{application_id}";
    UPDATE_APPLICATION = "updateApplication" "PUT" "/api/v1/applications/{application_id}";
    DELETE_APPLICATION = "deleteApplication" "DELETE" "/api/v1/applications/{application_id}";
    CREATE_PORTAL_LINK = "createPortalLink" "POST" "/api/v1/applications/{application_id}/portal-link";
    LIST_ENDPOINTS = "listEndpoints" "GET" "/api/v1/applications/{application_id}/endpoints";
    CREATE_ENDPOINT = "createEndpoint" "POST" "/api/v1/applications/{application_id}/endpoints";
    GET_ENDPOINT = "getEndpoint" "GET" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}";
    UPDATE_ENDPOINT = "updateEndpoint" "PUT" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}";
    DELETE_ENDPOINT = "deleteEndpoint" "DELETE" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}";
    LIST_ENDPOINT_ATTEMPTS = "listEndpointAttempts" "GET" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/attempts";
    GET_ENDPOINT_STATS = "getEndpointStats" "GET" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/stats";
    PAUSE_ENDPOINT = "pauseEndpoint" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/pause";
    RESUME_ENDPOINT = "resumeEndpoint" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/resume";
    GET_ENDPOINT_SECRET = "getEndpointSecret" "GET" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret";
    ROTATE_ENDPOINT_SECRET = "rotateEndpointSecret" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret/rotate";
    TEST_ENDPOINT_FILTER = "testEndpointFilter" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/filter/test";
    RECOVER_ENDPOINT = "recoverEndpoint" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover";
    GET_RECOVERY_JOB = "getRecoveryJob" "GET" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover/{job_id}";
    LIST_MESSAGES = "listMessages" "GET" "/api/v1/applications/{application_id}/messages";
    CREATE_MESSAGE = "createMessage" "POST" "/api/v1/applications/{application_id}/messages";
    GET_MESSAGE = "getMessage" "GET" "/api/v1/applications/{application_id}/messages/{message_id}";
    LIST_ATTEMPTS = "listAttempts" "GET" "/api/v1/applications/{application_id}/messages/{message_id}/attempts";
    RESEND_MESSAGE = "resendMessage" "POST" "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend";
    SEND_EXAMPLE = "sendExample" "POST" "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/send-example";
    ERASE_MESSAGE_CONTENT = "eraseMessageContent" "DELETE" "/api/v1/applications/{application_id}/messages/{message_id}/content";
    ERASE_MESSAGES = "eraseMessages" "POST" "/api/v1/applications/{application_id}/messages/erase";
    GET_ERASURE_JOB = "getErasureJob" "GET" "/api/v1/applications/{application_id}/messages/erase/{job_id}";
    LIST_EVENT_TYPES = "listEventTypes" "GET" "/api/v1/event-types";
    CREATE_EVENT_TYPE = "createEventType" "POST" "/api/v1/event-types";
    GET_EVENT_TYPE = "getEventType" "GET" "/api/v1/event-types/{event_type_name}";
    UPDATE_EVENT_TYPE = "updateEventType" "PUT" "/api/v1/event-types/{event_type_name}";
    DELETE_EVENT_TYPE = "deleteEventType" "DELETE" "/api/v1/event-types/{event_type_name}";
    LIST_OPERATIONAL_ENDPOINTS = "listOperationalEndpoints" "GET" "/api/v1/operational-webhooks/endpoints";
    CREATE_OPERATIONAL_ENDPOINT = "createOperationalEndpoint" "POST" "/api/v1/operational-webhooks/endpoints";
    GET_OPERATIONAL_ENDPOINT = "getOperationalEndpoint" "GET" "/api/v1/operational-webhooks/endpoints/{endpoint_id}";
    UPDATE_OPERATIONAL_ENDPOINT = "updateOperationalEndpoint" "PUT" "/api/v1/operational-webhooks/endpoints/{endpoint_id}";
    DELETE_OPERATIONAL_ENDPOINT = "deleteOperationalEndpoint" "DELETE" "/api/v1/operational-webhooks/endpoints/{endpoint_id}";
}

/// Percent-encodes one path segment (ids and uids are safe already; this keeps any string safe).
fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The path of `op` with its `{parameters}` replaced, in order, by `params`.
fn fill(op: Operation, params: &[&str]) -> String {
    let mut path = String::new();
    let mut rest = op.path;
    let mut values = params.iter();
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        path.push_str(&rest[..open]);
        path.push_str(&segment(values.next().copied().unwrap_or_default()));
        rest = rest.get(close + 1..).unwrap_or("");
    }
    path.push_str(rest);
    path
}

/// Query pairs of the set options.
fn query(pairs: &[(&str, Option<String>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v)))
        .collect()
}

/// A client of one Octohooks server, acting with one token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base` (e.g. `https://hooks.example.com`) with `token`.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_http(base, token, reqwest::Client::new())
    }

    /// The same with your own `reqwest::Client` (timeouts, proxies).
    pub fn with_http(
        base: impl Into<String>,
        token: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Client {
            base: base.into().trim_end_matches('/').to_string(),
            token: token.into(),
            http,
        }
    }

    fn request(&self, op: Operation, params: &[&str]) -> RequestBuilder {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap_or(Method::GET);
        self.http
            .request(method, format!("{}{}", self.base, fill(op, params)))
            .bearer_auth(&self.token)
    }

    fn post_request(
        &self,
        op: Operation,
        params: &[&str],
        options: Option<PostOptions>,
    ) -> RequestBuilder {
        let request = self.request(op, params);
        match options.and_then(|o| o.idempotency_key) {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    }

    /// Sends a request; API errors become [`Error::Api`].
    async fn send(request: RequestBuilder) -> Result<(StatusCode, HeaderMap, bytes::Bytes)> {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        if status.is_success() {
            return Ok((status, headers, body));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(match error {
            Some(e) => Error::Api {
                status: status.as_u16(),
                code: e.code,
                detail: e.detail,
            },
            None => Error::Api {
                status: status.as_u16(),
                code: "http_error".into(),
                detail: String::from_utf8_lossy(&body).into_owned(),
            },
        })
    }

    async fn json<T: DeserializeOwned>(request: RequestBuilder) -> Result<T> {
        let (_, _, body) = Self::send(request).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))
    }

    async fn list<T: DeserializeOwned>(request: RequestBuilder) -> Result<ListResponse<T>> {
        let (_, headers, body) = Self::send(request).await?;
        let data = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
        let iterator = headers
            .get("x-next-iterator")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(ListResponse { data, iterator })
    }

    async fn empty(request: RequestBuilder) -> Result<()> {
        Self::send(request).await.map(|_| ())
    }

    fn paging(options: &ListOptions) -> Vec<(String, String)> {
        query(&[
            ("limit", options.limit.map(|l| l.to_string())),
            ("iterator", options.iterator.clone()),
        ])
    }

    // ---- operations ----

    /// `getHealth`: whether the node and its Redis answer (a 503 is an `Error::Api`).
    pub async fn get_health(&self) -> Result<HealthOut> {
        Self::json(self.request(op::GET_HEALTH, &[])).await
    }

    /// `getMetrics`: the node's Prometheus metrics (text). The client's token is sent; set
    /// the server's `metrics.token` to it, or leave that empty.
    pub async fn get_metrics(&self) -> Result<String> {
        let (_, _, body) = Self::send(self.request(op::GET_METRICS, &[])).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `getOpenApiDocument`: the OpenAPI 3.1 document.
    pub async fn get_open_api_document(&self) -> Result<Value> {
        Self::json(self.request(op::GET_OPENAPI_DOCUMENT, &[])).await
    }

    /// `createSession`: signs in as the dashboard does, with this client's token; returns the
    /// session cookie's value and the session (browsers are what this is for).
    pub async fn create_session(&self) -> Result<Session> {
        let request = self
            .http
            .post(format!("{}{}", self.base, op::CREATE_SESSION.path))
            .header("x-octohooks-csrf", "1")
            .json(&SessionIn {
                token: self.token.clone(),
            });
        let (_, headers, body) = Self::send(request).await?;
        let cookie = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("octohooks_session="))
            .and_then(|v| v.split(';').next())
            .ok_or_else(|| Error::Decode("no session cookie".into()))?
            .to_string();
        let info = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Session { cookie, info })
    }

    fn session_request(&self, op: Operation, session: &Session) -> RequestBuilder {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap_or(Method::GET);
        self.http
            .request(method, format!("{}{}", self.base, op.path))
            .header("cookie", format!("octohooks_session={}", session.cookie))
            .header("x-octohooks-csrf", &session.info.csrf_token)
    }

    /// `getSession`: the session a cookie opened.
    pub async fn get_session(&self, session: &Session) -> Result<SessionOut> {
        Self::json(self.session_request(op::GET_SESSION, session)).await
    }

    /// `deleteSession`: signs the session out.
    pub async fn delete_session(&self, session: &Session) -> Result<()> {
        Self::empty(self.session_request(op::DELETE_SESSION, session)).await
    }

    /// `listTokens`: the organisation's tokens (never the tokens themselves).
    pub async fn list_tokens(&self, options: &ListOptions) -> Result<ListResponse<TokenOut>> {
        Self::list(
            self.request(op::LIST_TOKENS, &[])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `createToken`: the answer carries the token, this once.
    pub async fn create_token(
        &self,
        token: &TokenIn,
        options: Option<PostOptions>,
    ) -> Result<TokenCreatedOut> {
        Self::json(
            self.post_request(op::CREATE_TOKEN, &[], options)
                .json(token),
        )
        .await
    }

    /// `revokeToken`: it stops working on every node within a second.
    pub async fn revoke_token(&self, token_id: &str) -> Result<TokenOut> {
        Self::json(self.request(op::REVOKE_TOKEN, &[token_id])).await
    }

    /// `listApplications`: oldest first.
    pub async fn list_applications(
        &self,
        options: &ListOptions,
    ) -> Result<ListResponse<ApplicationOut>> {
        Self::list(
            self.request(op::LIST_APPLICATIONS, &[])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `createApplication`.
    pub async fn create_application(
        &self,
        app: &ApplicationIn,
        options: Option<PostOptions>,
    ) -> Result<ApplicationOut> {
        Self::json(
            self.post_request(op::CREATE_APPLICATION, &[], options)
                .json(app),
        )
        .await
    }

    /// `getApplication` (by id or uid).
    pub async fn get_application(&self, app: &str) -> Result<ApplicationOut> {
        Self::json(self.request(op::GET_APPLICATION, &[app])).await
    }

    /// `updateApplication`.
    pub async fn update_application(
        &self,
        app: &str,
        update: &ApplicationIn,
    ) -> Result<ApplicationOut> {
        Self::json(self.request(op::UPDATE_APPLICATION, &[app]).json(update)).await
    }

    /// `deleteApplication`, with its endpoints, messages and pending work.
    pub async fn delete_application(&self, app: &str) -> Result<()> {
        Self::empty(self.request(op::DELETE_APPLICATION, &[app])).await
    }

    /// `createPortalLink`: a link to the customer portal of one application.
    pub async fn create_portal_link(
        &self,
        app: &str,
        link: &PortalLinkIn,
        options: Option<PostOptions>,
    ) -> Result<PortalLinkOut> {
        Self::json(
            self.post_request(op::CREATE_PORTAL_LINK, &[app], options)
                .json(link),
        )
        .await
    }

    /// `listEndpoints`: oldest first.
    pub async fn list_endpoints(
        &self,
        app: &str,
        options: &ListOptions,
    ) -> Result<ListResponse<EndpointOut>> {
        Self::list(
            self.request(op::LIST_ENDPOINTS, &[app])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `createEndpoint`.
    pub async fn create_endpoint(
        &self,
        app: &str,
        endpoint: &EndpointIn,
        options: Option<PostOptions>,
    ) -> Result<EndpointOut> {
        Self::json(
            self.post_request(op::CREATE_ENDPOINT, &[app], options)
                .json(endpoint),
        )
        .await
    }

    /// `getEndpoint`.
    pub async fn get_endpoint(&self, app: &str, endpoint: &str) -> Result<EndpointOut> {
        Self::json(self.request(op::GET_ENDPOINT, &[app, endpoint])).await
    }

    /// `updateEndpoint` (replaces its attributes).
    pub async fn update_endpoint(
        &self,
        app: &str,
        endpoint: &str,
        update: &EndpointIn,
    ) -> Result<EndpointOut> {
        Self::json(
            self.request(op::UPDATE_ENDPOINT, &[app, endpoint])
                .json(update),
        )
        .await
    }

    /// `deleteEndpoint`.
    pub async fn delete_endpoint(&self, app: &str, endpoint: &str) -> Result<()> {
        Self::empty(self.request(op::DELETE_ENDPOINT, &[app, endpoint])).await
    }

    /// `listEndpointAttempts`: newest first.
    pub async fn list_endpoint_attempts(
        &self,
        app: &str,
        endpoint: &str,
        options: &AttemptListOptions,
    ) -> Result<ListResponse<AttemptOut>> {
        let query = query(&[
            ("limit", options.limit.map(|l| l.to_string())),
            ("iterator", options.iterator.clone()),
            ("status", options.status.map(|s| s.as_str().to_string())),
            ("since", options.since.map(|t| t.to_string())),
            ("until", options.until.map(|t| t.to_string())),
        ]);
        Self::list(
            self.request(op::LIST_ENDPOINT_ATTEMPTS, &[app, endpoint])
                .query(&query),
        )
        .await
    }

    /// `getEndpointStats`.
    pub async fn get_endpoint_stats(&self, app: &str, endpoint: &str) -> Result<EndpointStatsOut> {
        Self::json(self.request(op::GET_ENDPOINT_STATS, &[app, endpoint])).await
    }

    /// `pauseEndpoint`.
    pub async fn pause_endpoint(
        &self,
        app: &str,
        endpoint: &str,
        options: Option<PostOptions>,
    ) -> Result<EndpointOut> {
        Self::json(self.post_request(op::PAUSE_ENDPOINT, &[app, endpoint], options)).await
    }

    /// `resumeEndpoint`.
    pub async fn resume_endpoint(
        &self,
        app: &str,
        endpoint: &str,
        options: Option<PostOptions>,
    ) -> Result<EndpointOut> {
        Self::json(self.post_request(op::RESUME_ENDPOINT, &[app, endpoint], options)).await
    }

    /// `getEndpointSecret`.
    pub async fn get_endpoint_secret(&self, app: &str, endpoint: &str) -> Result<SecretOut> {
        Self::json(self.request(op::GET_ENDPOINT_SECRET, &[app, endpoint])).await
    }

    /// `rotateEndpointSecret`.
    pub async fn rotate_endpoint_secret(
        &self,
        app: &str,
        endpoint: &str,
        rotate: &RotateIn,
        options: Option<PostOptions>,
    ) -> Result<EndpointOut> {
        Self::json(
            self.post_request(op::ROTATE_ENDPOINT_SECRET, &[app, endpoint], options)
                .json(rotate),
        )
        .await
    }

    /// `testEndpointFilter`.
    pub async fn test_endpoint_filter(
        &self,
        app: &str,
        endpoint: &str,
        test: &FilterTestIn,
        options: Option<PostOptions>,
    ) -> Result<FilterTestOut> {
        Self::json(
            self.post_request(op::TEST_ENDPOINT_FILTER, &[app, endpoint], options)
                .json(test),
        )
        .await
    }

    /// `recoverEndpoint`: starts a job re-sending failed messages.
    pub async fn recover_endpoint(
        &self,
        app: &str,
        endpoint: &str,
        recover: &RecoverIn,
        options: Option<PostOptions>,
    ) -> Result<RecoveryJobOut> {
        Self::json(
            self.post_request(op::RECOVER_ENDPOINT, &[app, endpoint], options)
                .json(recover),
        )
        .await
    }

    /// `getRecoveryJob`.
    pub async fn get_recovery_job(
        &self,
        app: &str,
        endpoint: &str,
        job: &str,
    ) -> Result<RecoveryJobOut> {
        Self::json(self.request(op::GET_RECOVERY_JOB, &[app, endpoint, job])).await
    }

    /// `listMessages`: newest first.
    pub async fn list_messages(
        &self,
        app: &str,
        options: &MessageListOptions,
    ) -> Result<ListResponse<MessageOut>> {
        let query = query(&[
            ("limit", options.limit.map(|l| l.to_string())),
            ("iterator", options.iterator.clone()),
            ("eventType", options.event_type.clone()),
            ("channel", options.channel.clone()),
            ("after", options.after.map(|t| t.to_string())),
            ("before", options.before.map(|t| t.to_string())),
        ]);
        Self::list(self.request(op::LIST_MESSAGES, &[app]).query(&query)).await
    }

    /// `createMessage`: accepted (202) once durably queued.
    pub async fn create_message(
        &self,
        app: &str,
        message: &MessageIn,
        options: Option<PostOptions>,
    ) -> Result<MessageOut> {
        Self::json(
            self.post_request(op::CREATE_MESSAGE, &[app], options)
                .json(message),
        )
        .await
    }

    /// `getMessage`.
    pub async fn get_message(&self, app: &str, message: &str) -> Result<MessageOut> {
        Self::json(self.request(op::GET_MESSAGE, &[app, message])).await
    }

    /// `listAttempts`: a message's attempts, oldest first.
    pub async fn list_attempts(
        &self,
        app: &str,
        message: &str,
        options: &ListOptions,
    ) -> Result<ListResponse<AttemptOut>> {
        Self::list(
            self.request(op::LIST_ATTEMPTS, &[app, message])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `resendMessage`: one more delivery chain to one endpoint.
    pub async fn resend_message(
        &self,
        app: &str,
        message: &str,
        endpoint: &str,
        options: Option<PostOptions>,
    ) -> Result<ResendAccepted> {
        Self::json(self.post_request(op::RESEND_MESSAGE, &[app, message, endpoint], options)).await
    }

    /// `sendExample`: a message of the event type with its catalogue example as payload,
    /// delivered to this endpoint only.
    pub async fn send_example(
        &self,
        app: &str,
        endpoint: &str,
        example: &SendExampleIn,
        options: Option<PostOptions>,
    ) -> Result<MessageOut> {
        Self::json(
            self.post_request(op::SEND_EXAMPLE, &[app, endpoint], options)
                .json(example),
        )
        .await
    }

    /// `eraseMessageContent`: the message stays, without its payload.
    pub async fn erase_message_content(&self, app: &str, message: &str) -> Result<MessageOut> {
        Self::json(self.request(op::ERASE_MESSAGE_CONTENT, &[app, message])).await
    }

    /// `eraseMessages`: starts a job erasing the payloads of the matching messages.
    pub async fn erase_messages(
        &self,
        app: &str,
        erase: &EraseIn,
        options: Option<PostOptions>,
    ) -> Result<ErasureJobOut> {
        Self::json(
            self.post_request(op::ERASE_MESSAGES, &[app], options)
                .json(erase),
        )
        .await
    }

    /// `getErasureJob`.
    pub async fn get_erasure_job(&self, app: &str, job: &str) -> Result<ErasureJobOut> {
        Self::json(self.request(op::GET_ERASURE_JOB, &[app, job])).await
    }

    /// `listEventTypes`: the catalogue, by name.
    pub async fn list_event_types(
        &self,
        options: &ListOptions,
    ) -> Result<ListResponse<EventTypeOut>> {
        Self::list(
            self.request(op::LIST_EVENT_TYPES, &[])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `createEventType`.
    pub async fn create_event_type(
        &self,
        event_type: &EventTypeIn,
        options: Option<PostOptions>,
    ) -> Result<EventTypeOut> {
        Self::json(
            self.post_request(op::CREATE_EVENT_TYPE, &[], options)
                .json(event_type),
        )
        .await
    }

    /// `getEventType`.
    pub async fn get_event_type(&self, name: &str) -> Result<EventTypeOut> {
        Self::json(self.request(op::GET_EVENT_TYPE, &[name])).await
    }

    /// `updateEventType`: replaces every attribute.
    pub async fn update_event_type(
        &self,
        name: &str,
        update: &EventTypeUpdateIn,
    ) -> Result<EventTypeOut> {
        Self::json(self.request(op::UPDATE_EVENT_TYPE, &[name]).json(update)).await
    }

    /// `deleteEventType`: answers the deleted entry.
    pub async fn delete_event_type(&self, name: &str) -> Result<EventTypeOut> {
        Self::json(self.request(op::DELETE_EVENT_TYPE, &[name])).await
    }

    /// `listOperationalEndpoints`: where the organisation's operational events go.
    pub async fn list_operational_endpoints(
        &self,
        options: &ListOptions,
    ) -> Result<ListResponse<EndpointOut>> {
        Self::list(
            self.request(op::LIST_OPERATIONAL_ENDPOINTS, &[])
                .query(&Self::paging(options)),
        )
        .await
    }

    /// `createOperationalEndpoint`.
    pub async fn create_operational_endpoint(
        &self,
        endpoint: &EndpointIn,
        options: Option<PostOptions>,
    ) -> Result<EndpointOut> {
        Self::json(
            self.post_request(op::CREATE_OPERATIONAL_ENDPOINT, &[], options)
                .json(endpoint),
        )
        .await
    }

    /// `getOperationalEndpoint`.
    pub async fn get_operational_endpoint(&self, endpoint: &str) -> Result<EndpointOut> {
        Self::json(self.request(op::GET_OPERATIONAL_ENDPOINT, &[endpoint])).await
    }

    /// `updateOperationalEndpoint`.
    pub async fn update_operational_endpoint(
        &self,
        endpoint: &str,
        update: &EndpointIn,
    ) -> Result<EndpointOut> {
        Self::json(
            self.request(op::UPDATE_OPERATIONAL_ENDPOINT, &[endpoint])
                .json(update),
        )
        .await
    }

    /// `deleteOperationalEndpoint`: answers the deleted endpoint.
    pub async fn delete_operational_endpoint(&self, endpoint: &str) -> Result<EndpointOut> {
        Self::json(self.request(op::DELETE_OPERATIONAL_ENDPOINT, &[endpoint])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filled_in_order_and_escaped() {
        assert_eq!(
            fill(op::RESEND_MESSAGE, &["a", "m/1", "e 2"]),
            "/api/v1/applications/a/messages/m%2F1/endpoints/e%202/resend"
        );
        assert_eq!(fill(op::LIST_APPLICATIONS, &[]), "/api/v1/applications");
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<&str> = OPERATIONS.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), OPERATIONS.len());
    }
}
