//! A small blocking client of the eplink API that signs requests exactly as the official SDK
//! does (used by the `eplink` CLI, the API bench and the integration tests).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::api::auth;

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API refused the call.
    #[error("{code}: {message} (HTTP {status}, request {request_id})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// Request id.
        request_id: String,
    },
    /// The daemon could not be reached or answered garbage.
    #[error("transport: {0}")]
    Transport(String),
}

impl ClientError {
    /// The API error code, if the API answered.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            Self::Transport(_) => None,
        }
    }
}

/// Credentials and endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: String,
    key_id: String,
    secret: String,
    region: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of `endpoint` (`host:port`) with one AccessKey pair, for `region`.
    #[must_use]
    pub fn new(endpoint: &str, key_id: &str, secret: &str, region: &str) -> Self {
        let endpoint = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .max_idle_connections_per_host(16)
            .build();
        Self {
            endpoint,
            key_id: key_id.into(),
            secret: secret.into(),
            region: region.into(),
            agent,
        }
    }

    /// The region sent as `RegionId`.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Calls `action` with `params` (`RegionId` added unless present or `region` is empty).
    pub fn call(&self, action: &str, params: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut map: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if !self.region.is_empty() {
            map.entry("RegionId".into())
                .or_insert_with(|| self.region.clone());
        }
        self.call_map(action, &map)
    }

    /// Calls `action` with exactly `params`.
    pub fn call_map(
        &self,
        action: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Value, ClientError> {
        let nonce = hex::encode(rand::rng().random::<[u8; 16]>());
        let date = crate::state::now_iso();
        let headers = auth::sign_request(
            &self.key_id,
            &self.secret,
            &self.endpoint,
            action,
            params,
            &date,
            &nonce,
        );
        let q = auth::form_encode(params);
        let url = if q.is_empty() {
            format!("http://{}/", self.endpoint)
        } else {
            format!("http://{}/?{q}", self.endpoint)
        };
        let mut req = self.agent.post(&url);
        for (k, v) in &headers {
            if k != "host" {
                req = req.set(k, v);
            }
        }
        let parse = |r: ureq::Response| -> Result<Value, ClientError> {
            let text = r
                .into_string()
                .map_err(|e| ClientError::Transport(format!("reading the reply: {e}")))?;
            serde_json::from_str(&text)
                .map_err(|e| ClientError::Transport(format!("bad JSON reply: {e}")))
        };
        match req.send_string("") {
            Ok(r) => parse(r),
            Err(ureq::Error::Status(status, r)) => {
                let v = parse(r)?;
                let s = |k: &str| {
                    v.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                Err(ClientError::Api {
                    status,
                    code: s("Code"),
                    message: s("Message"),
                    request_id: s("RequestId"),
                })
            }
            Err(e) => Err(ClientError::Transport(e.to_string())),
        }
    }
}
