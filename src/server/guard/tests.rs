use super::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What hyper would read through the guard (ending with the stand-in when a head was
/// refused), whether it ended in a read error, the refusal (if any), and whether the peer
/// left mid-head.
#[derive(Debug, PartialEq)]
struct Seen {
    passed: String,
    error: bool,
    refused: Option<(Framing, RefusedHead)>,
    mid_head: bool,
}

const STAND_IN: &str = "STAND-IN\r\n\r\n";

/// The hooks' calls: the refusal, and whether the peer left mid-head.
#[derive(Clone, Default)]
struct Record(std::sync::Arc<std::sync::Mutex<Calls>>);

/// The refusal made, and whether the peer left mid-head.
type Calls = (Option<(Framing, RefusedHead)>, bool);

impl Hooks for Record {
    fn refused(&mut self, why: Framing, head: RefusedHead) -> bytes::Bytes {
        let mut r = self.0.lock().unwrap();
        assert!(r.0.is_none(), "refused once");
        r.0 = Some((why, head));
        bytes::Bytes::from_static(STAND_IN.as_bytes())
    }
    fn left_mid_head(&mut self) {
        self.0.lock().unwrap().1 = true;
    }
    fn mid_head(&mut self, _partial: bool) {}
    fn bad_chunk(&mut self) {}
}

/// Feeds `bytes` through a guard, `pipe` bytes per read, and reads it to the end.
async fn guard(bytes: &[u8], pipe: usize) -> Seen {
    let (mut client, server) = tokio::io::duplex(pipe);
    let input = bytes.to_vec();
    // The client writes in its own task: the guard may stop reading before the end.
    tokio::spawn(async move {
        let _ = client.write_all(&input).await;
        let _ = client.shutdown().await;
    });
    let seen = Record::default();
    let mut g = Guard::new(server, 256, seen.clone());
    let mut passed = Vec::new();
    let mut chunk = [0u8; 64];
    // Paused time: a read the guard leaves pending (after a stand-in) times out at once.
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(60), g.read(&mut chunk)).await {
            Err(_pending) => {
                assert!(
                    passed.ends_with(STAND_IN.as_bytes()),
                    "only a stand-in ends in a pending read"
                );
                break false;
            }
            Ok(Ok(0)) => break false,
            Ok(Ok(n)) => passed.extend_from_slice(&chunk[..n]),
            Ok(Err(_)) => break true,
        }
    };
    drop(g);
    let (refused, mid_head) = {
        let mut r = seen.0.lock().unwrap();
        (r.0.take(), r.1)
    };
    assert_eq!(
        passed.ends_with(STAND_IN.as_bytes()),
        refused.is_some(),
        "the stand-in follows exactly when a head was refused"
    );
    Seen {
        passed: String::from_utf8_lossy(&passed).into_owned(),
        error,
        refused,
        mid_head,
    }
}

const GET: &str = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";

fn head(method: &str, target: &str) -> RefusedHead {
    RefusedHead {
        method: Some(method.into()),
        target: Some(target.into()),
    }
}

#[tokio::test(start_paused = true)]
async fn good_messages_pass_and_bad_heads_never_do() {
    let post_cl = "POST /o HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    let post_chunked =
        "POST /o HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n";
    // A body that reads like a head is still a body.
    let hidden = "POST /o HTTP/1.1\r\nHost: t\r\nContent-Length: 31\r\n\r\nDELETE /x HTTP/1.1\r\nHost: t\r\n\r\n";
    let ok = |passed: String| Seen {
        passed,
        error: false,
        refused: None,
        mid_head: false,
    };
    let refused = |passed: &str, why: Framing, h: RefusedHead| Seen {
        passed: format!("{passed}{STAND_IN}"),
        error: false,
        refused: Some((why, h)),
        mid_head: false,
    };
    let cases: Vec<(&str, String, Seen)> = vec![
        ("pipelined", format!("{GET}{GET}"), ok(format!("{GET}{GET}"))),
        ("leading CRLF", format!("\r\n{GET}"), ok(format!("\r\n{GET}"))),
        ("length", format!("{post_cl}{GET}"), ok(format!("{post_cl}{GET}"))),
        (
            "chunked with extension and trailer",
            format!("{post_chunked}{GET}"),
            ok(format!("{post_chunked}{GET}")),
        ),
        ("a head in a body", hidden.into(), ok(hidden.into())),
        (
            "garbage after a good request",
            format!("{GET}GARBAGE\r\n\r\n"),
            refused(GET, Framing::Malformed("invalid method or request target"), RefusedHead::default()),
        ),
        (
            "unknown transfer coding",
            "PUT /f HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: cow, chunked\r\n\r\n0\r\n\r\n".into(),
            refused("", Framing::UnknownCoding("cow".into()), head("PUT", "/f")),
        ),
        (
            "chunked twice",
            "PUT /f HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
            refused("", Framing::Ambiguous("chunked is not the one transfer coding"), head("PUT", "/f")),
        ),
        (
            "empty coding",
            "PUT /f HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ,chunked\r\n\r\n".into(),
            refused("", Framing::Ambiguous("an empty transfer coding"), head("PUT", "/f")),
        ),
        (
            "Content-Length twice, same value",
            "POST /o HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx".into(),
            refused("", Framing::Ambiguous("Content-Length is repeated"), head("POST", "/o")),
        ),
        (
            "Content-Length list",
            "POST /o HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 1\r\n\r\nx".into(),
            refused("", Framing::Ambiguous("Content-Length is not one decimal number"), head("POST", "/o")),
        ),
        (
            "Content-Length with a sign",
            "POST /o HTTP/1.1\r\nHost: t\r\nContent-Length: +1\r\n\r\nx".into(),
            refused("", Framing::Ambiguous("Content-Length is not one decimal number"), head("POST", "/o")),
        ),
        (
            "obs-fold",
            "GET /a HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n".into(),
            refused("", Framing::Malformed("invalid header field name"), head("GET", "/a")),
        ),
        (
            "HTTP/1.0 with Transfer-Encoding",
            "POST /o HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            refused("", Framing::Ambiguous("Transfer-Encoding on an HTTP/1.0 request"), head("POST", "/o")),
        ),
        (
            "an h2 preface that is not one",
            "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".into(),
            refused("", Framing::Malformed("not HTTP/1.0 or HTTP/1.1"), head("PRI", "*")),
        ),
        (
            "a head over the limit",
            format!("GET /a HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(300)),
            refused("", Framing::TooLarge(256), head("GET", "/a")),
        ),
        (
            "an endless head",
            format!("GET /a HTTP/1.1\r\nX-Big: {}", "a".repeat(300)),
            refused("", Framing::TooLarge(256), head("GET", "/a")),
        ),
    ];
    for pipe in [1, 7, 4096] {
        for (name, bytes, want) in &cases {
            let got = guard(bytes.as_bytes(), pipe).await;
            assert_eq!(&got, want, "{name} (pipe {pipe})");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_broken_chunk_is_a_read_error_after_the_good_bytes() {
    let head = "POST /o HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (name, body, good) in [
        ("not hex", "zz\r\n", ""),
        ("bare LF after the size", "5\nhello\r\n0\r\n\r\n", "5"),
        ("data longer than its size", "2\r\nhello\r\n", "2\r\nhe"),
        ("size overflow", "11111111111111111\r\n", "1111111111111111"),
    ] {
        let got = guard(format!("{head}{body}{GET}").as_bytes(), 4096).await;
        assert!(got.error, "{name}: {got:?}");
        assert_eq!(got.passed, format!("{head}{good}"), "{name}");
        assert!(got.refused.is_none(), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_leaving_mid_head_is_noted_and_nothing_passes() {
    let got = guard(b"GET /a HTTP/1.1\r\nHo", 4096).await;
    assert_eq!(got.passed, "");
    assert!(got.mid_head && !got.error && got.refused.is_none());
    let got = guard(GET.as_bytes(), 4096).await;
    assert!(!got.mid_head);
}
