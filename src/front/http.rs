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
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::net::{TcpListener, TcpStream};

use crate::hub::lifecycle::Hub;
use crate::mcp::sessions::StreamCut;

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
    /// MCP sessions open at once; past it a new one is refused with a 503.
    pub max_sessions: usize,
    /// An MCP session nobody used for this long is closed.
    pub session_idle: Duration,
    /// Requests a second each client address may make (`--rate-limit`); off when `None`.
    pub rate: Option<Arc<crate::util::rate::Buckets<std::net::IpAddr>>>,
    /// `--rate-limit`'s figure, for the error that names it.
    pub rate_per_second: f64,
}

pub const DEFAULT_MAX_SESSIONS: usize = 1000;
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);

impl Security {
    pub fn loopback(token: Option<String>) -> Security {
        Security {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![],
            token,
            max_body: DEFAULT_MAX_BODY,
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle: DEFAULT_SESSION_IDLE,
            rate: None,
            rate_per_second: 0.0,
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

/// Limits on the HTTP front's connections, so that clients that open many, or open
/// and never finish a request, cannot exhaust the hub's file descriptors.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once; past it a new one is answered 503 and closed.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_per_client: usize,
    /// How long a connection may take to send a request's headers, counted from when
    /// it starts waiting for one: it also closes keep-alive connections idle that long.
    pub header_timeout: Duration,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

pub async fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Open connections, in all and per client address.
#[derive(Default)]
struct Open {
    total: usize,
    per_client: std::collections::HashMap<std::net::IpAddr, usize>,
}

/// One open connection's place under the caps, given back when it closes.
struct Slot {
    open: Arc<std::sync::Mutex<Open>>,
    client: std::net::IpAddr,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.client);
            }
        }
        self.metrics.open_connections.set(open.total as i64);
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections
/// finish (the caller bounds how long). Written over hyper directly rather than with
/// `axum::serve`, which has no header timeout and no connection caps.
///
/// Accepted sockets have Nagle's algorithm off: an SSE answer goes out as its events
/// come (a slow call's priming event long before its result), and with Nagle a
/// keep-alive client's delayed ACK held each answer's last piece for 40 ms.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    metrics.connection_limit.set(limits.max_connections as i64);
    metrics
        .connection_limit_per_client
        .set(limits.max_per_client as i64);
    let open = Arc::new(std::sync::Mutex::new(Open::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: the loop goes on, after a pause that lets sockets close.
                    tracing::warn!(error = %e, "accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        no_nagle(&tcp);
        let slot = {
            let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
            let mine = o.per_client.get(&peer.ip()).copied().unwrap_or(0);
            let refused = if o.total >= limits.max_connections {
                Some(format!(
                    "the hub has {} connections open, its limit (--max-connections)",
                    o.total
                ))
            } else if mine >= limits.max_per_client {
                Some(format!(
                    "{} has {mine} connections open, the limit for one client (--max-connections-per-client)",
                    peer.ip()
                ))
            } else {
                None
            };
            match refused {
                Some(why) => Err(why),
                None => {
                    o.total += 1;
                    *o.per_client.entry(peer.ip()).or_default() += 1;
                    metrics.open_connections.set(o.total as i64);
                    Ok(Slot {
                        open: open.clone(),
                        client: peer.ip(),
                        metrics: metrics.clone(),
                    })
                }
            }
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(why) => {
                metrics.refused_connections.inc();
                tokio::spawn(turn_away(tcp, why));
                continue;
            }
        };
        // The client's address, for the guard's per-client rate limit.
        let app = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let service = hyper_util::service::TowerToHyperService::new(app);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn no_nagle(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted socket");
    }
}

/// Answers a connection past the caps with a 503 that says why, and closes it. The
/// request's head is read first (within a second, up to 8 KiB): an answer that came
/// before the request was written is one HTTP clients take for a broken connection
/// (hyper's "unexpected message") rather than a 503 they can report or retry.
async fn turn_away(mut tcp: TcpStream, why: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while head.len() < 8 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = serde_json::json!({
        "error": format!("too many connections: {why}; close idle ones or raise the limit"),
        "code": "TOO_MANY_CONNECTIONS",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // A client that does not read is not waited for.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

pub fn router(
    hub: Arc<Hub>,
    security: Security,
    cancel: tokio_util::sync::CancellationToken,
) -> Router {
    let (mcp, idle, direct) = crate::front::mcp::streamable_http_service(
        hub.clone(),
        // Host validation happens in `guard` for every route; the SDK's own check
        // would only duplicate it with a different error body.
        vec![],
        security.max_body,
        security.session_idle,
        cancel.clone(),
    );
    tokio::spawn(idle.clone().expire(cancel.clone()));
    let legacy = crate::front::mcp::legacy_sse(hub.clone(), cancel);
    let security = Arc::new(security);
    // A GET of /mcp without a session is an old-SSE client's (a streamable HTTP client
    // opens its GET stream only with the session its initialize gave it).
    let legacy_get = legacy.clone();
    let mcp = Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            (hub.clone(), idle.clone(), direct),
            crate::front::mcp::answered_by_hub,
        ))
        .layer(axum::middleware::from_fn(one_write_for_a_quick_answer))
        .layer(axum::middleware::from_fn_with_state(
            idle,
            busy_while_answering,
        ))
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
        ))
        .layer(axum::middleware::from_fn_with_state(
            (hub.clone(), security.max_sessions, security.session_idle),
            session_cap,
        ));
    crate::front::rest::routes(hub)
        .merge(mcp)
        .layer(axum::middleware::from_fn_with_state(security, guard))
        // `guard` enforces the configured limit for every route.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// Refuses a request that would open one MCP session more than the cap: every session
/// holds buffers and a task, and a client that opens them without end must not take
/// the hub's memory with it.
async fn session_cap(
    State((hub, max, idle)): State<(Arc<Hub>, usize, Duration)>,
    req: Request,
    next: Next,
) -> Response {
    let no_session = !req.headers().contains_key("mcp-session-id");
    // Stateless (2026-07-28) requests open none; a POST without a session on an
    // earlier revision is an `initialize`, a GET without one an old-SSE stream.
    let stateless = req
        .headers()
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= "2026-07-28");
    let opens = no_session
        && !stateless
        && (req.method() == axum::http::Method::GET || req.uri().path() == "/mcp");
    if opens && req.method() != axum::http::Method::DELETE && hub.sessions.count() >= max {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_SESSIONS",
            format!(
                "the hub has {max} MCP sessions open, its limit (--max-sessions): close idle ones (DELETE /mcp with their Mcp-Session-Id) or raise the limit; a session idle for {} s is closed",
                idle.as_secs()
            ),
        );
    }
    next.run(req).await
}

/// Counts a session's request as an exchange until its response's body ends (a call's
/// answer written, a GET stream closed): a session is idle only without any.
async fn busy_while_answering(
    State(idle): State<Arc<crate::mcp::server::IdleSessions>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(exchange) = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|id| idle.exchange(id))
    else {
        return next.run(req).await;
    };
    let (parts, body) = next.run(req).await.into_parts();
    Response::from_parts(
        parts,
        Body::new(Holding {
            body,
            _exchange: exchange,
        }),
    )
}

/// A response body that holds its session's exchange until it ends.
struct Holding {
    body: Body,
    _exchange: crate::mcp::server::Exchange,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Where old-SSE clients POST their messages (mcp-hub's path).
const LEGACY_MESSAGES: &str = "/messages";

/// A message frame smaller than this is copied behind the held priming event, so the
/// two leave as one buffer; a larger one is worth more than the write it would save.
const COALESCE_BELOW: usize = 16 * 1024;

/// The SDK writes a POST's SSE answer as a stream whose priming event comes before the
/// result. Sent as it comes, that is a write (and a TCP segment, and a client wake-up)
/// more per call for nothing: the head and priming event (an event id and retry hint, no
/// message) are held, within `ANSWER_HOLD`, until a message can go with them. Written by
/// hand because this is a property of rmcp's stream, which no middleware crate knows
/// about.
///
/// A session's POST stream can also be cut short: a backend that closes its call's
/// stream before the answer has the hub close its client's the same way (`StreamCut`),
/// and the client resumes it with `Last-Event-ID` from the replay.
async fn one_write_for_a_quick_answer(mut req: Request, next: Next) -> Response {
    let post = req.method() == axum::http::Method::POST;
    let cut = (post && req.headers().contains_key("mcp-session-id")).then(StreamCut::default);
    if let Some(cut) = &cut {
        req.extensions_mut().insert(cut.clone());
    }
    let resp = next.run(req).await;
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    // A body whole from the start (an answer the hub wrote itself) leaves in one
    // write as it is.
    let whole = http_body::Body::size_hint(resp.body()).exact().is_some();
    if !post || !sse || whole {
        return resp;
    }
    let (parts, mut body) = resp.into_parts();
    let deadline = tokio::time::Instant::now() + crate::front::mcp::ANSWER_HOLD;
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
                Ok(data) if carries_a_message(&data) => {
                    // A large message goes as a frame of its own, not copied: hyper
                    // writes frames that are ready together in one vectored write.
                    if held.is_empty() || data.len() > COALESCE_BELOW {
                        after = Some(Ok(http_body::Frame::data(data)));
                    } else {
                        held.extend_from_slice(&data);
                    }
                    break;
                }
                Ok(data) => held.extend_from_slice(&data),
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
    let body = match (ended, cut) {
        (true, _) => Body::new(http_body_util::StreamBody::new(head)),
        (false, None) => Body::new(http_body_util::StreamBody::new(futures::StreamExt::chain(
            head, rest,
        ))),
        (false, Some(cut)) => {
            let rest = futures::StreamExt::take_until(rest, cut.cut_off());
            Body::new(http_body_util::StreamBody::new(futures::StreamExt::chain(
                head, rest,
            )))
        }
    };
    Response::from_parts(parts, body)
}

/// Whether SSE text has a `data:` line with something in it (priming and retry events
/// and keep-alive comments have none). Looks only at the start of each `data:` line's
/// value: a message's line can be megabytes long.
fn carries_a_message(sse: &[u8]) -> bool {
    let mut rest = sse;
    loop {
        if let Some(value) = rest.strip_prefix(b"data:") {
            let start = value
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\r'));
            if start.is_some_and(|i| value[i] != b'\n') {
                return true;
            }
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => rest = &rest[end + 1..],
            None => return false,
        }
    }
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
    if let Some(buckets) = &sec.rate
        && let Some(axum::extract::ConnectInfo(peer)) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        && let Err(wait) = buckets.take(&peer.ip())
    {
        return rate_limited(&parts, &bytes, peer, sec.rate_per_second, wait);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// 429 with `Retry-After`: on `/mcp` a JSON-RPC error answering the request, elsewhere
/// the REST API's error.
fn rate_limited(
    parts: &axum::http::request::Parts,
    body: &[u8],
    peer: &SocketAddr,
    rate: f64,
    wait: Duration,
) -> Response {
    let message = format!(
        "rate limited: {} may make {rate} requests a second (--rate-limit); retry in {} ms",
        peer.ip(),
        wait.as_millis().max(1)
    );
    let mut resp = if parts.uri.path() == "/mcp" {
        #[derive(serde::Deserialize)]
        struct Id {
            id: Option<serde_json::Value>,
        }
        let id = serde_json::from_slice::<Id>(body).ok().and_then(|r| r.id);
        let error = serde_json::json!({
            "jsonrpc": "2.0", "id": id,
            "error": {"code": -32000, "message": message,
                      "data": {"retryAfterMs": wait.as_millis() as u64}},
        });
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(error)).into_response()
    } else {
        refuse(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message)
    };
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    resp
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
        let listener = listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(
            !accepted.nodelay().unwrap(),
            "the kernel's default is Nagle on"
        );
        no_nagle(&accepted);
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
        assert!(!carries_a_message(b"data:\t \r\ndata:\n\n"));
        assert!(!carries_a_message(b"data:  "), "a torn line, blank so far");
        assert!(carries_a_message(b"id: 2/3\nevent: message\ndata:{}\n\n"));
        assert!(
            carries_a_message(b"data: {\"jsonrpc\""),
            "a line not ended yet"
        );
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
