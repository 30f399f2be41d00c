//! The per-request layer: request id (§21.6), client IP (§21.5), request-target and header
//! size limits, per-IP rate limits, problem rendering (§1.4), `nosniff`, metrics (§21.3) and
//! one JSON-friendly access log line.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Cidr;
use crate::error::{self, ApiError, ErrorCode};
use crate::ratelimit::Scope;
use crate::scim;
use crate::state::HttpState;

/// The request id of this request (§21.6).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The client IP of this request (§21.5).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// `x-request-id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes that are never rate limited.
const UNLIMITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// Public routes with their own per-IP bucket.
const PUBLIC: [&str; 3] = [
    "/.well-known/jwks.json",
    "/api/invitations/decline",
    "/invitations/accept/{token}",
];

fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn new_request_id(state: &HttpState) -> String {
    let millis = u64::try_from(state.app().current_time().timestamp_millis()).unwrap_or_default();
    let random: [u8; 10] = rand::random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// The client IP: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` address that is not a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.iter().flat_map(|v| v.split(',')).collect();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return ip,
            Err(_) => break,
        }
    }
    peer
}

/// The layer around every route and the fallback.
pub async fn layer(State(state): State<HttpState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| valid_request_id(id))
        .map_or_else(|| new_request_id(&state), str::to_owned);
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = client_ip(peer, &forwarded, &state.config().trusted_proxies);
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let problem_json = req
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/problem+json"));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientIp(ip));

    let res = match head_limits(&req).and_then(|()| ip_limits(&state, route.as_deref(), ip)) {
        Err(e) => e.into_response(),
        Ok(()) => next.run(req).await,
    };

    let mut res = if path.starts_with(scim::PREFIX) {
        let res = scim::render(res);
        scim::count(&path, method.as_str(), res.status().as_u16());
        res
    } else {
        error::render(res, &request_id, &path, problem_json, state.app().current_time())
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));

    let status = res.status().as_u16();
    let route_label = route.clone().unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    metrics::counter!("http_requests_total", "method" => method.to_string(), "route" => route_label.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_string(), "route" => route_label.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        target: "org_http::access",
        request_id = %request_id,
        method = %method,
        route = %route_label,
        path = %path,
        status,
        client_ip = %ip,
        duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    res
}

/// 414 and 431 with a problem (or SCIM) body, below the limits at which hyper answers them
/// itself with an empty body before any router runs (§1.4).
fn head_limits(req: &Request) -> Result<(), ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > crate::URI_LIMIT {
        return Err(ApiError::new(
            ErrorCode::UriTooLong,
            format!("The request target exceeds {} bytes", crate::URI_LIMIT),
        ));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > crate::HEADER_LIMIT {
        return Err(ApiError::new(
            ErrorCode::HeaderFieldsTooLarge,
            format!("The request header fields exceed {} bytes", crate::HEADER_LIMIT),
        ));
    }
    Ok(())
}

fn ip_limits(state: &HttpState, route: Option<&str>, ip: IpAddr) -> Result<(), ApiError> {
    if route.is_some_and(|r| UNLIMITED.contains(&r)) {
        return Ok(());
    }
    let limits = state.config().rate_limits;
    let key = ip.to_string();
    let check = |scope: Scope, per_minute: u32| {
        state.limiter().check(scope, &key, per_minute).map_err(|retry| {
            metrics::counter!("rate_limited_total", "scope" => scope.as_str()).increment(1);
            ApiError::rate_limited(retry)
        })
    };
    check(Scope::Ip, limits.per_ip)?;
    // The refresh bucket is the refresh handler's: a replay does not count (§21.5).
    match route {
        Some(r) if PUBLIC.contains(&r) => check(Scope::Public, limits.public_per_ip),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &["1.1.1.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &["1.1.1.1, 2.2.2.2, 10.0.0.3"], &trusted),
            ip("2.2.2.2")
        );
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &[], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn request_ids_follow_the_character_rules() {
        assert!(valid_request_id("abc-123:x.y_z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("with space"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
