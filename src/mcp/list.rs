//! `tools/list` shows what the caller may call: the MCP server's answer reaches the caller
//! without the tools the bundle does not map or whose decision for this caller (arguments
//! unknown) is DENY. A JSON answer is read whole (bounded) and rewritten; an event stream is
//! rewritten event by event as it streams, so nothing else the server sends on it waits.
//! Hiding is a courtesy: `tools/call` is where the decision is enforced.

use crate::body::{BoxError, ProxyBody};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use serde_json::Value;
use std::collections::HashSet;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The largest JSON answer (or event) read whole to be filtered.
pub const MAX_LISTING: usize = 4 << 20;

/// How the answer is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Json,
    EventStream,
}

/// A `tools/list` answer with the tools outside `visible` removed.
pub struct Filtered {
    inner: ProxyBody,
    framing: Framing,
    visible: HashSet<Box<str>>,
    /// Bytes read and not yet rewritten (the whole JSON answer, or a partial event).
    held: BytesMut,
    done: bool,
}

impl Filtered {
    pub fn wrap(inner: ProxyBody, framing: Framing, visible: HashSet<Box<str>>) -> ProxyBody {
        use http_body_util::BodyExt;
        Filtered {
            inner,
            framing,
            visible,
            held: BytesMut::new(),
            done: false,
        }
        .boxed_unsync()
    }

    /// Rewrites the complete events held so far (SSE: events end at a blank line).
    fn events(&mut self, at_end: bool) -> Option<Bytes> {
        let mut out = BytesMut::new();
        loop {
            let end = find_event_end(&self.held);
            let Some((len, sep)) =
                end.or_else(|| (at_end && !self.held.is_empty()).then_some((self.held.len(), 0)))
            else {
                break;
            };
            let event = self.held.split_to(len + sep);
            out.extend_from_slice(&rewrite_event(&event[..len], &self.visible));
            out.extend_from_slice(&event[len..]);
        }
        (!out.is_empty()).then(|| out.freeze())
    }
}

impl Body for Filtered {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.held.extend_from_slice(&data);
                    if this.held.len() > MAX_LISTING {
                        return Poll::Ready(Some(Err(
                            "tools/list answer too large to filter".into()
                        )));
                    }
                    if this.framing == Framing::EventStream {
                        if let Some(out) = this.events(false) {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                }
                None => {
                    this.done = true;
                    let out = match this.framing {
                        Framing::Json => {
                            let whole = std::mem::take(&mut this.held);
                            Some(rewrite_json(&whole, &this.visible))
                        }
                        Framing::EventStream => this.events(true),
                    };
                    if let Some(out) = out.filter(|o| !o.is_empty()) {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Where the first complete event ends: its length and the separator's.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // "\n\n", "\n\r\n"
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i + 1, 1));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i + 1, 2));
            }
        }
        i += 1;
    }
    None
}

/// One event (its lines, without the blank line that ends it): its `data` rewritten when it
/// is a `tools/list` answer, every other line kept.
fn rewrite_event(event: &[u8], visible: &HashSet<Box<str>>) -> Bytes {
    let Ok(text) = std::str::from_utf8(event) else {
        return Bytes::copy_from_slice(event);
    };
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return Bytes::copy_from_slice(event);
    }
    let joined = data.join("\n");
    let rewritten = rewrite_json(joined.as_bytes(), visible);
    if rewritten.as_ref() == joined.as_bytes() {
        return Bytes::copy_from_slice(event);
    }
    let mut out = String::with_capacity(event.len());
    let mut wrote = false;
    for line in text.lines() {
        if line.starts_with("data:") {
            if !wrote {
                out.push_str("data: ");
                out.push_str(&String::from_utf8_lossy(&rewritten));
                out.push('\n');
                wrote = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Bytes::from(out)
}

/// A JSON-RPC answer with `result.tools` kept to `visible` names; anything else unchanged.
pub fn rewrite_json(bytes: &[u8], visible: &HashSet<Box<str>>) -> Bytes {
    let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
        return Bytes::copy_from_slice(bytes);
    };
    let Some(tools) = v
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return Bytes::copy_from_slice(bytes);
    };
    let before = tools.len();
    tools.retain(|t| {
        t.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| visible.contains(n))
    });
    if tools.len() == before {
        return Bytes::copy_from_slice(bytes);
    }
    serde_json::to_vec(&v).map_or_else(|_| Bytes::copy_from_slice(bytes), Bytes::from)
}

#[cfg(test)]
#[path = "list/tests.rs"]
mod tests;
