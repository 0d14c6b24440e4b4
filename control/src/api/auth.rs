//! ACS3-HMAC-SHA256 request signatures, verified exactly as the official SDK computes them
//! (`alibabacloud_tea_openapi.utils.Utils.get_authorization`), plus date and nonce checks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Headers that must be signed.
const REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// RFC 3986 unreserved characters stay literal (Python `quote(v, safe='~')`).
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or unparseable `Authorization`, wrong algorithm, or a required header not signed.
    #[error("The request signature is incomplete: {0}")]
    IncompleteSignature(String),
    /// The AccessKey id is not in the inventory.
    #[error("Specified access key is not found.")]
    UnknownAccessKey,
    /// The signature (or the content hash) does not match.
    #[error("The request signature does not conform to Aliyun standards. {0}")]
    SignatureDoesNotMatch(String),
    /// `x-acs-date` missing, malformed or too far from the server clock.
    #[error("The specified timestamp or date header is expired or invalid: {0}")]
    Expired(String),
    /// The nonce was seen before.
    #[error("Specified signature nonce was used already.")]
    NonceUsed,
}

impl AuthError {
    /// The API error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::UnknownAccessKey => "InvalidAccessKeyId.NotFound",
            Self::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            Self::Expired(_) => "InvalidTimeStamp.Expired",
            Self::NonceUsed => "SignatureNonceUsed",
        }
    }
    /// The HTTP status.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownAccessKey => 404,
            _ => 400,
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space).
#[must_use]
pub fn form_decode(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The canonical query string: keys sorted, values RFC 3986 encoded, keys as they are.
#[must_use]
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_ENCODE)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// AccessKey id.
    pub key_id: String,
    /// Lower-case header names, in the order given.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.
pub fn parse_authorization(h: &str) -> Result<Authorization, AuthError> {
    let (alg, rest) = h
        .trim()
        .split_once(' ')
        .ok_or_else(|| AuthError::IncompleteSignature("malformed Authorization header".into()))?;
    if alg != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "algorithm {alg} is not {ALGORITHM}"
        )));
    }
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        match k {
            "Credential" => cred = Some(v.to_owned()),
            "SignedHeaders" => {
                signed = Some(
                    v.split(';')
                        .map(str::to_ascii_lowercase)
                        .collect::<Vec<_>>(),
                );
            }
            "Signature" => sig = Some(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    match (cred, signed, sig) {
        (Some(key_id), Some(signed_headers), Some(signature))
            if !key_id.is_empty() && !signature.is_empty() =>
        {
            Ok(Authorization {
                key_id,
                signed_headers,
                signature,
            })
        }
        _ => Err(AuthError::IncompleteSignature(
            "Credential, SignedHeaders and Signature are required".into(),
        )),
    }
}

/// The canonical request of the SDK's algorithm.
#[must_use]
pub fn canonical_request(
    method: &str,
    path: &str,
    params: &BTreeMap<String, String>,
    header: &dyn Fn(&str) -> Vec<String>,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    let mut names: Vec<&String> = signed_headers.iter().collect();
    names.sort();
    names.dedup();
    let mut headers = String::new();
    for n in &names {
        let mut vals: Vec<String> = header(n).into_iter().map(|v| v.trim().to_owned()).collect();
        vals.sort();
        let _ = writeln!(headers, "{n}:{}", vals.join(","));
    }
    let signed = names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "{method}\n{path}\n{}\n{headers}\n{signed}\n{payload_hash}",
        canonical_query(params)
    )
}

/// Hex HMAC-SHA256 signature of a canonical request.
#[must_use]
pub fn sign(secret: &str, canonical_request: &str) -> String {
    let to_sign = format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Remembers nonces for the replay window.
pub struct NonceCache {
    window: Duration,
    seen: HashMap<(String, String), Instant>,
    order: VecDeque<(Instant, (String, String))>,
}

impl NonceCache {
    /// A cache that remembers nonces for `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }
    /// Records `nonce` for `key`; false if it was seen within the window.
    pub fn check_and_insert(&mut self, key: &str, nonce: &str, now: Instant) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) <= self.window {
                break;
            }
            let (_, k) = self.order.pop_front().expect("front exists");
            if self
                .seen
                .get(&k)
                .is_some_and(|t0| now.duration_since(*t0) > self.window)
            {
                self.seen.remove(&k);
            }
        }
        let k = (key.to_owned(), nonce.to_owned());
        if self.seen.contains_key(&k) {
            return false;
        }
        self.seen.insert(k.clone(), now);
        self.order.push_back((now, k));
        true
    }
}

/// Parses `x-acs-date` (`YYYY-MM-DDThh:mm:ssZ`) into Unix seconds.
pub fn parse_acs_date(s: &str) -> Result<i64, AuthError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| AuthError::Expired(format!("x-acs-date {s:?} is not YYYY-MM-DDThh:mm:ssZ")))
}

/// A request as the verifier sees it.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Decoded query (and form body) parameters.
    pub params: &'a BTreeMap<String, String>,
    /// Header lookup by lower-case name: every value.
    pub header: &'a dyn Fn(&str) -> Vec<String>,
    /// Raw body.
    pub body: &'a [u8],
}

/// Verifies a request. `secret_of` maps an AccessKey id to (uid, secret). Returns the caller.
pub fn verify(
    req: &SignedRequest<'_>,
    secret_of: &dyn Fn(&str) -> Option<(i64, String)>,
    now_unix: i64,
    max_skew_s: i64,
    nonces: &std::sync::Mutex<NonceCache>,
) -> Result<i64, AuthError> {
    let first = |n: &str| (req.header)(n).into_iter().next();
    let auth = first("authorization")
        .ok_or_else(|| AuthError::IncompleteSignature("no Authorization header".into()))?;
    let auth = parse_authorization(&auth)?;
    for h in REQUIRED_SIGNED {
        if !auth.signed_headers.iter().any(|s| s == h) {
            return Err(AuthError::IncompleteSignature(format!(
                "header {h} must be signed"
            )));
        }
    }
    let (uid, secret) = secret_of(&auth.key_id).ok_or(AuthError::UnknownAccessKey)?;
    let payload_hash = first("x-acs-content-sha256")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = hex::encode(Sha256::digest(req.body));
    if payload_hash != actual {
        return Err(AuthError::SignatureDoesNotMatch(
            "x-acs-content-sha256 does not match the body.".into(),
        ));
    }
    let creq = canonical_request(
        req.method,
        req.path,
        req.params,
        req.header,
        &auth.signed_headers,
        &payload_hash,
    );
    let expected = sign(&secret, &creq);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::SignatureDoesNotMatch(
            "Server string to sign is: ".to_owned()
                + &format!(
                    "{ALGORITHM}\n{}",
                    hex::encode(Sha256::digest(creq.as_bytes()))
                ),
        ));
    }
    let date = first("x-acs-date").unwrap_or_default();
    let t = parse_acs_date(&date)?;
    if (now_unix - t).abs() > max_skew_s {
        return Err(AuthError::Expired(format!(
            "x-acs-date {date} is more than {max_skew_s} s from the server clock"
        )));
    }
    let nonce = first("x-acs-signature-nonce").unwrap_or_default();
    if nonce.is_empty() {
        return Err(AuthError::IncompleteSignature(
            "x-acs-signature-nonce is empty".into(),
        ));
    }
    let fresh = nonces
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .check_and_insert(&auth.key_id, &nonce, Instant::now());
    if !fresh {
        return Err(AuthError::NonceUsed);
    }
    Ok(uid)
}

/// Signs a request the way the SDK does (used by the CLI and the bench). Returns the headers
/// to send, `Authorization` included.
#[must_use]
pub fn sign_request(
    key_id: &str,
    secret: &str,
    host: &str,
    action: &str,
    params: &BTreeMap<String, String>,
    date: &str,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("accept".into(), "application/json".into()),
        ("host".into(), host.into()),
        ("x-acs-action".into(), action.into()),
        (
            "x-acs-content-sha256".into(),
            hex::encode(Sha256::digest(b"")),
        ),
        ("x-acs-date".into(), date.into()),
        ("x-acs-signature-nonce".into(), nonce.into()),
        ("x-acs-version".into(), "2020-04-15".into()),
    ];
    let names: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let lookup = |n: &str| {
        headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let creq = canonical_request("POST", "/", params, &lookup, &names, &headers[3].1);
    let sig = sign(secret, &creq);
    headers.push((
        "Authorization".into(),
        format!(
            "{ALGORITHM} Credential={key_id},SignedHeaders={},Signature={sig}",
            names.join(";")
        ),
    ));
    headers
}

/// Encodes parameters for the wire (the SDK's `urlencode`: space as `+`).
#[must_use]
pub fn form_encode(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_ENCODE),
                utf8_percent_encode(v, QUERY_ENCODE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }
    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        access_key_secret: String,
        method: String,
        path: String,
        request_target: String,
        query: BTreeMap<String, String>,
        headers: BTreeMap<String, String>,
        body: String,
        canonical_request: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/data/acs3_vectors.json");
        serde_json::from_str::<Vectors>(text)
            .expect("vectors parse")
            .vectors
    }

    fn lookup(v: &Vector) -> impl Fn(&str) -> Vec<String> + '_ {
        move |n: &str| {
            v.headers
                .iter()
                .filter(|(k, _)| k.to_ascii_lowercase() == n)
                .map(|(_, x)| x.clone())
                .collect()
        }
    }

    #[test]
    fn sdk_vectors_canonical_request_and_signature() {
        for v in vectors() {
            // decode the wire form, as the server sees it
            let target_query = v.request_target.split_once('?').map_or("", |(_, q)| q);
            let params: BTreeMap<String, String> = form_decode(target_query).into_iter().collect();
            assert_eq!(params, v.query, "{}: decoded query", v.name);
            let auth = parse_authorization(&v.headers["Authorization"]).unwrap();
            let h = lookup(&v);
            let creq = canonical_request(
                &v.method,
                &v.path,
                &params,
                &h,
                &auth.signed_headers,
                &v.headers["x-acs-content-sha256"],
            );
            assert_eq!(creq, v.canonical_request, "{}: canonical request", v.name);
            assert_eq!(
                sign(&v.access_key_secret, &creq),
                v.signature,
                "{}: signature",
                v.name
            );
        }
    }

    #[test]
    fn sdk_vectors_verify_then_replay_is_refused() {
        for v in vectors() {
            let target_query = v.request_target.split_once('?').map_or("", |(_, q)| q);
            let params: BTreeMap<String, String> = form_decode(target_query).into_iter().collect();
            let h = lookup(&v);
            let req = SignedRequest {
                method: &v.method,
                path: &v.path,
                params: &params,
                header: &h,
                body: v.body.as_bytes(),
            };
            let now = parse_acs_date(&v.headers["x-acs-date"]).unwrap();
            let secret = v.access_key_secret.clone();
            let secret_of = move |_: &str| Some((7, secret.clone()));
            let nonces = std::sync::Mutex::new(NonceCache::new(Duration::from_mins(15)));
            assert_eq!(
                verify(&req, &secret_of, now, 900, &nonces),
                Ok(7),
                "{}",
                v.name
            );
            assert_eq!(
                verify(&req, &secret_of, now, 900, &nonces),
                Err(AuthError::NonceUsed),
                "{}",
                v.name
            );
            let fresh = std::sync::Mutex::new(NonceCache::new(Duration::from_mins(15)));
            assert!(matches!(
                verify(&req, &secret_of, now + 901, 900, &fresh),
                Err(AuthError::Expired(_))
            ));
            let wrong = |_: &str| Some((7, "wrong-secret".to_owned()));
            assert!(matches!(
                verify(&req, &wrong, now, 900, &fresh),
                Err(AuthError::SignatureDoesNotMatch(_))
            ));
            let none = |_: &str| None;
            assert_eq!(
                verify(&req, &none, now, 900, &fresh),
                Err(AuthError::UnknownAccessKey)
            );
        }
    }

    #[test]
    fn tampered_parameter_breaks_the_signature() {
        let v = vectors()
            .into_iter()
            .find(|v| !v.query.is_empty())
            .expect("a vector with a query");
        let mut params = v.query.clone();
        let k = params.keys().next().unwrap().clone();
        params.insert(k, "tampered".into());
        let h = lookup(&v);
        let req = SignedRequest {
            method: &v.method,
            path: &v.path,
            params: &params,
            header: &h,
            body: b"",
        };
        let now = parse_acs_date(&v.headers["x-acs-date"]).unwrap();
        let secret = v.access_key_secret.clone();
        let nonces = std::sync::Mutex::new(NonceCache::new(Duration::from_mins(15)));
        let r = verify(&req, &move |_| Some((1, secret.clone())), now, 900, &nonces);
        assert!(matches!(r, Err(AuthError::SignatureDoesNotMatch(_))));
    }

    #[test]
    fn own_signer_round_trips() {
        let mut params = BTreeMap::new();
        params.insert("EndpointName".to_owned(), "a b/c~*+é".to_owned());
        params.insert("RegionId".to_owned(), "cn-hangzhou".to_owned());
        let hs = sign_request(
            "AK",
            "secret-123",
            "127.0.0.1:1",
            "X",
            &params,
            "2026-12-04T12:00:00Z",
            "n1",
        );
        let wire = form_encode(&params);
        let decoded: BTreeMap<String, String> = form_decode(&wire).into_iter().collect();
        assert_eq!(decoded, params);
        let lookup = |n: &str| {
            hs.iter()
                .filter(|(k, _)| k.to_ascii_lowercase() == n)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let req = SignedRequest {
            method: "POST",
            path: "/",
            params: &decoded,
            header: &lookup,
            body: b"",
        };
        let nonces = std::sync::Mutex::new(NonceCache::new(Duration::from_mins(15)));
        let now = parse_acs_date("2026-12-04T12:00:00Z").unwrap();
        assert_eq!(
            verify(&req, &|_| Some((3, "secret-123".into())), now, 900, &nonces),
            Ok(3)
        );
    }

    #[test]
    fn missing_or_foreign_authorization_is_incomplete() {
        assert!(matches!(
            parse_authorization("HMAC-SHA1 x"),
            Err(AuthError::IncompleteSignature(_))
        ));
        assert!(matches!(
            parse_authorization("ACS3-HMAC-SHA256 Credential=a"),
            Err(AuthError::IncompleteSignature(_))
        ));
    }

    #[test]
    fn nonce_window_forgets_old_nonces() {
        let mut c = NonceCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(c.check_and_insert("k", "n", t0));
        assert!(!c.check_and_insert("k", "n", t0 + Duration::from_secs(5)));
        assert!(c.check_and_insert("other", "n", t0));
        assert!(c.check_and_insert("k", "n", t0 + Duration::from_secs(11)));
    }
}
