//! A stdio server's stdout, with a limit on each message (one JSON-RPC message a line).
//!
//! The protocol SDK drops a line longer than its own limit and says nothing to the
//! caller, who then waits for the call's whole timeout. Here a line over the limit is
//! cut off as it streams (never held in memory), and once it ends it is replaced by a
//! JSON-RPC error answering the same request id, naming the size and the limit: the
//! call fails at once and the connection goes on. Written by hand because the cut
//! must happen below the SDK's line reader, which no crate sits under.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// How much of an oversized line's start and end is kept to find its `"id"`.
const KEPT: usize = 512;

pub struct Limited<R> {
    inner: R,
    max: usize,
    /// Bytes of the current line seen so far.
    line: usize,
    /// The current line's first and last bytes, while it is over the limit.
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    over: bool,
    /// What goes out before anything more is read: the cut line's end and the error.
    pending: Vec<u8>,
    /// Called with (bytes, limit) for each line cut.
    on_cut: Box<dyn Fn(usize, usize) + Send + Sync>,
}

impl<R> Limited<R> {
    pub fn new(
        inner: R,
        max: usize,
        on_cut: impl Fn(usize, usize) + Send + Sync + 'static,
    ) -> Self {
        Limited {
            inner,
            max,
            line: 0,
            head: Vec::new(),
            tail: Default::default(),
            over: false,
            pending: Vec::new(),
            on_cut: Box::new(on_cut),
        }
    }

    /// Whether `data` goes on as it is, because no line in it goes over the limit;
    /// if so, what `filter` would remember of it is remembered. Changes nothing
    /// otherwise, for `filter` to take it.
    fn passes(&mut self, data: &[u8]) -> bool {
        if self.over {
            return false;
        }
        let mut line = self.line;
        let mut last_start = None;
        for end in memchr::memchr_iter(b'\n', data) {
            let start = last_start.unwrap_or(0);
            if line + (end - start) > self.max {
                return false;
            }
            line = 0;
            last_start = Some(end + 1);
        }
        let rest = &data[last_start.unwrap_or(0)..];
        if line + rest.len() > self.max {
            return false;
        }
        if last_start.is_some() {
            self.head.clear();
        }
        let take = KEPT.saturating_sub(self.head.len()).min(rest.len());
        self.head.extend_from_slice(&rest[..take]);
        self.line = line + rest.len();
        true
    }

    /// Passes `data` on (into `out`) up to the limit of each line, and turns the end
    /// of a line over it into the error that answers its request.
    fn filter(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for chunk in split_lines(data) {
            let ends = chunk.last() == Some(&b'\n');
            let body = if ends {
                &chunk[..chunk.len() - 1]
            } else {
                chunk
            };
            // Every line's start is kept (a few hundred bytes) in case it goes over.
            if self.head.len() < KEPT {
                let take = (KEPT - self.head.len()).min(body.len());
                self.head.extend_from_slice(&body[..take]);
            }
            if !self.over {
                let room = self.max.saturating_sub(self.line);
                if body.len() <= room {
                    out.extend_from_slice(chunk);
                    if ends {
                        self.line = 0;
                        self.head.clear();
                    } else {
                        self.line += body.len();
                    }
                    continue;
                }
                // Over: what went out already becomes a line of its own, which the
                // SDK's reader skips as unparsable; nothing more of it is passed on.
                self.over = true;
                out.push(b'\n');
                self.tail.clear();
            }
            for b in body.iter().rev().take(KEPT).rev() {
                if self.tail.len() == KEPT {
                    self.tail.pop_front();
                }
                self.tail.push_back(*b);
            }
            self.line += body.len();
            if ends {
                let size = self.line;
                (self.on_cut)(size, self.max);
                let tail: Vec<u8> = self.tail.iter().copied().collect();
                if let Some(id) = answered_id(&self.head, &tail) {
                    let error = serde_json::json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "error": {
                            "code": -32603,
                            "message": format!(
                                "the server's answer is {size} bytes, over the hub's limit of {} bytes for one message (`maxMessageBytes` in its entry of the servers file)",
                                self.max
                            ),
                            "data": {"size": size, "limit": self.max},
                        }
                    });
                    out.extend_from_slice(error.to_string().as_bytes());
                    out.push(b'\n');
                }
                self.over = false;
                self.line = 0;
                self.head.clear();
            }
        }
    }
}

/// `data` in pieces that each end with a newline, but perhaps the last.
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', data)
        .map(|at| at + 1)
        .chain(std::iter::once(data.len()))
        .filter_map(move |end| {
            let piece = (end > start).then(|| &data[start..end]);
            start = end;
            piece
        })
}

/// The request id an oversized line answers, from its first and last bytes: `None`
/// when it is not an answer (a request or notification of the server's, which is
/// dropped: there is no one to tell) or its id cannot be told for sure. Only the
/// message's own top-level `"id"` counts, never one inside its result.
fn answered_id(head: &[u8], tail: &[u8]) -> Option<serde_json::Value> {
    let mut keys = TopLevel::new(head)?;
    loop {
        match keys.next_key()?.as_str() {
            "jsonrpc" => keys.skip_short_value()?,
            "id" => {
                let id = keys.short_value()?;
                // An answer's next member (after `jsonrpc`, in alphabetical order) is
                // its result or error.
                loop {
                    match keys.next_key()?.as_str() {
                        "jsonrpc" => keys.skip_short_value()?,
                        "result" | "error" => return plain_id(id),
                        _ => return None,
                    }
                }
            }
            // The result comes first (Node's SDK): the id is the last member.
            "result" | "error" => return id_at_end(tail),
            _ => return None,
        }
    }
}

fn plain_id(v: serde_json::Value) -> Option<serde_json::Value> {
    matches!(
        v,
        serde_json::Value::Number(_) | serde_json::Value::String(_)
    )
    .then_some(v)
}

/// `…,"id":<id>}` at the very end of the message.
fn id_at_end(tail: &[u8]) -> Option<serde_json::Value> {
    let end = tail.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if tail[end] != b'}' {
        return None;
    }
    let at = memchr::memmem::rfind(&tail[..end], b"\"id\"")?;
    let mut keys = TopLevel {
        s: &tail[at..end],
        at: 0,
    };
    let key = keys.string()?;
    if key != "id" {
        return None;
    }
    keys.colon()?;
    let id = keys.short_value()?;
    // Nothing but the closing brace after it: a nested object's `id` is followed by
    // its own brace and then another.
    keys.ws();
    (keys.at == keys.s.len()).then_some(())?;
    plain_id(id)
}

/// Reads the top-level members of a JSON object from its start, as far as short
/// values allow.
struct TopLevel<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> TopLevel<'a> {
    fn new(s: &'a [u8]) -> Option<Self> {
        let mut t = TopLevel { s, at: 0 };
        t.ws();
        (t.s.get(t.at) == Some(&b'{')).then(|| {
            t.at += 1;
            t
        })
    }

    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn string(&mut self) -> Option<String> {
        self.ws();
        let mut values =
            serde_json::Deserializer::from_slice(&self.s[self.at..]).into_iter::<String>();
        let key = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(key)
    }

    fn colon(&mut self) -> Option<()> {
        self.ws();
        (self.s.get(self.at) == Some(&b':')).then(|| self.at += 1)
    }

    fn next_key(&mut self) -> Option<String> {
        self.ws();
        if self.s.get(self.at) == Some(&b',') {
            self.at += 1;
        }
        let key = self.string()?;
        self.colon()?;
        Some(key)
    }

    fn short_value(&mut self) -> Option<serde_json::Value> {
        self.ws();
        let mut values = serde_json::Deserializer::from_slice(&self.s[self.at..])
            .into_iter::<serde_json::Value>();
        let v = values.next()?.ok()?;
        self.at += values.byte_offset();
        Some(v)
    }

    fn skip_short_value(&mut self) -> Option<()> {
        self.short_value().map(drop)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Limited<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            let this = &mut *self;
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    let data = &buf.filled()[before..];
                    // Read in place, and left there when no line in it goes over (a
                    // flooding server's lines pass through with one scan for their
                    // ends, no copy).
                    if data.is_empty() || this.passes(data) {
                        return Poll::Ready(Ok(()));
                    }
                    let data = data.to_vec();
                    buf.set_filled(before);
                    let mut out = std::mem::take(&mut this.pending);
                    this.filter(&data, &mut out);
                    this.pending = out;
                    // All of it may have been cut: read on.
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, input: &[u8]) -> (String, Vec<(usize, usize)>) {
        let cuts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = cuts.clone();
        let mut l = Limited::new((), max, move |a, b| seen.lock().unwrap().push((a, b)));
        let mut out = Vec::new();
        // Fed in small pieces, as a pipe delivers them.
        for piece in input.chunks(7) {
            l.filter(piece, &mut out);
        }
        let cuts = cuts.lock().unwrap().clone();
        (String::from_utf8(out).unwrap(), cuts)
    }

    /// The id of the error a single over-long message at a 1 KiB limit became
    /// (its cut start is the first line out, the error the second).
    fn error_id_of_cut(message: &str) -> serde_json::Value {
        let (out, _) = run(1024, message.as_bytes());
        let error: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
        error["id"].clone()
    }

    #[test]
    fn lines_under_the_limit_pass_unchanged() {
        let input = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n{\"a\":1}\n";
        let (out, cuts) = run(64, input);
        assert_eq!(out.as_bytes(), input);
        assert!(cuts.is_empty());
    }

    #[test]
    fn a_line_over_the_limit_becomes_an_error_for_its_id() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":\"call-7\",\"result\":{{\"text\":\"{}\"}}}}\n{{\"next\":true}}\n",
            "x".repeat(5000)
        );
        let (out, cuts) = run(1024, big.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].len() <= 1024,
            "the cut start is no longer than the limit"
        );
        let error: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(error["id"], "call-7");
        assert_eq!(
            error["error"]["data"]["size"],
            big.lines().next().unwrap().len()
        );
        assert_eq!(error["error"]["data"]["limit"], 1024);
        assert_eq!(lines[2], "{\"next\":true}", "the next message is untouched");
        assert_eq!(cuts, [(big.lines().next().unwrap().len(), 1024)]);
    }

    #[test]
    fn the_id_is_found_at_the_end_too() {
        // Node's SDK writes `{"result":…,"jsonrpc":"2.0","id":3}`.
        let big = format!(
            "{{\"result\":\"{}\",\"jsonrpc\":\"2.0\",\"id\":3}}\n",
            "y".repeat(4000)
        );
        assert_eq!(error_id_of_cut(&big), 3);
    }

    #[test]
    fn an_id_inside_the_result_is_not_taken_for_the_answers() {
        let big = format!(
            "{{\"result\":{{\"items\":[{{\"id\":99}}],\"pad\":\"{}\"}},\"jsonrpc\":\"2.0\",\"id\":4}}\n",
            "p".repeat(4000)
        );
        assert_eq!(error_id_of_cut(&big), 4);
        // A nested id at the very end is not the message's.
        let nested = format!(
            "{{\"result\":{{\"pad\":\"{}\",\"last\":{{\"id\":99}}}},\"jsonrpc\":\"2.0\"}}\n",
            "p".repeat(4000)
        );
        let (out, cuts) = run(1024, nested.as_bytes());
        assert_eq!(
            out.lines().count(),
            1,
            "no error for an id it cannot be sure of: {out}"
        );
        assert_eq!(cuts.len(), 1);
    }

    #[test]
    fn the_id_is_found_first_in_alphabetical_order() {
        let big = format!(
            "{{\"id\":9,\"jsonrpc\":\"2.0\",\"result\":\"{}\"}}\n",
            "a".repeat(4000)
        );
        assert_eq!(error_id_of_cut(&big), 9);
    }

    #[test]
    fn an_oversized_request_of_the_servers_is_dropped_not_answered() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"sampling/createMessage\",\"params\":\"{}\"}}\n",
            "q".repeat(4000)
        );
        let (out, _) = run(1024, big.as_bytes());
        assert_eq!(out.lines().count(), 1, "{out}");
    }

    #[test]
    fn an_oversized_notification_is_dropped() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":\"{}\"}}\n",
            "z".repeat(4000)
        );
        let (out, cuts) = run(1024, big.as_bytes());
        assert_eq!(
            out.lines().count(),
            1,
            "only the cut start, which is skipped: {out}"
        );
        assert_eq!(cuts.len(), 1);
    }

    /// A reader that hands out its bytes `size` at a time, as a pipe does.
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        size: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self
                .size
                .min(buf.remaining())
                .min(self.data.len() - self.at);
            buf.put_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// The messages (and errors for the cut ones), as a reader gives them: only the
    /// cut start's length depends on where the pieces fell.
    fn messages(out: &str) -> Vec<serde_json::Value> {
        out.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Lines under the limit are left where they were read; however the bytes
    /// arrive, the same messages and errors come out as from the cut alone.
    #[tokio::test]
    async fn reading_gives_what_the_cut_gives_however_the_bytes_arrive() {
        use tokio::io::AsyncReadExt;
        let mut input = String::new();
        for i in 0..40 {
            let pad = "p".repeat(i * 97 % 1500);
            input.push_str(&format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"result\":{{\"text\":\"{pad}\"}}}}\n"
            ));
        }
        input.push_str("{\"unfinished\":");
        let (expected, expected_cuts) = run(1024, input.as_bytes());
        assert!(
            expected_cuts.len() > 5,
            "some lines go over: {expected_cuts:?}"
        );
        for size in [1, 7, 100, 1023, 1024, 1025, 8192, input.len()] {
            let cuts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let seen = cuts.clone();
            let pieces = Pieces {
                data: input.clone().into_bytes(),
                at: 0,
                size,
            };
            let mut reader =
                Limited::new(pieces, 1024, move |a, b| seen.lock().unwrap().push((a, b)));
            let mut out = String::new();
            reader.read_to_string(&mut out).await.unwrap();
            assert_eq!(messages(&out), messages(&expected), "pieces of {size}");
            assert_eq!(out.lines().count(), expected.lines().count());
            let cut_starts = out
                .lines()
                .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err());
            for start in cut_starts {
                assert!(start.len() <= 1024, "a cut start of {} bytes", start.len());
            }
            assert_eq!(*cuts.lock().unwrap(), expected_cuts, "pieces of {size}");
        }
    }
}
