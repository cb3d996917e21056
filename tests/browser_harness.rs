//! Proves the headless-Chromium harness (tests/support/browser.rs) drives a real page: an
//! in-process hyper server on 127.0.0.1:0 serves a form and its stylesheet; the browser
//! reads the page, fills the form, submits it by clicking, and the test checks both what
//! the server received and what the browser shows afterwards, then takes a screenshot.
//! Needs the Debian packages chromium and chromium-driver (`.ci/run` installs them).

mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::browser::Browser;
use tokio::net::TcpListener;

/// One request as the page server received it.
#[derive(Clone, Debug, PartialEq)]
struct Hit {
    method: String,
    path: String,
    body: String,
}

type Hits = Arc<Mutex<Vec<Hit>>>;

const PAGE: &str = r#"<!doctype html>
<html><head><title>Harness</title><link rel="stylesheet" href="/style.css"></head>
<body>
  <h1 id="title">Pending review</h1>
  <form method="post" action="/submit">
    <textarea id="note" name="note">placeholder</textarea>
    <select id="verdict" name="verdict">
      <option value="allow">Allow</option>
      <option value="deny">Deny</option>
    </select>
    <button id="send" type="submit">Send</button>
  </form>
</body></html>"#;

const STYLE: &str = "body { font-family: sans-serif; margin: 2em; }\n\
                     h1 { color: #1a4d8f; }\n\
                     textarea { width: 30em; height: 6em; }\n";

/// Decodes an `application/x-www-form-urlencoded` value.
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The value of `name` in a form body.
fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (form_decode(k) == name).then(|| form_decode(v))
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn serve(req: Request<Incoming>, hits: Hits) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = String::from_utf8_lossy(&body.collect().await?.to_bytes()).into_owned();
    let path = parts.uri.path().to_owned();
    hits.lock().unwrap().push(Hit {
        method: parts.method.to_string(),
        path: path.clone(),
        body: body.clone(),
    });
    let (status, kind, text) = match (parts.method.as_str(), path.as_str()) {
        ("GET", "/") => (200, "text/html; charset=utf-8", PAGE.to_owned()),
        ("GET", "/style.css") => (200, "text/css", STYLE.to_owned()),
        ("POST", "/submit") => {
            let note = form_field(&body, "note").unwrap_or_default();
            let verdict = form_field(&body, "verdict").unwrap_or_default();
            let page = format!(
                "<!doctype html><html><head><link rel=\"stylesheet\" href=\"/style.css\">\
                 </head><body><h1>Thanks</h1><p id=\"answer\">received {} ({})</p>\
                 </body></html>",
                html_escape(&note),
                html_escape(&verdict)
            );
            (200, "text/html; charset=utf-8", page)
        }
        _ => (404, "text/plain", "not found".to_owned()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", kind.parse().unwrap());
    Ok(resp)
}

/// The page server on 127.0.0.1:0, recording every request into `hits`.
async fn page_server(hits: Hits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let hits = hits.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| serve(req, hits.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Fails with every mismatched row at once.
fn check(rows: &[(&str, String, String)]) {
    let bad: Vec<String> = rows
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: got {got:?}, want {want:?}"))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[ignore = "needs chromium and chromedriver (.ci/run installs them and runs the ignored tests)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_fills_and_submits_a_form_and_takes_a_screenshot() {
    let hits: Hits = Arc::default();
    let addr = page_server(hits.clone()).await;
    let base = format!("http://{addr}");
    let note = "Looks fine & ship it: 100% <ok>";

    let browser = Browser::start().await.unwrap();
    browser.set_window_size(1024, 768).await.unwrap();
    browser.goto(&format!("{base}/")).await.unwrap();
    let title = browser.text("#title").await.unwrap();
    let answer_before = browser.exists("#answer").await.unwrap();
    let source = browser.source().await.unwrap();
    browser.fill("#note", note).await.unwrap();
    browser.select("#verdict", "deny").await.unwrap();
    let posts_before_click = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.method == "POST")
        .count();
    browser.click("#send").await.unwrap();
    // Only the server's answer page has #answer: waits (10 s at most) for the navigation.
    let answer = browser.text("#answer").await.unwrap();
    let url_after = browser.current_url().await.unwrap();

    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-harness.png");
    let _ = std::fs::remove_file(&shot);
    browser.screenshot(&shot).await.unwrap();
    browser.close().await.unwrap();

    let hits = hits.lock().unwrap().clone();
    let posts: Vec<&Hit> = hits.iter().filter(|h| h.method == "POST").collect();
    let png = std::fs::read(&shot).unwrap();
    check(&[
        ("title read from the page", title, "Pending review".into()),
        (
            "#answer before the click",
            answer_before.to_string(),
            "false".into(),
        ),
        (
            "source has the form",
            source.contains(r#"action="/submit""#).to_string(),
            "true".into(),
        ),
        (
            "POSTs before the click",
            posts_before_click.to_string(),
            "0".into(),
        ),
        ("POSTs after the click", posts.len().to_string(), "1".into()),
        (
            "POST path",
            posts.first().map(|h| h.path.clone()).unwrap_or_default(),
            "/submit".into(),
        ),
        (
            "note the server received",
            posts
                .first()
                .and_then(|h| form_field(&h.body, "note"))
                .unwrap_or_default(),
            note.into(),
        ),
        (
            "verdict the server received",
            posts
                .first()
                .and_then(|h| form_field(&h.body, "verdict"))
                .unwrap_or_default(),
            "deny".into(),
        ),
        (
            "stylesheet fetched",
            hits.iter()
                .any(|h| h.method == "GET" && h.path == "/style.css")
                .to_string(),
            "true".into(),
        ),
        (
            "answer shown after the click",
            answer,
            format!("received {note} (deny)"),
        ),
        ("url after the click", url_after, format!("{base}/submit")),
        (
            "screenshot is a PNG",
            (png.starts_with(b"\x89PNG\r\n\x1a\n")).to_string(),
            "true".into(),
        ),
        (
            "screenshot over 1 KiB",
            (png.len() > 1024).to_string(),
            "true".into(),
        ),
    ]);
}
