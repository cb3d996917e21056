//! `deploy/kubernetes`: every file parses, and every cross-reference holds against what the
//! binary reads and serves: container ports are the pod config's `listen`/`admin_listen`,
//! probes hit the admin endpoints, the Service targets the sidecar, the tool binds loopback
//! at the config's upstream, mounts are where the config looks, the bundle ConfigMap is
//! `policies/tools`, and the pod runs non-root on a read-only root filesystem.
//! The base is checked as typed Kubernetes API objects, unknown fields refused, without
//! kubectl.

use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toolgate::config::Config;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s(name: &str) -> PathBuf {
    root().join("deploy/kubernetes").join(name)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Every document of a file that may hold several (`---`), as `kubectl apply` reads it.
fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The admin endpoints the probes and scrapers use (issue #4's admin listener).
const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const METRICS: &str = "/metrics";

#[test]
fn every_yaml_and_json_file_under_deploy_parses() {
    let mut stack = vec![root().join("deploy")];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            match path.extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") => {
                    assert!(!docs(&path).is_empty(), "{path:?}: no document");
                }
                Some("json") => {
                    let text = std::fs::read_to_string(&path).unwrap();
                    serde_json::from_str::<Value>(&text)
                        .unwrap_or_else(|e| panic!("{path:?}: {e}"));
                }
                _ => continue,
            }
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} files under deploy/");
}

/// The base's resources, its generated ConfigMaps by name, and the pod's config.
struct Base {
    kustomization: Value,
    deployment: Value,
    service: Value,
    netpol: Value,
    podmonitor: Value,
    cfg: Config,
}

fn base() -> Base {
    let kustomization = yaml(&k8s("kustomization.yaml"));
    for r in kustomization["resources"].as_array().unwrap() {
        assert!(k8s(r.as_str().unwrap()).is_file(), "resource {r}");
    }
    let generator = generator(&kustomization, "toolgate-config");
    let files = strings(&generator["files"]);
    assert_eq!(
        files,
        ["toolgate.yaml"],
        "the config ConfigMap holds one key"
    );
    let mut cfg = Config::parse(&std::fs::read_to_string(k8s("toolgate.yaml")).unwrap()).unwrap();
    assert_eq!(
        cfg.policies.as_deref(),
        Some(Path::new("/etc/toolgate/policies/tools"))
    );
    // The pod's bundle and mounted Secret do not exist here: validate against the repo's
    // bundle and a password file of our own.
    cfg.policies = Some(root().join("policies/tools"));
    let secret = tempfile::tempdir().unwrap();
    let password_file = cfg.state.password_file.clone();
    if password_file.is_some() {
        let local = secret.path().join("password");
        std::fs::write(&local, "placeholder\n").unwrap();
        cfg.state.password_file = Some(local);
    }
    cfg.validate()
        .unwrap_or_else(|e| panic!("deploy/kubernetes/toolgate.yaml: {e}"));
    cfg.policies = Some("/etc/toolgate/policies/tools".into());
    cfg.state.password_file = password_file;
    Base {
        deployment: yaml(&k8s("deployment.yaml")),
        service: yaml(&k8s("service.yaml")),
        netpol: yaml(&k8s("networkpolicy.yaml")),
        podmonitor: yaml(&k8s("podmonitor.yaml")),
        kustomization,
        cfg,
    }
}

fn generator<'a>(kustomization: &'a Value, name: &str) -> &'a Value {
    kustomization["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no configMapGenerator {name}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// A port given by name or number, resolved against the container's ports.
fn port_of(c: &Value, port: &Value) -> u16 {
    match port {
        Value::Number(n) => n.as_u64().unwrap() as u16,
        Value::String(name) => c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no port named {name}"))["containerPort"]
            .as_u64()
            .unwrap() as u16,
        other => panic!("port {other}"),
    }
}

#[test]
fn sidecar_ports_probes_and_service_match_the_pod_config() {
    let b = base();
    let gate = container(&b.deployment, "toolgate");
    let (listen, admin) = (b.cfg.listen, b.cfg.admin_listen);
    assert_eq!(port_of(gate, &"proxy".into()), listen.port());
    assert_eq!(port_of(gate, &"admin".into()), admin.port());
    // Reachable from outside the pod: the Service, the kubelet, Prometheus.
    assert!(listen.ip().is_unspecified() && admin.ip().is_unspecified());
    for (probe, path) in [("readinessProbe", READYZ), ("livenessProbe", HEALTHZ)] {
        let get = &gate[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(port_of(gate, &get["port"]), admin.port(), "{probe}");
    }
    let ports = b.service["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "the Service exposes the proxy only");
    assert_eq!(port_of(gate, &ports[0]["targetPort"]), listen.port());
    let pod_labels = &b.deployment["spec"]["template"]["metadata"]["labels"];
    for (what, selector) in [
        ("Service", &b.service["spec"]["selector"]),
        (
            "Deployment",
            &b.deployment["spec"]["selector"]["matchLabels"],
        ),
        (
            "NetworkPolicy",
            &b.netpol["spec"]["podSelector"]["matchLabels"],
        ),
        (
            "PodMonitor",
            &b.podmonitor["spec"]["selector"]["matchLabels"],
        ),
    ] {
        for (k, v) in selector.as_object().unwrap() {
            assert_eq!(&pod_labels[k], v, "{what} selects {k}={v}");
        }
    }
    // Metrics: annotations for a plain Prometheus, the PodMonitor for the Operator.
    let notes = &b.deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], admin.port().to_string());
    assert_eq!(notes["prometheus.io/path"], METRICS);
    let endpoint = &b.podmonitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(port_of(gate, &endpoint["port"]), admin.port());
    assert_eq!(endpoint["path"], METRICS);
}

#[test]
fn the_tool_binds_loopback_at_the_configs_upstream_and_only_the_sidecar_is_reachable() {
    let b = base();
    let upstream: SocketAddr = b
        .cfg
        .upstream
        .url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    assert!(upstream.ip().is_loopback(), "{upstream}");
    let tool = container(&b.deployment, "payments-api");
    assert!(
        tool.get("ports").is_none(),
        "the tool must declare no ports"
    );
    let binds: Vec<&Value> = tool["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["value"] == upstream.to_string())
        .collect();
    assert_eq!(binds.len(), 1, "the tool listens on exactly {upstream}");
    // NetworkPolicy: the sidecar's two ports, never the tool's.
    let mut open: Vec<u64> = b.netpol["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap().iter())
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    open.sort_unstable();
    let want = [b.cfg.listen.port() as u64, b.cfg.admin_listen.port() as u64];
    assert_eq!(open, want);
    assert!(!open.contains(&(upstream.port() as u64)));
}

#[test]
fn config_and_bundle_are_mounted_where_the_config_looks() {
    let b = base();
    let gate = container(&b.deployment, "toolgate");
    let args = strings(&gate["args"]);
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let volumes = b.deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let mount = |volume: &str| -> PathBuf {
        let v = volumes.iter().find(|v| v["name"] == volume).unwrap();
        assert_eq!(v["configMap"]["name"], volume, "volume {volume}");
        generator(&b.kustomization, volume);
        let m = gate["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap_or_else(|| panic!("{volume} is not mounted"));
        assert_eq!(m["readOnly"], true, "{volume}");
        assert!(
            m.get("subPath").is_none(),
            "{volume}: subPath mounts never update"
        );
        PathBuf::from(m["mountPath"].as_str().unwrap())
    };
    assert_eq!(
        Path::new(config_path),
        mount("toolgate-config").join("toolgate.yaml")
    );
    assert_eq!(
        b.cfg.policies.as_deref(),
        Some(mount("toolgate-policies").as_path())
    );

    // The bundle ConfigMap is policies/tools, file for file, byte for byte.
    let g = generator(&b.kustomization, "toolgate-policies");
    assert_eq!(
        g["options"]["disableNameSuffixHash"], true,
        "hot reload in place"
    );
    let mut keys: Vec<String> = Vec::new();
    for f in strings(&g["files"]) {
        let copy = k8s(f);
        let name = copy.file_name().unwrap().to_str().unwrap().to_owned();
        let original = root().join("policies/tools").join(&name);
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(&original).unwrap_or_default(),
            "deploy/kubernetes/{f} differs from policies/tools/{name}: \
             cp policies/tools/*.yaml deploy/kubernetes/policies/"
        );
        keys.push(name);
    }
    keys.sort();
    let mut bundle: Vec<String> = std::fs::read_dir(root().join("policies/tools"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    bundle.sort();
    assert_eq!(keys, bundle, "ConfigMap keys are the bundle's files");
}

#[test]
fn pod_runs_non_root_read_only_with_resources_and_drains_in_time() {
    let b = base();
    let pod = &b.deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > b.cfg.shutdown_grace.get().as_secs(),
        "the kubelet must not kill toolgate before shutdown_grace ends"
    );
    for c in pod["containers"].as_array().unwrap() {
        let name = &c["name"];
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(c["resources"][kind][r].is_string(), "{name}: {kind}.{r}");
            }
        }
    }
}

/// A kustomization as this base writes one: what it may hold, nothing else.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default)]
    labels: Vec<serde_json::Value>,
    resources: Vec<String>,
    config_map_generator: Vec<Generator>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    name: String,
    files: Vec<String>,
    /// Kustomize's generator options (the bundle's `disableNameSuffixHash`).
    #[serde(default, rename = "options")]
    _options: Option<serde_json::Value>,
}

/// Deserializes `value` into the typed API object `T`, refusing any field `T` does not
/// know (a typo such as `readOnlyRootFilesytem` would otherwise be dropped silently by the
/// API server's older validation, and the pod would run without it).
fn typed<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> T {
    let mut unknown = Vec::new();
    let t: T = serde_ignored::deserialize(value.clone(), |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(unknown.is_empty(), "{what}: unknown fields {unknown:?}");
    t
}

/// The base renders as `kubectl kustomize` would: every resource is a typed Kubernetes
/// object of the kind it claims, with no unknown field; every generated ConfigMap's files
/// exist; the bundle ConfigMap is a copy of a loadable bundle.
#[test]
fn the_base_is_typed_kubernetes_objects_with_no_unknown_field() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let k: Kustomization = typed(&yaml(&k8s("kustomization.yaml")), "kustomization.yaml");
    assert_eq!(
        (k.api_version.as_str(), k.kind.as_str()),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    );
    assert!(!k.labels.is_empty());
    let mut kinds = Vec::new();
    let mut containers = Vec::new();
    for r in &k.resources {
        for v in docs(&k8s(r)) {
            let kind = v["kind"].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "Deployment" => {
                    let d: Deployment = typed(&v, r);
                    let pod = d.spec.template.spec.expect("a pod spec");
                    containers.extend(pod.containers.into_iter().map(|c| c.name));
                }
                "Service" => {
                    let _: Service = typed(&v, r);
                }
                "NetworkPolicy" => {
                    let _: NetworkPolicy = typed(&v, r);
                }
                other => panic!("{r}: unexpected kind {other}"),
            }
            kinds.push(kind);
        }
    }
    containers.sort();
    assert_eq!(containers, ["payments-api", "redis", "toolgate"]);
    for g in &k.config_map_generator {
        for f in &g.files {
            assert!(k8s(f).is_file(), "{}: {f}", g.name);
        }
        kinds.push("ConfigMap".into());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "Deployment",
            "NetworkPolicy",
            "NetworkPolicy",
            "Service",
            "Service"
        ]
    );
    let policies = k
        .config_map_generator
        .iter()
        .find(|g| g.name == "toolgate-policies")
        .expect("the bundle ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    for f in &policies.files {
        let name = std::path::Path::new(f).file_name().unwrap();
        std::fs::copy(k8s(f), dir.path().join(name)).unwrap();
    }
    toolgate::bundle::load(dir.path(), "2026-03-16T10:00:00Z".parse().unwrap())
        .unwrap_or_else(|e| panic!("the bundle ConfigMap does not load:\n{e}"));
}

/// The PodMonitor (a Prometheus Operator resource, not in the core API) has the shape the
/// operator reads: checked with a struct of its own that refuses unknown fields.
#[test]
fn the_pod_monitor_scrapes_the_admin_metrics() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct PodMonitor {
        api_version: String,
        kind: String,
        metadata: serde_json::Value,
        spec: PodMonitorSpec,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct PodMonitorSpec {
        selector: serde_json::Value,
        pod_metrics_endpoints: Vec<Endpoint>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Endpoint {
        port: String,
        path: String,
        #[serde(default)]
        interval: Option<String>,
    }
    let pm: PodMonitor = serde_json::from_value(yaml(&k8s("podmonitor.yaml"))).unwrap();
    assert_eq!(pm.api_version, "monitoring.coreos.com/v1");
    assert_eq!(pm.kind, "PodMonitor");
    assert!(pm.metadata["name"].is_string());
    assert!(pm.spec.selector.is_object());
    assert!(pm
        .spec
        .pod_metrics_endpoints
        .iter()
        .any(|e| e.path == METRICS && !e.port.is_empty() && e.interval.is_some()));
}

#[path = "support/demo.rs"]
mod run;

/// The probes' and scrapers' endpoints, asked of a real `toolgate serve` with the pod's
/// config, its state in memory: the pod's Redis and mounted Secret do not exist here.
#[test]
fn admin_endpoints_used_by_probes_and_scrapers_answer() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = free.local_addr().unwrap();
    drop(free);
    let admin_arg = admin.to_string();
    let mut pod_config = yaml(&k8s("toolgate.yaml"));
    pod_config.as_object_mut().unwrap().remove("state");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("toolgate.yaml");
    // JSON is YAML: the loader reads it as the pod's file minus `state`.
    std::fs::write(&config, pod_config.to_string()).unwrap();
    let _gate = run::Running::start(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--policies",
        "policies/tools",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        &admin_arg,
    ]);
    let deadline = std::time::Instant::now() + run::PATIENCE;
    while std::net::TcpStream::connect(admin).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "no admin listener on {admin}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20)); // poll interval
    }
    for path in [HEALTHZ, READYZ, METRICS] {
        let r = run::http(admin, "GET", path, &[], "");
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }
}
