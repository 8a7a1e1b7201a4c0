//! SEP-1699 polling seen from the hub's side of a backend: a streamable HTTP server may
//! close a call's SSE stream before its answer and have the client come back with
//! `Last-Event-ID`. The SDK's transport resumes such a stream by itself; this wrapper
//! of its HTTP client notices the close and has the hub close the caller's stream the
//! same way ([`Sessions::cut_stream`]), so a client of the hub sees what it would see
//! directly, and gets the answer from the hub's replay when it resumes.
//!
//! It also keeps the `WWW-Authenticate` of the last request the server refused (401,
//! or 403 `insufficient_scope`): the SDK ends its transport on such an answer and
//! keeps the header in its worker's quit reason, out of reach of the `initialize`
//! that then fails, and a sign-in must ask for the scope the server named.
//!
//! Written by hand: it wraps the SDK's own client trait, which no crate extends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, ProgressToken};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

use crate::mcp::sessions::Sessions;

type Posted<E> = Result<StreamableHttpPostResponse, StreamableHttpError<E>>;

/// The SDK's HTTP client for one backend, telling the hub when the backend closes a
/// call's stream before answering.
#[derive(Clone)]
pub struct Polled<C> {
    inner: C,
    server: Arc<str>,
    sessions: Arc<Sessions>,
    /// Shared by the clones the SDK makes of its client.
    refused: Arc<Mutex<Option<String>>>,
}

impl<C> Polled<C> {
    pub fn new(inner: C, server: &str, sessions: Arc<Sessions>) -> Polled<C> {
        Polled {
            inner,
            server: server.into(),
            sessions,
            refused: Arc::default(),
        }
    }

    /// The `WWW-Authenticate` of the last refusal for want of authorization or scope,
    /// taken.
    pub fn refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn note_refusal<E: std::error::Error + Send + Sync + 'static>(&self, posted: &Posted<E>) {
        let challenge = match posted {
            Err(StreamableHttpError::AuthRequired(e)) => &e.www_authenticate_header,
            Err(StreamableHttpError::InsufficientScope(e)) => &e.www_authenticate_header,
            _ => return,
        };
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(challenge.clone());
    }

    /// The answer stream of the call known by `token` (a tool call's), watched for an
    /// end before the answer.
    fn watch<E: std::error::Error + Send + Sync + 'static>(
        &self,
        token: Option<ProgressToken>,
        posted: Posted<E>,
    ) -> Posted<E> {
        let Some(token) = token else {
            return posted;
        };
        let Ok(StreamableHttpPostResponse::Sse(stream, session)) = posted else {
            return posted;
        };
        let (server, sessions) = (self.server.clone(), self.sessions.clone());
        let answered = Arc::new(AtomicBool::new(false));
        let seen = answered.clone();
        let watched = stream
            .inspect(move |event| {
                if let Ok(sse_stream::Sse {
                    data: Some(data), ..
                }) = event
                    && is_answer(data)
                {
                    seen.store(true, Ordering::Relaxed);
                }
            })
            .chain(futures::stream::poll_fn(move |_| {
                // The stream ended; without the answer the SDK resumes it, and the
                // caller's stream is closed likewise.
                if !answered.load(Ordering::Relaxed) {
                    sessions.cut_stream(&server, &token);
                }
                std::task::Poll::Ready(None)
            }));
        Ok(StreamableHttpPostResponse::Sse(watched.boxed(), session))
    }
}

/// The hub's progress token of a tool call: what the hub knows the call by.
fn call_token(message: &ClientJsonRpcMessage) -> Option<ProgressToken> {
    match message {
        ClientJsonRpcMessage::Request(r)
            if matches!(r.request, ClientRequest::CallToolRequest(_)) =>
        {
            r.request.get_meta().get_progress_token()
        }
        _ => None,
    }
}

/// Whether an SSE event's data is a response (a result or an error), not a request or
/// a notification. Read for its shape only: an answer can be megabytes.
fn is_answer(data: &str) -> bool {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Shape {
        method: Option<IgnoredAny>,
        result: Option<IgnoredAny>,
        error: Option<IgnoredAny>,
    }
    serde_json::from_str::<Shape>(data)
        .is_ok_and(|m| m.method.is_none() && (m.result.is_some() || m.error.is_some()))
}

/// The SDK's transport posts with `post_message_with_response_limits` and resumes with
/// `get_stream_with_max_sse_event_size`: those two go to the inner client's own, with
/// their limits; the rest are the trait's required ones.
impl<C: StreamableHttpClient + Sync> StreamableHttpClient for Polled<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Posted<C::Error> {
        let token = call_token(&message);
        let posted = self
            .inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        self.note_refusal(&posted);
        self.watch(token, posted)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Posted<C::Error> {
        let token = call_token(&message);
        let posted = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        self.note_refusal(&posted);
        self.watch(token, posted)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<C::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<C::Error>,
    > {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<C::Error>,
    > {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
