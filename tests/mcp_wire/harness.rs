//! The rows' requests, written to the socket as raw bytes, and what each row expects.

use super::*;

/// How a request's body is framed and sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length` of the body (for a POST, or any body), sent whole.
    Length,
    /// The header lines frame the body (or there is none); sent whole.
    AsIs,
    /// The header lines frame the body; the client half-closes after it: a transfer cut
    /// short when the body is shorter than its framing promises.
    HalfClose,
    /// Only the head is sent; the answer is read without sending the body.
    HeadOnly,
    /// The body is written by another task while the answer is read (it may not be read).
    Streamed,
}

#[derive(Clone, Debug)]
pub(crate) struct Req {
    pub(crate) method: &'static str,
    pub(crate) headers: Vec<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) framing: Framing,
}

impl Req {
    /// A POST to `/mcp` as MCP clients send it (JSON, accepting JSON or an event stream),
    /// with the header lines of `sets`.
    pub(crate) fn post(sets: &[&[&str]], body: impl AsRef<[u8]>) -> Req {
        let mut headers = vec![
            "Content-Type: application/json".to_owned(),
            "Accept: application/json, text/event-stream".to_owned(),
        ];
        headers.extend(sets.iter().flat_map(|s| s.iter()).map(|h| h.to_string()));
        Req {
            method: "POST",
            headers,
            body: body.as_ref().to_vec(),
            framing: Framing::Length,
        }
    }

    /// A request to `/mcp` with exactly these header lines and no body.
    pub(crate) fn bare(method: &'static str, headers: &[&str]) -> Req {
        Req {
            method,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            body: Vec::new(),
            framing: Framing::Length,
        }
    }

    pub(crate) fn with(mut self, line: &str) -> Req {
        self.headers.push(line.to_owned());
        self
    }

    pub(crate) fn framed(mut self, framing: Framing) -> Req {
        self.framing = framing;
        self
    }

    /// The head (with the row's request id) and the body, as written to the socket.
    pub(crate) fn wire(&self, request_id: &str) -> (Vec<u8>, Vec<u8>) {
        let mut head = format!(
            "{} /mcp HTTP/1.1\r\nHost: t\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n",
            self.method
        );
        for h in &self.headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if self.framing == Framing::Length && (self.method == "POST" || !self.body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        (head.into_bytes(), self.body.clone())
    }

    /// The values of header `name` this request sends, in order.
    pub(crate) fn sent(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// Sends `req` on a fresh connection and reads the one answer (if any comes).
pub(crate) async fn send(addr: SocketAddr, req: &Req, request_id: &str) -> Exchange {
    let (head, body) = req.wire(request_id);
    if req.framing == Framing::Streamed {
        let reader = std::net::TcpStream::connect(addr).unwrap();
        let writer = reader.try_clone().unwrap();
        reader.set_nonblocking(true).unwrap();
        writer.set_nonblocking(true).unwrap();
        let mut s = TcpStream::from_std(reader).unwrap();
        let mut w = TcpStream::from_std(writer).unwrap();
        let task = tokio::spawn(async move {
            // The server may answer and close before it has read it all.
            let _ = w.write_all(&head).await;
            let _ = w.write_all(&body).await;
        });
        let ex = read_exchange(&mut s, 1, false).await;
        task.abort();
        return ex;
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    let bytes = match req.framing {
        Framing::HeadOnly => head,
        _ => [head, body].concat(),
    };
    let _ = s.write_all(&bytes).await;
    if req.framing == Framing::HalfClose {
        let _ = s.shutdown().await;
    }
    read_exchange(&mut s, 1, false).await
}

// --- expectations -------------------------------------------------------------------------

/// What a refusal's body is.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// A JSON-RPC error response: this code and this `id`, the decision as `error.data`.
    Rpc { code: i32, id: Value },
    /// The decision JSON itself (no JSON-RPC envelope).
    Plain,
}

#[derive(Clone, Debug)]
pub(crate) struct Refused {
    pub(crate) status: u16,
    pub(crate) shape: Shape,
    pub(crate) verdict: &'static str,
    pub(crate) issues: &'static [&'static str],
    /// `defer_questions` must include these.
    pub(crate) questions: &'static [&'static str],
    pub(crate) route: &'static str,
}

#[derive(Clone, Debug)]
pub(crate) enum Want {
    /// Forwarded: the upstream received exactly this request (its body byte for byte, the
    /// MCP headers unchanged) once, and the client got the upstream's 200.
    Forwarded,
    /// Refused as described; the upstream received nothing.
    Refused(Refused),
}

pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) req: Req,
    pub(crate) want: Want,
}

pub(crate) fn row(name: impl Into<String>, req: Req, want: Want) -> Row {
    Row {
        name: name.into(),
        req,
        want,
    }
}

/// Not one JSON-RPC message: 400, `code`, `id: null`, `INVALID_REQUEST`.
pub(crate) fn malformed(code: i32) -> Want {
    malformed_on(code, SERVER)
}

/// As [`malformed`], the refusal naming `route`.
pub(crate) fn malformed_on(code: i32, route: &'static str) -> Want {
    Want::Refused(Refused {
        status: 400,
        shape: Shape::Rpc {
            code,
            id: Value::Null,
        },
        verdict: "DENY",
        issues: &["INVALID_REQUEST"],
        questions: &[],
        route,
    })
}

/// A request refused by the policy, answered as a JSON-RPC error with the request's `id`.
pub(crate) fn rpc(
    status: u16,
    verdict: &'static str,
    id: Value,
    issues: &'static [&'static str],
    route: &'static str,
) -> Want {
    let code = if verdict == "DEFER" { DEFER } else { DENY };
    let questions = if verdict == "DEFER" {
        PAYOUT_QUESTION
    } else {
        &[]
    };
    Want::Refused(Refused {
        status,
        shape: Shape::Rpc { code, id },
        verdict,
        issues,
        questions,
        route,
    })
}

/// A refusal answered with the plain decision (a notification's).
pub(crate) fn plain(
    status: u16,
    verdict: &'static str,
    issues: &'static [&'static str],
    route: &'static str,
) -> Want {
    let questions = if verdict == "DEFER" {
        PAYOUT_QUESTION
    } else {
        &[]
    };
    Want::Refused(Refused {
        status,
        shape: Shape::Plain,
        verdict,
        issues,
        questions,
        route,
    })
}
