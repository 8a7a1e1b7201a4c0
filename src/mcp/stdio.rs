//! A stdio server's JSON-RPC messages, one a line, as the SDK's transport.
//!
//! The SDK's line transport keeps its line buffer at the size of the longest line it
//! ever read, and its writer's buffer at the size of the longest message it ever
//! wrote: 100 servers that each once listed 200 tools hold 26 MB of buffers for good,
//! and one answer near the message limit holds 16 MiB until its server stops. Here a
//! buffer a long line grew is given back once the line is read, and each message is
//! written from a buffer of its own. Written by hand because the SDK's buffers are
//! private to its transport and it has no knob for them.
//!
//! The lines come through [`super::oversize::Limited`], which has already cut any line
//! over the server's message limit: this reader never holds more than that.
//!
//! An answer is read as the result its request asked for (as the other SDKs read
//! them), not tried against each of the SDK's result shapes in turn: that trial
//! copies the whole message into a generic tree, then the result into another, and
//! tests up to 16 shapes before a tool's answer; it was most of what a large
//! `tools/list` cost the hub to read. Anything the direct read cannot take (an error,
//! a task, an `input_required` round, a malformed result) is read the SDK's way.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{
    ClientRequest, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, RequestId, ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// A line buffer up to this size is kept for the next line; a larger one is freed.
/// Most messages (calls, their answers, notifications) are far smaller.
const KEEP: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines read in a row before `receive` lets the hub's other tasks run. The lines of
/// a flooding server come out of the read buffer without waiting on the pipe, so the
/// SDK's loop would otherwise read (and hand to tasks of their own) a hundred or more
/// of them in one turn of the hub's one thread while a client's request waits behind
/// them. Few enough that a turn is short beside a client's call, enough that the
/// yield (one reschedule) is spread over many lines; BENCHMARKS.md has its effect.
const LINES_PER_TURN: u32 = 16;

/// Requests awaiting an answer that are remembered for the direct read. Past this
/// many (answers that never came: timed-out calls) the record starts over; a request
/// it forgot is answered all the same, read the SDK's way.
const AWAITED_AT_MOST: usize = 1024;

/// The result a request sent to the server is answered with, for the kinds whose
/// answers are large or frequent.
#[derive(Clone, Copy)]
enum Awaited {
    Tools,
    Resources,
    Templates,
    Prompts,
    Call,
}

impl Awaited {
    fn of(request: &ClientRequest) -> Option<Awaited> {
        Some(match request {
            ClientRequest::ListToolsRequest(_) => Awaited::Tools,
            ClientRequest::ListResourcesRequest(_) => Awaited::Resources,
            ClientRequest::ListResourceTemplatesRequest(_) => Awaited::Templates,
            ClientRequest::ListPromptsRequest(_) => Awaited::Prompts,
            ClientRequest::CallToolRequest(_) => Awaited::Call,
            _ => return None,
        })
    }

    /// `result` read as this kind's result; `None` when it is not one (or is not
    /// complete: a task or an `input_required` round), for the SDK to read.
    fn read(self, result: &str) -> Option<ServerResult> {
        // A list's result, when complete.
        macro_rules! list {
            ($result:ident) => {{
                let list: $result = serde_json::from_str(result).ok()?;
                let complete = list.result_type.as_ref().is_none_or(|t| t.is_complete());
                complete.then_some(ServerResult::$result(list))?
            }};
        }
        Some(match self {
            Awaited::Tools => list!(ListToolsResult),
            Awaited::Resources => list!(ListResourcesResult),
            Awaited::Templates => list!(ListResourceTemplatesResult),
            Awaited::Prompts => list!(ListPromptsResult),
            // Its own reader already refuses a result that is not complete.
            Awaited::Call => ServerResult::CallToolResult(serde_json::from_str(result).ok()?),
        })
    }
}

/// A message's JSON-RPC frame, its result left unread.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a str>,
    id: Option<RequestId>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

pub struct Lines<R, W> {
    read: BufReader<R>,
    /// The line being read. It lives here, not in `receive`, because the SDK drops a
    /// pending `receive` whenever something else is ready: the next one resumes it.
    line: Vec<u8>,
    write: Arc<Mutex<Option<W>>>,
    /// Names the server in what is logged.
    server: Arc<str>,
    /// The requests sent whose answers are read directly, by id.
    awaited: HashMap<RequestId, Awaited>,
    /// Lines read since `receive` last yielded.
    in_a_row: u32,
}

impl<R, W> Lines<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W, server: &str) -> Self {
        Lines {
            read: BufReader::new(read),
            line: Vec::new(),
            write: Arc::new(Mutex::new(Some(write))),
            server: server.into(),
            awaited: HashMap::new(),
            in_a_row: 0,
        }
    }

    /// Reads up to the end of the next line into `self.line`; `false` at the end of
    /// the stream (a last line without its newline is incomplete: dropped).
    async fn read_line(&mut self) -> std::io::Result<bool> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(false);
            }
            let (take, ends) = match memchr::memchr(b'\n', available) {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            // No await between the copy and the consume: a dropped `receive` loses
            // nothing.
            self.line.extend_from_slice(&available[..take]);
            self.read.consume(take);
            if ends {
                return Ok(true);
            }
        }
    }

    /// The message on the line just read, if it is one the client should see.
    fn message(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let line = self.line.strip_prefix(BOM).unwrap_or(&self.line);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        // A line without a `"result"` key cannot be a result: notifications (a log
        // flood during a call) go straight to the SDK's reading.
        let may_be_direct =
            !self.awaited.is_empty() && memchr::memmem::find(line, b"\"result\"").is_some();
        let direct = if may_be_direct {
            read_awaited(&self.awaited, line)
        } else {
            None
        };
        let message = match direct {
            Some(answer) => Some(answer),
            None => match serde_json::from_slice(line) {
                Ok(message) => Some(message),
                Err(e) => self.unreadable(line, e),
            },
        };
        // Any answer, however it was read, ends its request's wait.
        let answered = match &message {
            Some(JsonRpcMessage::Response(r)) => Some(&r.id),
            Some(JsonRpcMessage::Error(e)) => e.id.as_ref(),
            _ => None,
        };
        if let Some(id) = answered {
            self.awaited.remove(id);
        }
        message
    }

    /// A line that is not a message the SDK reads. Not JSON (a server's stray
    /// print): skipped, as every SDK does, since answering it could start an echo
    /// storm. JSON of the wrong shape: an answer fails its call now, with the reason
    /// (not after the call's whole timeout); a request is refused; a notification
    /// (a method of another protocol, say) is skipped.
    fn unreadable(
        &self,
        line: &[u8],
        error: serde_json::Error,
    ) -> Option<RxJsonRpcMessage<RoleClient>> {
        let server = &self.server;
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
            tracing::debug!(server = %server, "server {server} wrote a line that is not JSON-RPC, skipped: {error}");
            return None;
        };
        let id = object
            .get("id")
            .filter(|id| id.is_string() || id.is_number());
        match id {
            Some(id) if object.contains_key("method") => {
                tracing::warn!(server = %server, "server {server} sent a request the hub cannot read, refused: {error}");
                self.reply(json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {"code": -32600, "message": format!("Invalid request: {error}")},
                }));
                None
            }
            Some(id) => {
                tracing::warn!(server = %server, "server {server} sent an answer the hub cannot read: {error}");
                serde_json::from_value(json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {
                        "code": -32603,
                        "message": format!("server {server} sent an answer that is not valid MCP: {error}"),
                    },
                }))
                .ok()
            }
            None => {
                tracing::debug!(server = %server, "server {server} sent a notification the hub cannot read, skipped: {error}");
                None
            }
        }
    }

    /// Writes `message` to the server beside the reads: a `receive` that is dropped
    /// half-way must not leave half a line written.
    fn reply(&self, message: Value) {
        let write = self.write.clone();
        tokio::spawn(async move {
            let _ = write_line(&write, serde_json::to_vec(&message)).await;
        });
    }
}

/// `line` read directly when it answers a request in `awaited` with the result that
/// request asked for.
fn read_awaited(
    awaited: &HashMap<RequestId, Awaited>,
    line: &[u8],
) -> Option<RxJsonRpcMessage<RoleClient>> {
    let frame: Frame = serde_json::from_slice(line).ok()?;
    if frame.method.is_some() || frame.jsonrpc != Some("2.0") || frame.error.is_some() {
        return None;
    }
    let id = frame.id?;
    let kind = *awaited.get(&id)?;
    let result = kind.read(frame.result?.get())?;
    Some(JsonRpcMessage::Response(JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id,
        result,
    }))
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<Option<W>>,
    bytes: serde_json::Result<Vec<u8>>,
) -> std::io::Result<()> {
    let mut bytes = bytes.map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    let mut write = write.lock().await;
    let Some(w) = write.as_mut() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "the server's stdin is closed",
        ));
    };
    w.write_all(&bytes).await?;
    w.flush().await
}

impl<R, W> Transport<RoleClient> for Lines<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(request) = &item
            && let Some(kind) = Awaited::of(&request.request)
        {
            if self.awaited.len() >= AWAITED_AT_MOST {
                self.awaited.clear();
            }
            self.awaited.insert(request.id.clone(), kind);
        }
        let write = self.write.clone();
        // Serialized now, so the future owns bytes, not the message.
        let bytes = serde_json::to_vec(&item);
        async move { write_line(&write, bytes).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if self.in_a_row >= LINES_PER_TURN {
                // Reset first: a `receive` dropped during the yield has read nothing.
                self.in_a_row = 0;
                tokio::task::yield_now().await;
            }
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    let server = &self.server;
                    tracing::warn!(server = %server, "reading server {server}'s stdout failed: {e}");
                    return None;
                }
            }
            let message = self.message();
            if self.line.capacity() > KEEP {
                self.line = Vec::new();
            } else {
                self.line.clear();
            }
            self.in_a_row += 1;
            if let Some(message) = message {
                return Some(message);
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the pipe is what tells the server to stop.
        drop(self.write.lock().await.take());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, DuplexStream};

    /// A transport over a pipe: what the test writes to the first stream the
    /// transport reads; what it writes, the test reads from the second.
    fn pipe() -> (
        Lines<DuplexStream, DuplexStream>,
        DuplexStream,
        DuplexStream,
    ) {
        let (server_out, read) = tokio::io::duplex(1 << 20);
        let (write, server_in) = tokio::io::duplex(1 << 20);
        (Lines::new(read, write, "s"), server_out, server_in)
    }

    fn answer_id(message: &RxJsonRpcMessage<RoleClient>) -> Value {
        serde_json::to_value(message).unwrap()["id"].clone()
    }

    #[tokio::test]
    async fn a_long_line_is_read_whole_and_its_buffer_given_back() {
        let (mut lines, mut server, _) = pipe();
        let text = "x".repeat(300_000);
        let answer = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": text}]}});
        let small = json!({"jsonrpc": "2.0", "id": 2, "result": {}});
        let wire = format!("{answer}\n{small}\n");
        let writer = tokio::spawn(async move {
            // In pieces, as a pipe delivers them.
            for piece in wire.as_bytes().chunks(4096) {
                server.write_all(piece).await.unwrap();
            }
            server
        });
        let first = lines.receive().await.expect("the long answer");
        assert_eq!(
            serde_json::to_value(&first).unwrap()["result"]["content"][0]["text"]
                .as_str()
                .map(str::len),
            Some(300_000)
        );
        assert!(lines.line.capacity() <= KEEP, "{}", lines.line.capacity());
        let second = lines.receive().await.expect("the next answer");
        assert_eq!(answer_id(&second), json!(2));
        drop(writer.await.unwrap());
        assert!(lines.receive().await.is_none(), "the end of the stream");
    }

    #[tokio::test]
    async fn an_answer_of_the_wrong_shape_fails_its_call_with_the_reason() {
        let (mut lines, mut server, _) = pipe();
        server
            .write_all(b"not json at all\n{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":\"no\"}\n")
            .await
            .unwrap();
        let message = serde_json::to_value(lines.receive().await.unwrap()).unwrap();
        assert_eq!(message["id"], json!(7));
        let said = message["error"]["message"].as_str().unwrap();
        assert!(
            said.contains("server s sent an answer that is not valid MCP"),
            "{said}"
        );
    }

    #[tokio::test]
    async fn a_request_of_the_wrong_shape_is_refused_with_its_id() {
        let (mut lines, mut server, mut server_in) = pipe();
        server
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"sampling/createMessage\",\"params\":7}\n{\"jsonrpc\":\"2.0\",\"method\":\"other/protocol\",\"params\":7}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n")
            .await
            .unwrap();
        // The bad request and the foreign notification are not handed on.
        assert_eq!(answer_id(&lines.receive().await.unwrap()), json!(3));
        let mut refusal = Vec::new();
        while !refusal.ends_with(b"\n") {
            let mut byte = [0u8; 1];
            server_in.read_exact(&mut byte).await.unwrap();
            refusal.push(byte[0]);
        }
        let refusal: Value = serde_json::from_slice(&refusal).unwrap();
        assert_eq!(refusal["id"], json!("r1"));
        assert_eq!(refusal["error"]["code"], json!(-32600));
    }

    #[tokio::test]
    async fn a_receive_dropped_mid_line_loses_nothing() {
        let (mut lines, mut server, _) = pipe();
        server.write_all(b"{\"jsonrpc\":\"2.0\",").await.unwrap();
        let pending = tokio::time::timeout(std::time::Duration::ZERO, lines.receive()).await;
        assert!(pending.is_err(), "half a line is not a message");
        server
            .write_all(b"\"id\":4,\"result\":{}}\r\n")
            .await
            .unwrap();
        assert_eq!(answer_id(&lines.receive().await.unwrap()), json!(4));
    }

    /// Sends `request` as the hub would, answers it with `answer`, and returns what
    /// the transport reads next beside what the SDK reads from the same line.
    async fn answered(request: Value, answer: Value) -> (Value, Value) {
        let (mut lines, mut server, _server_in) = pipe();
        let request: TxJsonRpcMessage<RoleClient> = serde_json::from_value(request).unwrap();
        lines.send(request).await.unwrap();
        server
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
        let read = lines.receive().await.expect("the answer");
        assert!(
            lines.awaited.is_empty(),
            "the answered request is forgotten"
        );
        let sdk: RxJsonRpcMessage<RoleClient> = serde_json::from_value(answer).unwrap();
        (
            serde_json::to_value(read).unwrap(),
            serde_json::to_value(sdk).unwrap(),
        )
    }

    #[tokio::test]
    async fn an_answer_is_read_as_its_request_asked_and_as_the_sdk_reads_it() {
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        let call = json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": {"name": "echo"}});
        let tools = json!({"tools": [
            {"name": "echo", "description": "Echoes", "inputSchema": {"type": "object", "properties": {"m": {"type": "string"}}}, "annotations": {"readOnlyHint": true}},
            {"name": "add", "inputSchema": {"type": "object"}, "_meta": {"x": 1}},
        ], "nextCursor": "2"});
        // The request, its answer, and whether the transport reads it directly.
        let cases = [
            (
                &list,
                json!({"result": tools, "jsonrpc": "2.0", "id": 1}),
                true,
            ),
            (
                &call,
                json!({"jsonrpc": "2.0", "id": "c", "result": {"content": [{"type": "text", "text": "hi"}], "isError": false}}),
                true,
            ),
            (
                &call,
                json!({"jsonrpc": "2.0", "id": "c", "result": {"content": [], "structuredContent": null}}),
                true,
            ),
            // Not a tool's answer: a task, a round, an error; the SDK's reading stands.
            (
                &call,
                json!({"jsonrpc": "2.0", "id": "c", "result": {"task": {"taskId": "t1", "status": "working", "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttl": null}}}),
                false,
            ),
            (
                &call,
                json!({"jsonrpc": "2.0", "id": "c", "result": {"resultType": "input_required", "inputRequests": {}}}),
                false,
            ),
            (
                &call,
                json!({"jsonrpc": "2.0", "id": "c", "error": {"code": -32602, "message": "Unknown tool"}}),
                false,
            ),
            (
                &list,
                json!({"jsonrpc": "2.0", "id": 1, "result": {}}),
                false,
            ),
        ];
        for (request, answer, direct) in cases {
            let sent: TxJsonRpcMessage<RoleClient> =
                serde_json::from_value(request.clone()).unwrap();
            let JsonRpcMessage::Request(sent) = sent else {
                panic!("{request} is a request")
            };
            let awaited = HashMap::from([(sent.id.clone(), Awaited::of(&sent.request).unwrap())]);
            let line = serde_json::to_vec(&answer).unwrap();
            assert_eq!(read_awaited(&awaited, &line).is_some(), direct, "{answer}");
            let (read, sdk) = answered(request.clone(), answer.clone()).await;
            assert_eq!(read, sdk, "{answer}");
        }
        let (read, _) = answered(list, json!({"result": tools, "jsonrpc": "2.0", "id": 1})).await;
        assert_eq!(read["result"]["tools"][1]["_meta"], json!({"x": 1}));
    }

    #[tokio::test]
    async fn requests_never_answered_are_not_remembered_without_bound() {
        let (mut lines, _server, _server_in) = pipe();
        for id in 0..AWAITED_AT_MOST * 3 {
            let call = serde_json::from_value(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "hang"}}),
            )
            .unwrap();
            lines.send(call).await.unwrap();
        }
        assert!(
            lines.awaited.len() <= AWAITED_AT_MOST,
            "{}",
            lines.awaited.len()
        );
    }

    #[tokio::test]
    async fn each_message_sent_is_one_line() {
        let (mut lines, _, mut server_in) = pipe();
        let ping: TxJsonRpcMessage<RoleClient> =
            serde_json::from_value(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).unwrap();
        lines.send(ping).await.unwrap();
        lines.close().await.unwrap();
        let mut wrote = String::new();
        server_in.read_to_string(&mut wrote).await.unwrap();
        assert_eq!(wrote.matches('\n').count(), 1, "{wrote}");
        let sent: Value = serde_json::from_str(wrote.trim_end()).unwrap();
        assert_eq!(sent["method"], json!("ping"));
    }

    /// A server flooding log messages gets the hub's one thread in turns: a task
    /// woken while its lines are read (a client's request) runs after a few of
    /// them, not after the whole flood already buffered.
    #[tokio::test]
    async fn a_flood_already_buffered_lets_other_tasks_run_between_its_lines() {
        let (mut lines, mut server, _server_in) = pipe();
        let flood = 8 * LINES_PER_TURN as usize;
        let mut wire = String::new();
        for i in 0..flood {
            let log = json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "data": format!("line {i}")}});
            wire.push_str(&format!("{log}\n"));
        }
        server.write_all(wire.as_bytes()).await.unwrap();
        let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen_by_other_task = tokio::spawn({
            let read = read.clone();
            async move { read.load(std::sync::atomic::Ordering::SeqCst) }
        });
        for _ in 0..flood {
            lines.receive().await.expect("a log message");
            read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let seen = seen_by_other_task.await.unwrap();
        assert!(
            seen <= LINES_PER_TURN as usize,
            "the other task ran only after {seen} of {flood} lines"
        );
    }
}
