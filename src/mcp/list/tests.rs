use super::*;
use http_body_util::BodyExt;

fn visible(names: &[&str]) -> HashSet<Box<str>> {
    names.iter().map(|n| Box::from(*n)).collect()
}

const LISTING: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get_balance"},{"name":"delete_customer"},{"name":"export_ledger"}]}}"#;

/// A body that yields its chunks one frame at a time, as a server's answer arrives.
struct Chunks(std::collections::VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

async fn run(framing: Framing, chunks: &[&str]) -> String {
    let inner = Chunks(chunks.iter().map(|c| Bytes::from(c.to_string())).collect()).boxed_unsync();
    let body = Filtered::wrap(inner, framing, visible(&["get_balance"]));
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_json_listing_keeps_only_visible_tools() {
    let out = run(Framing::Json, &[&LISTING[..30], &LISTING[30..]]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_balance"]);
    assert_eq!(v["id"], 2);
}

#[tokio::test]
async fn an_event_stream_is_rewritten_event_by_event() {
    let note =
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
    let listing = format!("event: message\nid: 1\ndata: {LISTING}\n\n");
    let stream = format!("{note}{listing}");
    let (a, b) = stream.split_at(50);
    let out = run(Framing::EventStream, &[a, b]).await;
    assert!(out.starts_with(note), "{out}");
    let rest = &out[note.len()..];
    assert!(rest.starts_with("event: message\nid: 1\ndata: "), "{rest}");
    assert!(
        rest.contains("get_balance") && !rest.contains("delete_customer"),
        "{rest}"
    );
    assert!(rest.ends_with("\n\n"), "{rest:?}");
}

#[test]
fn answers_that_are_not_listings_pass_unchanged() {
    let v = visible(&[]);
    for text in [
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        "not json",
        r#"{"result":{"tools":"x"}}"#,
    ] {
        assert_eq!(rewrite_json(text.as_bytes(), &v).as_ref(), text.as_bytes());
    }
}
