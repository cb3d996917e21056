//! Slow readers: a client that stops reading its response holds neither its connection nor
//! the upstream exchange past `limits.response_write_timeout`. Over HTTP/1.1 the stalled
//! socket write is timed; over HTTP/2 a stream the client grants no flow-control window is
//! reset while the connection lives on. Each cut is counted
//! (`toolgate_connection_errors_total{reason="write_timeout"}`), the exchange's upstream slot
//! is released, and the audit record says the client left, with the tool's status.

mod support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::h2raw::{frame, hpack};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use toolgate::audit::FinalAction;
use toolgate::config::HumanDuration;

/// An upstream whose every response is a 64 MiB body streamed as fast as it is taken;
/// counts the exchanges it saw end because the other side went away.
async fn firehose() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let cut = Arc::new(AtomicUsize::new(0));
    let counter = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let total = 64usize << 20;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n");
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..total / chunk.len() {
                    if s.write_all(&chunk).await.is_err() {
                        counter.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
    });
    (url, cut)
}

fn write_timeouts(gate: &Gate) -> f64 {
    gate.metrics()
        .get(
            "toolgate_connection_errors_total",
            &[("reason", "write_timeout")],
        )
        .unwrap_or(0.0)
}

async fn start(url: &str) -> Gate {
    Gate::start(fixture::snapshot(), url, |c| {
        c.limits.response_write_timeout = HumanDuration(Duration::from_millis(300));
        c.upstream.max_concurrent_requests = 1;
    })
    .await
}

#[tokio::test]
async fn an_http1_client_that_stops_reading_is_cut_off() {
    let (url, cut) = firehose().await;
    let gate = start(&url).await;
    let mut s = TcpStream::connect(gate.addr).await.unwrap();
    s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: t\r\nx-request-id: slow-reader\r\nx-environment: staging\r\n\r\n")
        .await
        .unwrap();
    // Read nothing. The socket buffers fill, the write stalls, the deadline fires.
    support::sidecar::eventually("the write deadline", || async {
        write_timeouts(&gate) == 1.0
    })
    .await;
    support::sidecar::eventually("the upstream exchange dropped", || async {
        cut.load(Ordering::SeqCst) == 1
    })
    .await;
    let rec = gate.audit_record("slow-reader").await.expect("audited");
    assert_eq!(rec.final_runtime_action, FinalAction::ClientCancelled);
    assert_eq!(rec.upstream_status, Some(200));
    // The one upstream slot is free again.
    let mut c = TcpStream::connect(gate.addr).await.unwrap();
    c.write_all(
        b"HEAD /items/1 HTTP/1.1\r\nHost: t\r\nx-environment: staging\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let ex = support::wire::read_exchange(&mut c, 1, true).await;
    assert_ne!(ex.status(), 503, "{ex:?}");
    drop(s);
}

#[tokio::test]
async fn an_h2_stream_without_window_is_reset_and_the_connection_lives_on() {
    let (url, cut) = firehose().await;
    let gate = start(&url).await;
    let mut s = TcpStream::connect(gate.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no stream may be sent a byte of DATA.
    out.extend(frame(4, 0, 0, &[0, 4, 0, 0, 0, 0]));
    let fields: [(&[u8], &[u8]); 5] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"t"),
        (b":path", b"/items/1"),
        (b"x-environment", b"staging"),
    ];
    out.extend(frame(1, 0x4 | 0x1, 1, &hpack(&fields)));
    s.write_all(&out).await.unwrap();
    // Keep reading the connection (acknowledging SETTINGS and answering PINGs) until
    // stream 1 is reset.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut saw_headers = false;
    let reset = 'read: loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match (kind, stream) {
                (1, 1) => saw_headers = true,
                (0, 1) => panic!("DATA sent without a window"),
                (3, 1) => break 'read u32::from_be_bytes(payload[..4].try_into().unwrap()),
                (4, 0) if flags & 1 == 0 => s.write_all(&frame(4, 1, 0, &[])).await.unwrap(),
                (6, 0) if flags & 1 == 0 => s.write_all(&frame(6, 1, 0, &payload)).await.unwrap(),
                _ => {}
            }
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("stream 1 reset before the deadline")
            .unwrap();
        assert!(n > 0, "the connection closed instead of the stream");
        buf.extend_from_slice(&chunk[..n]);
    };
    assert!(saw_headers);
    assert_ne!(reset, 0xff, "a reset with a code ({reset})");
    assert_eq!(write_timeouts(&gate), 1.0);
    support::sidecar::eventually("the upstream exchange dropped", || async {
        cut.load(Ordering::SeqCst) == 1
    })
    .await;
    // The same connection still serves: stream 3, a HEAD (no DATA needed).
    let head: [(&[u8], &[u8]); 5] = [
        (b":method", b"HEAD"),
        (b":scheme", b"http"),
        (b":authority", b"t"),
        (b":path", b"/items/2"),
        (b"x-environment", b"staging"),
    ];
    s.write_all(&frame(1, 0x4 | 0x1, 3, &hpack(&head)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    'answer: loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, stream) = (buf[3], u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]));
            buf.drain(..9 + len);
            if (kind, stream) == (1, 3) {
                break 'answer;
            }
            assert!(!(kind == 3 && stream == 3), "stream 3 reset");
        }
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("stream 3 answered")
            .unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A response that waits on a slow upstream is not the client's stall: a stream that pauses
/// longer than the deadline between chunks is delivered whole, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn a_slow_upstream_is_not_a_slow_reader() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n")
                    .await;
                tokio::time::sleep(Duration::from_millis(900)).await;
                let _ = s.write_all(b"1\r\nb\r\n0\r\n\r\n").await;
            });
        }
    });
    let gate = start(&url).await;
    let env = [("x-environment", "staging")];
    let h1 = send_h1(gate.addr, request("GET", gate.addr, "/items/1", &env, "")).await;
    assert_eq!(&h1.unwrap().body[..], b"ab");
    let h2 = send_h2c(gate.addr, request("GET", gate.addr, "/items/1", &env, "")).await;
    assert_eq!(&h2.unwrap().body[..], b"ab");
    assert_eq!(write_timeouts(&gate), 0.0);
}
