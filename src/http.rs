//! The HTTP listener: `/mcp`, `/api/*` and `/metrics` behind one security layer
//! (Host and Origin validation against DNS rebinding, optional bearer token, body
//! size limit).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::hub::Hub;

/// Default request body limit (SPEC: bodies are size-limited): tool arguments of a few
/// MB are plausible, tens of MB are not.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Security {
    /// Host names (without port) a request may be addressed to.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins allowed besides loopback ones.
    pub allowed_origins: Vec<String>,
    pub token: Option<String>,
    pub max_body: usize,
}

impl Security {
    pub fn loopback(token: Option<String>) -> Security {
        Security {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![],
            token,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Refuses a bind that would expose the hub beyond this machine without a token.
pub fn check_bind(addr: &SocketAddr, token: Option<&str>, force: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || token.is_some() || force {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without a token: anyone who can reach it could run your MCP servers' tools. \
         Set --token (or MCPHUB_TOKEN), bind 127.0.0.1, or pass --allow-insecure-bind if the network is trusted"
    ))
}

pub fn router(
    hub: Arc<Hub>,
    security: Security,
    cancel: tokio_util::sync::CancellationToken,
) -> Router {
    let mcp = crate::mcp::server::streamable_http_service(
        hub.clone(),
        // Host validation happens in `guard` for every route; the SDK's own check
        // would only duplicate it with a different error body.
        vec![],
        security.max_body,
        cancel,
    );
    let security = Arc::new(security);
    crate::rest::routes(hub)
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(security, guard))
        // `guard` enforces the configured limit for every route.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
}

fn origin_allowed(origin: &str, sec: &Security) -> bool {
    if sec.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = host_without_port(rest.split('/').next().unwrap_or(rest));
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn refuse(status: StatusCode, code: &str, msg: String) -> Response {
    let body = serde_json::json!({
        "error": msg, "code": code, "data": null,
        "timestamp": chrono::Utc::now().to_rfc3339(),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"mcphub\""),
        );
    }
    resp
}

async fn guard(State(sec): State<Arc<Security>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let hostname = host_without_port(host);
    if !sec.allowed_hosts.iter().any(|h| h == hostname) {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_HOST",
            format!(
                "Host `{host}` is not allowed; use http://127.0.0.1:<port> or add it with --allow-host"
            ),
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, &sec) {
            return refuse(
                StatusCode::FORBIDDEN,
                "FORBIDDEN_ORIGIN",
                format!("Origin `{origin}` is not allowed; add it with --allow-origin"),
            );
        }
    }
    if let Some(token) = &sec.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong bearer token: send `Authorization: Bearer <token>`".into(),
            );
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > sec.max_body) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("request body over the {} byte limit", sec.max_body),
        );
    }
    // Bodies are small JSON documents: buffer them (bounded), so that a chunked body
    // over the limit is refused like a declared one.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, sec.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body over the {} byte limit", sec.max_body),
            );
        }
    };
    // The SDK answers an unparseable JSON-RPC body with 415; JSON-RPC says -32700 and
    // HTTP says 400, which is what clients expect.
    if parts.method == axum::http::Method::POST
        && parts.uri.path() == "/mcp"
        && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err()
    {
        let err = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": null,
            "error": {"code": -32700, "message": format!("Parse error: the body is not JSON ({err})")},
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        assert_eq!(host_without_port("127.0.0.1:7000"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:7000"), "::1");
        assert_eq!(host_without_port("localhost"), "localhost");
        let sec = Security::loopback(None);
        assert!(origin_allowed("http://localhost:6274", &sec));
        assert!(!origin_allowed("http://evil.example", &sec));
        assert!(!origin_allowed("http://127.0.0.1.evil.example", &sec));
    }

    #[test]
    fn non_loopback_bind_needs_a_token() {
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert!(check_bind(&any, None, false).is_err());
        assert!(check_bind(&any, Some("t"), false).is_ok());
        assert!(check_bind(&any, None, true).is_ok());
        assert!(check_bind(&lo, None, false).is_ok());
    }
}
