//! The client side of the 2024-11-05 HTTP+SSE transport, for remote servers that speak
//! nothing newer: a GET opens an event stream whose first event (`endpoint`) names the
//! URL to POST requests to; answers and the server's own messages come back as
//! `message` events on the stream.
//!
//! Written by hand: the protocol SDK has no client for this transport (it dropped it
//! when the spec deprecated it), and mcp-hub's users have servers that speak only it.
//! It is an SDK `Transport`, so the session over it is the same as over the others:
//! the same relays, timeouts and reconnects.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::mpsc;

/// Why the stream could not be opened: `unauthorized` for a 401 or 403 (the server
/// wants credentials), so that the caller can tell it apart from a server that is down.
#[derive(Debug)]
pub struct OpenError {
    pub unauthorized: bool,
    /// The server's `WWW-Authenticate` with a 401 or 403.
    pub challenge: Option<String>,
    pub message: String,
}

pub struct LegacySseTransport {
    http: reqwest::Client,
    headers: HeaderMap,
    endpoint: reqwest::Url,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LegacySseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Opens the event stream at `url` and waits (up to `timeout`) for the endpoint it
/// names.
pub async fn open(
    http: reqwest::Client,
    url: &str,
    headers: HeaderMap,
    timeout: Duration,
) -> Result<LegacySseTransport, OpenError> {
    let fail = |message: String| OpenError {
        unauthorized: false,
        challenge: None,
        message,
    };
    let base = reqwest::Url::parse(url).map_err(|e| fail(format!("`{url}`: {e}")))?;
    let resp = tokio::time::timeout(
        timeout,
        http.get(base.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send(),
    )
    .await
    .map_err(|_| fail(format!("no answer to GET within {}s", timeout.as_secs())))?
    .map_err(|e| fail(crate::telemetry::error_causes(&e).join(": ")))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(OpenError {
            unauthorized: true,
            challenge: resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            message: format!("the server wants authorization (HTTP {status} to the SSE GET)"),
        });
    }
    if !status.is_success() {
        return Err(fail(format!("the SSE GET was answered HTTP {status}")));
    }
    let is_sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return Err(fail(
            "the SSE GET was not answered with an event stream (text/event-stream)".into(),
        ));
    }
    let (endpoint_tx, endpoint_rx) = tokio::sync::oneshot::channel::<String>();
    // Small: a session has a request or two in flight; the reader waits for room.
    let (tx, incoming) = mpsc::channel(16);
    let reader = tokio::spawn(read_events(resp, endpoint_tx, tx));
    let endpoint = tokio::time::timeout(timeout, endpoint_rx)
        .await
        .map_err(|_| {
            fail(format!(
                "the event stream named no endpoint within {}s (is this an MCP SSE endpoint?)",
                timeout.as_secs()
            ))
        })?
        .map_err(|_| fail("the event stream ended before it named its endpoint".into()))?;
    let endpoint = base
        .join(&endpoint)
        .map_err(|e| fail(format!("the endpoint `{endpoint}` is not a URL: {e}")))?;
    // A server may name only a path; one that names another origin is not followed:
    // requests (and any credentials in them) go where the user pointed the hub.
    if endpoint.origin() != base.origin() {
        return Err(fail(format!(
            "the event stream named an endpoint on another origin ({}), which is not followed",
            endpoint.origin().ascii_serialization()
        )));
    }
    Ok(LegacySseTransport {
        http,
        headers,
        endpoint,
        incoming,
        reader,
    })
}

/// Reads the stream: the first `endpoint` event goes to `endpoint`, `message` events
/// (and unnamed ones) to `tx` as JSON-RPC messages. Ends with the stream, which ends
/// the session over it.
async fn read_events(
    resp: reqwest::Response,
    endpoint: tokio::sync::oneshot::Sender<String>,
    tx: mpsc::Sender<RxJsonRpcMessage<RoleClient>>,
) {
    let mut endpoint = Some(endpoint);
    let mut events = sse_stream::SseStream::from_bytes_stream(resp.bytes_stream());
    while let Some(Ok(event)) = events.next().await {
        let data = event.data.unwrap_or_default();
        match event.event.as_deref() {
            Some("endpoint") => {
                if let Some(e) = endpoint.take() {
                    let _ = e.send(data.trim().to_owned());
                }
            }
            None | Some("message") => match serde_json::from_str(&data) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an SSE server sent a message that is not JSON-RPC; skipped");
                }
            },
            Some(_) => {}
        }
    }
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(&item);
        async move {
            let resp = request.send().await.map_err(|e| {
                std::io::Error::other(crate::telemetry::error_causes(&e).join(": "))
            })?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "the server refused a message: HTTP {}",
                    resp.status()
                )))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        Ok(())
    }
}
