//! An open-loop, fixed-rate HTTP/1.1 load generator (what `wrk2` does; it is not packaged
//! by Debian): request `i` is due at `start + i / rate`, whatever happened to the ones
//! before it, and its latency is measured from that due time, so a stall shows up in the
//! percentiles instead of silently lowering the rate (no coordinated omission). Requests
//! are dealt round-robin to keep-alive connections, one in flight per connection.
//!
//! `cargo run --release --example loadgen -- --url http://127.0.0.1:18000/payments/v1/payouts/po_1 \
//!     --rate 5000 --duration 10 -H 'x-actor-role: finance_operator'`
//!
//! Prints one line: `rate=… sent=… ok=… non2xx=… errors=… p50_ms=… p90_ms=… p99_ms=… p999_ms=… max_ms=…`.

use bytes::Bytes;
use clap::Parser;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[derive(Parser)]
struct Args {
    /// The target URL (http only).
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Seconds of load (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value = "GET")]
    method: String,
    /// A header, `name: value`; repeatable.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// The request body.
    #[arg(long, default_value = "")]
    body: String,
}

struct Job {
    due: Instant,
    measured: bool,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    ok: u64,
    non2xx: u64,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let uri: Uri = args.url.parse()?;
    let authority = uri
        .authority()
        .ok_or_else(|| anyhow::anyhow!("--url needs a host"))?
        .clone();
    let method: Method = args.method.parse()?;
    let mut headers = http::HeaderMap::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("header {h:?}: expected name: value"))?;
        headers.append(
            http::HeaderName::from_bytes(k.trim().as_bytes())?,
            v.trim().parse()?,
        );
    }
    headers.insert(http::header::HOST, authority.as_str().parse()?);
    let body = Bytes::from(args.body.clone());
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();

    let mut senders = Vec::with_capacity(args.connections);
    let mut workers = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let stream = TcpStream::connect(authority.as_str()).await?;
        stream.set_nodelay(true)?;
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let (jobs_tx, mut jobs) = mpsc::unbounded_channel::<Job>();
        senders.push(jobs_tx);
        let (method, headers, body, path) =
            (method.clone(), headers.clone(), body.clone(), path.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while let Some(job) = jobs.recv().await {
                let mut req = Request::new(Full::new(body.clone()));
                *req.method_mut() = method.clone();
                *req.uri_mut() = path.parse().expect("a path");
                *req.headers_mut() = headers.clone();
                let outcome = match tx.ready().await {
                    Ok(()) => match tx.send_request(req).await {
                        Ok(resp) => {
                            let status = resp.status();
                            match resp.into_body().collect().await {
                                Ok(_) => Ok(status),
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                if !job.measured {
                    continue;
                }
                match outcome {
                    Ok(s) if s.is_success() => tally.ok += 1,
                    Ok(_) => tally.non2xx += 1,
                    Err(_) => {
                        tally.errors += 1;
                        continue;
                    }
                }
                tally
                    .latencies_us
                    .push(job.due.elapsed().as_micros() as u64);
            }
            tally
        }));
    }

    // The schedule: coarse sleeps while far from the next due time, then yields, so
    // requests leave on time rather than in 1 ms timer batches.
    let period = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = Instant::now();
    let warm_end = start + Duration::from_secs(args.warmup);
    let end = warm_end + Duration::from_secs(args.duration);
    let mut next = start;
    let mut i = 0usize;
    let mut sent = 0u64;
    while next < end {
        let now = Instant::now();
        while next <= now && next < end {
            let job = Job {
                due: next,
                measured: next >= warm_end,
            };
            sent += u64::from(job.measured);
            let _ = senders[i % senders.len()].send(job);
            i += 1;
            next += period;
        }
        let ahead = next.saturating_duration_since(Instant::now());
        if ahead > Duration::from_millis(2) {
            tokio::time::sleep(ahead - Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    drop(senders);
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies_us.extend(t.latencies_us);
        all.ok += t.ok;
        all.non2xx += t.non2xx;
        all.errors += t.errors;
    }
    let elapsed = end.duration_since(warm_end).as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return f64::NAN;
        }
        let idx = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx] as f64 / 1000.0
    };
    println!(
        "rate={:.0} sent={sent} ok={} non2xx={} errors={} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        (all.ok + all.non2xx) as f64 / elapsed,
        all.ok,
        all.non2xx,
        all.errors,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
    Ok(())
}
