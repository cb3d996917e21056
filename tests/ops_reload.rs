//! Hot reload of a whole sidecar, seen from the proxy port: a bundle change made the ways
//! operators make them (a plain write, an editor's rename, a Kubernetes ConfigMap `..data`
//! swap, SIGHUP) decides the next requests, and many reloads under concurrent load drop
//! nothing: every response is the intended one for the version its header names.

mod support;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::sidecar::*;
use support::*;

const VIEWER: &[(&str, &str)] = &[
    ("x-actor", "agent-5"),
    ("x-actor-role", "viewer"),
    ("x-environment", "production"),
];

/// The version that decides a tenant read, from the response header.
async fn decided_by(gate: &Sidecar) -> String {
    let r = call(gate.proxy, "GET", "/db/v1/tenants/t-42", VIEWER, "").await;
    assert_eq!(r.status, 200);
    r.header("x-toolgate-policy-version").unwrap().to_owned()
}

async fn requests_see(gate: &Sidecar, version: &str) {
    gate.serves(version).await;
    assert_eq!(decided_by(gate).await, version);
}

#[tokio::test]
async fn a_plain_file_write_reloads() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    assert_eq!(decided_by(&gate).await, "tools@1.0.0");
    let path = gate.live.join("bundle.yaml");
    let text = fs::read_to_string(&path).unwrap();
    // In place (truncate, write): the watcher may see a half-written file; that reload
    // fails and the next event's reload succeeds.
    fs::write(&path, replaced(&text, "version: 1.0.0", "version: 1.0.1")).unwrap();
    requests_see(&gate, "tools@1.0.1").await;
}

#[tokio::test]
async fn an_editors_rename_reloads() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |_, _| {}).await;
    edit(
        &gate.live,
        "bundle.yaml",
        "version: 1.0.0",
        "version: 1.0.1",
    );
    requests_see(&gate, "tools@1.0.1").await;
}

/// A bundle laid out as the kubelet lays out a ConfigMap volume: the files are symlinks
/// through `..data`, itself a symlink to a timestamped dir.
fn configmap(dir: &Path, release: &str, version: &str) {
    let data = dir.join(release);
    copy_bundle(&data);
    edit(
        &data,
        "bundle.yaml",
        "version: 1.0.0",
        &format!("version: {version}"),
    );
}

#[tokio::test]
async fn a_configmap_data_swap_reloads() {
    let up = Upstream::start().await;
    let gate = Sidecar::start(&up.url(), |root, cfg| {
        let cm = root.join("configmap");
        configmap(&cm, "..2026_03_16_10_00_00.1", "1.0.0");
        symlink("..2026_03_16_10_00_00.1", cm.join("..data")).unwrap();
        for f in ["bundle.yaml", "routes.yaml", "rules.yaml", "tests.yaml"] {
            symlink(format!("..data/{f}"), cm.join(f)).unwrap();
        }
        cfg.policies = Some(cm);
    })
    .await;
    assert_eq!(decided_by(&gate).await, "tools@1.0.0");

    // The kubelet's update: a new dir, a new `..data` renamed over the old, old dir gone.
    let cm = gate.root.path().join("configmap");
    configmap(&cm, "..2026_03_16_10_05_00.2", "1.0.2");
    symlink("..2026_03_16_10_05_00.2", cm.join("..data_tmp")).unwrap();
    fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    fs::remove_dir_all(cm.join("..2026_03_16_10_00_00.1")).unwrap();
    requests_see(&gate, "tools@1.0.2").await;
}

#[tokio::test]
async fn sighup_reloads() {
    let up = Upstream::start().await;
    // `bundle.yaml` is a symlink to a file in another dir: changing that file makes no
    // event in the watched dir, so only the signal can cause the reload.
    let gate = Sidecar::start(&up.url(), |root, cfg| {
        let live = cfg.policies.clone().unwrap();
        let elsewhere = root.join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::rename(live.join("bundle.yaml"), elsewhere.join("bundle.yaml")).unwrap();
        symlink(elsewhere.join("bundle.yaml"), live.join("bundle.yaml")).unwrap();
    })
    .await;
    edit(
        &gate.root.path().join("elsewhere"),
        "bundle.yaml",
        "version: 1.0.0",
        "version: 1.0.3",
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    requests_see(&gate, "tools@1.0.3").await;
}

/// One client task: requests on one keep-alive connection until told to stop; returns
/// (request id, status, verdict header, version header) per response, and any error.
async fn client(
    addr: std::net::SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
) -> Vec<(String, u16, String, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut seen = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let id = format!("load-{n}-{i}");
        let mut headers = VIEWER.to_vec();
        headers.push(("x-request-id", &id));
        let req = request("DELETE", addr, "/db/v1/tenants/t-42", &headers, "");
        let reply = match tx.ready().await {
            Ok(()) => match tx.send_request(req).await {
                Ok(resp) => read_reply(resp).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match reply {
            Ok(r) => seen.push((
                id,
                r.status,
                r.header("x-toolgate-verdict").unwrap_or("-").to_owned(),
                r.header("x-toolgate-policy-version")
                    .unwrap_or("-")
                    .to_owned(),
            )),
            Err(e) => {
                errors.lock().unwrap().push(format!("{id}: {e}"));
                break;
            }
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_reloads_under_load_drop_nothing() {
    const RELOADS: u32 = 20;
    const CLIENTS: usize = 4;
    let up = Upstream::start().await;
    let mut gate = Sidecar::start(&up.url(), |_, cfg| cfg.audit.capacity = 1 << 16).await;
    let original = fs::read_to_string(gate.live.join("bundle.yaml")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                gate.proxy,
                n,
                stop.clone(),
                done.clone(),
                errors.clone(),
            ))
        })
        .collect();

    // Odd versions put the whole bundle in shadow mode (the denied delete is forwarded, 200);
    // even ones enforce it (403). The header says which version decided.
    for i in 1..=RELOADS {
        let mut text = replaced(&original, "version: 1.0.0", &format!("version: 1.0.{i}"));
        if i % 2 == 1 {
            text = replaced(&text, "spec:\n", "spec:\n  mode: shadow\n");
        }
        write_by_rename(&gate.live.join("bundle.yaml"), &text);
        let r = gate.post("/v1/reload", "").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["live"]["current"], format!("tools@1.0.{i}"));
        // Let requests flow on this version before the next swap.
        let mark = done.load(Ordering::SeqCst);
        eventually("requests on the new version", || async {
            done.load(Ordering::SeqCst) >= mark + 2 * CLIENTS
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.await.unwrap());
    }
    assert_eq!(
        *errors.lock().unwrap(),
        Vec::<String>::new(),
        "transport errors"
    );

    let mut versions = std::collections::BTreeSet::new();
    for (id, status, verdict, version) in &seen {
        let minor: u32 = version
            .strip_prefix("tools@1.0.")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{id}: version {version:?}"));
        let want = if minor % 2 == 1 { 200 } else { 403 };
        assert_eq!(*status, want, "{id} decided by {version}");
        assert_eq!(verdict, "DENY", "{id}: the (would-be) verdict");
        versions.insert(minor);
    }
    assert!(
        versions.len() > RELOADS as usize / 2,
        "requests spanned the reloads: {versions:?}"
    );

    // The audit trail agrees, record by record, on which version decided.
    gate.stop().await;
    let lines = gate.audit_lines();
    let by_id: std::collections::HashMap<&str, &serde_json::Value> = lines
        .iter()
        .map(|l| (l["request_id"].as_str().unwrap(), l))
        .collect();
    for (id, status, _, version) in &seen {
        let rec = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("no record for {id}"));
        assert_eq!(rec["policy_version"], version.as_str(), "{id}");
        let action = if *status == 200 {
            "forwarded"
        } else {
            "execution_stopped"
        };
        assert_eq!(rec["final_runtime_action"], action, "{id}");
    }
}
