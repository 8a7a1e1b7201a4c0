//! The HTTP listener: `/mcp`, `/api/*` and `/metrics` behind one security layer
//! (Host and Origin validation against DNS rebinding, optional bearer token, body
//! size limit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{ListenerExt, TapIo};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::net::{TcpListener, TcpStream};

use crate::hub::lifecycle::Hub;

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

/// The hub's listener: accepted sockets have Nagle's algorithm off. An SSE answer goes
/// out as its events come (a slow call's priming event long before its result), and
/// with Nagle a keep-alive client's delayed ACK held each answer's last piece for 40 ms.
pub type HubListener = TapIo<TcpListener, fn(&mut TcpStream)>;

pub async fn listen(addr: SocketAddr) -> std::io::Result<HubListener> {
    let no_nagle: fn(&mut TcpStream) = |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted socket");
        }
    };
    Ok(TcpListener::bind(addr).await?.tap_io(no_nagle))
}

pub fn router(
    hub: Arc<Hub>,
    security: Security,
    cancel: tokio_util::sync::CancellationToken,
) -> Router {
    let mcp = crate::front::mcp::streamable_http_service(
        hub.clone(),
        // Host validation happens in `guard` for every route; the SDK's own check
        // would only duplicate it with a different error body.
        vec![],
        security.max_body,
        cancel.clone(),
    );
    let legacy = crate::front::mcp::legacy_sse(hub.clone(), cancel);
    let security = Arc::new(security);
    // A GET of /mcp without a session is an old-SSE client's (a streamable HTTP client
    // opens its GET stream only with the session its initialize gave it).
    let legacy_get = legacy.clone();
    let mcp = Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn(one_write_for_a_quick_answer))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let legacy = legacy_get.clone();
                async move {
                    let old_sse = req.method() == axum::http::Method::GET
                        && !req.headers().contains_key("mcp-session-id");
                    if old_sse {
                        legacy.open(LEGACY_MESSAGES)
                    } else {
                        next.run(req).await
                    }
                }
            },
        ))
        .merge(crate::mcp::legacy_sse::routes(
            legacy,
            "/sse",
            LEGACY_MESSAGES,
        ));
    crate::front::rest::routes(hub)
        .merge(mcp)
        .layer(axum::middleware::from_fn_with_state(security, guard))
        // `guard` enforces the configured limit for every route.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// Where old-SSE clients POST their messages (mcp-hub's path).
const LEGACY_MESSAGES: &str = "/messages";

/// How long a POST's SSE answer holds back its head and priming event (an event id and
/// retry hint, no message) waiting for the first message. A quick call's whole answer
/// then leaves in one write instead of two; a slow one's priming event is only this late.
const PRIMING_HOLD: Duration = Duration::from_millis(20);

/// The SDK writes a POST's SSE answer as a stream whose priming event comes before the
/// result. Sent as it comes, that is a write (and a TCP segment, and a client wake-up)
/// more per call for nothing: the priming event is held, within `PRIMING_HOLD`, until a
/// message can go with it. Written by hand because this is a property of rmcp's stream,
/// which no middleware crate knows about.
async fn one_write_for_a_quick_answer(req: Request, next: Next) -> Response {
    let post = req.method() == axum::http::Method::POST;
    let resp = next.run(req).await;
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !post || !sse {
        return resp;
    }
    let (parts, mut body) = resp.into_parts();
    let deadline = tokio::time::Instant::now() + PRIMING_HOLD;
    let mut held = BytesMut::new();
    let mut after: Option<Result<http_body::Frame<Bytes>, axum::Error>> = None;
    let mut ended = false;
    while let Ok(next) = tokio::time::timeout_at(deadline, body.frame()).await {
        match next {
            None => {
                ended = true;
                break;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    held.extend_from_slice(&data);
                    if carries_a_message(&data) {
                        break;
                    }
                }
                Err(frame) => {
                    after = Some(Ok(frame));
                    break;
                }
            },
            Some(Err(e)) => {
                after = Some(Err(e));
                break;
            }
        }
    }
    let first = (!held.is_empty()).then(|| Ok(http_body::Frame::data(held.freeze())));
    let head = futures::stream::iter(first.into_iter().chain(after));
    let rest = http_body_util::BodyStream::new(body);
    let body = if ended {
        Body::new(http_body_util::StreamBody::new(head))
    } else {
        Body::new(http_body_util::StreamBody::new(futures::StreamExt::chain(
            head, rest,
        )))
    };
    Response::from_parts(parts, body)
}

/// Whether SSE text has a `data:` line with something in it (priming and retry events
/// and keep-alive comments have none).
fn carries_a_message(sse: &[u8]) -> bool {
    sse.split(|&b| b == b'\n').any(|line| {
        line.strip_prefix(b"data:")
            .is_some_and(|d| !d.trim_ascii().is_empty())
    })
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
    // The browser coming back from an authorization server has no bearer token; the
    // callback is authenticated by its state (and PKCE) instead.
    let oauth_callback = req.uri().path() == "/api/oauth/callback";
    if let Some(token) = sec.token.as_ref().filter(|_| !oauth_callback) {
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

    #[tokio::test]
    async fn accepted_sockets_do_not_wait_for_acks() {
        use axum::serve::Listener;
        let mut listener = listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "Nagle's algorithm is on");
    }

    #[test]
    fn priming_and_keep_alive_events_carry_no_message() {
        assert!(!carries_a_message(b"data: \nid: 0/3\nretry: 3000\n\n"));
        assert!(!carries_a_message(b"retry: 3000\n\n"));
        assert!(!carries_a_message(b":\n\n"));
        assert!(carries_a_message(
            b"data: {\"jsonrpc\":\"2.0\"}\nid: 1/3\n\n"
        ));
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
