//! The HTTP+SSE transport of protocol revision 2024-11-05, which mcp-hub serves and its
//! clients still speak: `GET` opens a session as an event stream whose first event,
//! `endpoint`, names where to POST; each `POST /messages?sessionId=…` carries one
//! JSON-RPC message, answered `202 Accepted`, and every message for the client comes
//! back as a `message` event on the stream.
//!
//! Written here because the SDK (rmcp 3) serves only streamable HTTP; a session is the
//! SDK's own server over a channel pair, so everything a handler does (progress, logs,
//! sampling, elicitation, roots, list changes) travels the same way as on other
//! transports.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::ServiceExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages a session's client may have posted and the handler not yet taken.
const INBOX: usize = 64;

type Factory<S> = Arc<dyn Fn() -> S + Send + Sync>;

/// The open sessions, by id, and how to make the handler of a new one.
pub struct LegacySse<S> {
    handler: Factory<S>,
    sessions: Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>,
    cancel: CancellationToken,
}

impl<S: rmcp::ServerHandler> LegacySse<S> {
    /// Sessions end when `cancel` is cancelled (shutdown) or their client goes.
    pub fn new(
        handler: impl Fn() -> S + Send + Sync + 'static,
        cancel: CancellationToken,
    ) -> Arc<LegacySse<S>> {
        Arc::new(LegacySse {
            handler: Arc::new(handler),
            sessions: Mutex::new(HashMap::new()),
            cancel,
        })
    }

    /// Opens a session: the response is its event stream. `messages` is the path the
    /// `endpoint` event names, as mcp-hub names it.
    pub fn open(self: &Arc<Self>, messages: &str) -> Response {
        let id = format!("{:032x}", rand::random::<u128>());
        let (inbox, inbound) = mpsc::channel::<ClientJsonRpcMessage>(INBOX);
        let (outbound, outbox) = mpsc::channel::<ServerJsonRpcMessage>(INBOX);
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), inbox);
        let handler = (self.handler)();
        let ended = CancellationToken::new();
        let session_ended = ended.clone();
        let cancel = self.cancel.clone();
        let registry = self.clone();
        let session_id = id.clone();
        tokio::spawn(async move {
            let transport = (
                tokio_util::sync::PollSender::new(outbound),
                tokio_stream::wrappers::ReceiverStream::new(inbound),
            );
            // The handshake too ends with the client or the hub: a client that goes
            // before `initialize` would otherwise leave the session waiting on an
            // inbox that this registry keeps open.
            let session = async {
                if let Ok(running) = handler.serve(transport).await {
                    let _ = running.waiting().await;
                }
            };
            tokio::select! {
                _ = session => {}
                _ = cancel.cancelled() => {}
                _ = session_ended.cancelled() => {}
            }
            registry.forget(&session_id);
            session_ended.cancel();
        });
        let endpoint = Event::default()
            .event("endpoint")
            .data(format!("{messages}?sessionId={id}"));
        let events = tokio_stream::wrappers::ReceiverStream::new(outbox).map(|message| {
            let data = serde_json::to_string(&message).unwrap_or_default();
            Ok::<_, Infallible>(Event::default().event("message").data(data))
        });
        let stream = futures::stream::once(async move { Ok(endpoint) })
            .chain(events)
            .take_until(ended.clone().cancelled_owned());
        Sse::new(EndOnDrop {
            stream: Box::pin(stream),
            ended,
        })
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
    }

    /// One message posted to session `id`: an unknown session is told before a bad
    /// body, so that a client learns first that it has to open a new one.
    pub async fn post(&self, id: &str, body: &[u8]) -> Response {
        let inbox = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        let Some(inbox) = inbox else {
            return (
                StatusCode::NOT_FOUND,
                format!("no session `{id}`: open one with GET /sse (or GET /mcp) first"),
            )
                .into_response();
        };
        let message: ClientJsonRpcMessage = match serde_json::from_slice(body) {
            Ok(m) => m,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("the body is not a JSON-RPC message: {e}"),
                )
                    .into_response();
            }
        };
        match inbox.send(message).await {
            Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
            Err(_) => (StatusCode::NOT_FOUND, format!("session `{id}` has ended")).into_response(),
        }
    }

    fn forget(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// An event stream that ends its session when the client goes away (the response,
/// and with it this stream, is dropped).
struct EndOnDrop<St> {
    stream: std::pin::Pin<Box<St>>,
    ended: CancellationToken,
}

impl<St: Stream> Stream for EndOnDrop<St> {
    type Item = St::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<St::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl<St> Drop for EndOnDrop<St> {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}

/// `?sessionId=` of a message POST.
#[derive(serde::Deserialize)]
pub struct SessionQuery {
    #[serde(rename = "sessionId")]
    pub session_id: String,
}

/// The two routes: `GET {sse}` opens a session, `POST {messages}` takes its messages.
pub fn routes<S: rmcp::ServerHandler>(
    sse: Arc<LegacySse<S>>,
    open_path: &str,
    messages_path: &'static str,
) -> axum::Router {
    axum::Router::new()
        .route(
            open_path,
            axum::routing::get(move |State(sse): State<Arc<LegacySse<S>>>| async move {
                sse.open(messages_path)
            }),
        )
        .route(
            messages_path,
            axum::routing::post(
                |State(sse): State<Arc<LegacySse<S>>>,
                 Query(q): Query<SessionQuery>,
                 body: axum::body::Bytes| async move {
                    sse.post(&q.session_id, &body).await
                },
            ),
        )
        .with_state(sse)
}
