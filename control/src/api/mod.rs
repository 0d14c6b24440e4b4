//! The HTTP API: the Alibaba Cloud PrivateLink 2020-04-15 RPC protocol as the official SDK
//! speaks it (see `docs/api-reference.md`). Handlers authenticate, parse and authorise, then
//! hand a typed command to the state owner; reads use the committed table.

pub mod auth;
mod ops;
mod params;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use serde_json::{Value, json};

pub use params::Params;

use crate::model::ModelError;
use crate::state::{State, StateError};

/// The API version served.
pub const VERSION: &str = "2020-04-15";

/// An API error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Error code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: code.into(),
            message: message.into(),
        }
    }
    /// `MissingParam.<name>`.
    #[must_use]
    pub fn missing(name: &str) -> Self {
        Self::bad(
            format!("MissingParam.{name}"),
            format!("The parameter {name} is required."),
        )
    }
    /// `IllegalParam.<name>`.
    pub fn illegal(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad(
            format!("IllegalParam.{name}"),
            format!("The parameter {name} is invalid: {why}"),
        )
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        Self {
            status: e.http_status(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Model(m) => m.into(),
            other => Self {
                status: 500,
                code: "InternalError".into(),
                message: other.to_string(),
            },
        }
    }
}

impl From<auth::AuthError> for ApiError {
    fn from(e: auth::AuthError) -> Self {
        Self {
            status: e.http_status(),
            code: e.code().into(),
            message: e.to_string(),
        }
    }
}

/// Shared API state.
pub struct Api {
    /// The state owner.
    pub state: State,
    nonces: Mutex<auth::NonceCache>,
    max_skew_s: i64,
}

impl Api {
    /// An API over `state`.
    #[must_use]
    pub fn new(state: State) -> Arc<Self> {
        let skew = i64::try_from(state.inventory().api.max_clock_skew_s).unwrap_or(900);
        let window = Duration::from_secs(u64::try_from(skew).unwrap_or(900) * 2);
        Arc::new(Self {
            state,
            nonces: Mutex::new(auth::NonceCache::new(window)),
            max_skew_s: skew,
        })
    }
}

/// The router: `POST /` (RPC) and `GET /healthz`.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/", get(rpc).post(rpc))
        .route("/healthz", get(healthz))
        .with_state(api)
}

async fn healthz(AxState(api): AxState<Arc<Api>>) -> Response {
    let t = api.state.read();
    let body =
        json!({"status": "ok", "services": t.services.len(), "endpoints": t.endpoints.len()});
    drop(t);
    json_response(StatusCode::OK, &body)
}

/// Upper-case UUID-shaped request id.
#[must_use]
pub fn request_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    r
}

fn error_response(rid: &str, e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"RequestId": rid, "Code": e.code, "Message": e.message, "HostId": "eplinkd"});
    json_response(status, &body)
}

async fn rpc(
    AxState(api): AxState<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rid = request_id();
    let action = headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let result = handle(&api, &method, &uri, &headers, &body).await;
    match result {
        Ok(mut v) => {
            if let Value::Object(m) = &mut v {
                m.insert("RequestId".into(), Value::String(rid.clone()));
            }
            tracing::debug!(action, rid, "ok");
            json_response(StatusCode::OK, &v)
        }
        Err(e) => {
            tracing::info!(action, rid, code = %e.code, "refused: {}", e.message);
            error_response(&rid, &e)
        }
    }
}

async fn handle(
    api: &Api,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let query: std::collections::BTreeMap<String, String> =
        auth::form_decode(uri.query().unwrap_or(""))
            .into_iter()
            .collect();
    let lookup = |n: &str| -> Vec<String> {
        headers
            .get_all(n)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    let caller = {
        let inv = api.state.inventory();
        let secret_of = |k: &str| inv.access_key(k).map(|(u, s)| (u, s.to_owned()));
        let signed = auth::SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            params: &query,
            header: &lookup,
            body,
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        auth::verify(&signed, &secret_of, now, api.max_skew_s, &api.nonces)?
    };

    let mut all = query.clone();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        all.extend(auth::form_decode(&String::from_utf8_lossy(body)));
    }
    let version = lookup("x-acs-version")
        .into_iter()
        .next()
        .or_else(|| all.get("Version").cloned())
        .unwrap_or_default();
    if version != VERSION {
        return Err(ApiError::bad(
            "InvalidVersion",
            format!("Specified version {version:?} is not {VERSION}."),
        ));
    }
    let action = lookup("x-acs-action")
        .into_iter()
        .next()
        .or_else(|| all.get("Action").cloned())
        .unwrap_or_default();
    let p = Params::new(all);
    ops::dispatch(api, caller, &action, &p).await
}

/// Runs the API server until `shutdown` resolves.
pub async fn serve(
    api: Arc<Api>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
}
