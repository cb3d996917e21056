//! `deploy/kubernetes`'s Redis (redis.yaml) against the sidecar that uses it: `state.url`
//! names its Service and port, the Service reaches the Redis container, the Secret the
//! sidecar mounts is where `state.password_file` looks and is the one Redis takes its
//! `--requirepass` from, Redis never evicts, the NetworkPolicies let the sidecar in and no
//! other pod, and the example Secret is not applied and holds only a placeholder.
//! (tests/deploy.rs checks every object of the base as a typed Kubernetes object.)

use serde_json::Value;
use std::path::PathBuf;
use toolgate::config::Config;

fn k8s(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name)
}

/// Every document of a file (`---` separated).
fn docs(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(k8s(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The one object of `kind` named `name` in file `file`.
fn object(file: &str, kind: &str, name: &str) -> Value {
    let found: Vec<Value> = docs(file)
        .into_iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{file}: one {kind} {name}");
    found.into_iter().next().unwrap()
}

fn pod(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]
}

fn pod_labels(deployment: &Value) -> &serde_json::Map<String, Value> {
    deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap()
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    pod(deployment)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// A port given by name or number, resolved against the container's ports.
fn port_of(c: &Value, port: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no port named {name}"))["containerPort"]
            .as_u64()
            .unwrap(),
        other => panic!("port {other}"),
    }
}

/// Every label of `selector` is one of `labels`, and it selects something.
fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let s = selector.as_object().unwrap();
    !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value following `flag` in `args`.
fn arg<'a>(args: &'a [Value], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args[at + 1].as_str().unwrap()
}

/// The shipped pod config as the binary loads it.
fn cfg() -> Config {
    Config::parse(&std::fs::read_to_string(k8s("toolgate.yaml")).unwrap()).unwrap()
}

const REDIS: &str = "toolgate-redis";

fn sidecar() -> Value {
    object("deployment.yaml", "Deployment", "payments")
}

fn redis() -> Value {
    object("redis.yaml", "Deployment", REDIS)
}

/// The Secret the sidecar mounts: (mount directory, Secret name, key, file name).
fn mounted_secret(sidecar: &Value) -> (PathBuf, String, String, String) {
    let volume = pod(sidecar)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v.get("secret").is_some())
        .expect("a Secret volume");
    let secret = &volume["secret"];
    let items = secret["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the password is projected");
    let mounts: Vec<&Value> = pod(sidecar)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
        .filter(|m| m["name"] == volume["name"])
        .collect();
    assert_eq!(mounts.len(), 1, "mounted once");
    let gate_mounts = container(sidecar, "toolgate")["volumeMounts"]
        .as_array()
        .unwrap();
    assert!(
        gate_mounts.contains(mounts[0]),
        "mounted in the toolgate container only, never in the tool's"
    );
    assert_eq!(mounts[0]["readOnly"], true);
    assert!(
        mounts[0].get("subPath").is_none(),
        "rotations need a directory mount"
    );
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    (
        PathBuf::from(s(&mounts[0]["mountPath"])),
        s(&secret["secretName"]),
        s(&items[0]["key"]),
        s(&items[0]["path"]),
    )
}

#[test]
fn the_secret_is_mounted_where_state_password_file_looks_and_only_toolgate_reads_it() {
    let sidecar = sidecar();
    let (dir, name, key, file) = mounted_secret(&sidecar);
    let password_file = cfg().state.password_file.expect("state.password_file");
    assert_eq!(password_file, dir.join(&file), "state.password_file");
    assert_eq!((name.as_str(), key.as_str()), (REDIS, "password"));
    // 0440 and the pod's fsGroup is toolgate's group: toolgate's user reads it, no other.
    let volume = &pod(&sidecar)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v.get("secret").is_some())
        .unwrap()["secret"];
    assert_eq!(volume["defaultMode"], 0o440);
    let sc = &pod(&sidecar)["securityContext"];
    assert_eq!(sc["fsGroup"], sc["runAsGroup"]);
    let tool_sc = &container(&sidecar, "toolgate")["securityContext"];
    assert!(tool_sc.get("runAsGroup").is_none() && tool_sc.get("runAsUser").is_none());
}

#[test]
fn state_url_names_the_redis_service_which_reaches_the_redis_container() {
    let cfg = cfg();
    let url = cfg.state.url.as_str();
    let rest = url
        .strip_prefix("redis://")
        .unwrap_or_else(|| panic!("{url}"));
    let (host, port) = rest.split('/').next().unwrap().split_once(':').unwrap();
    let service = object("redis.yaml", "Service", host);
    assert_eq!(service["spec"]["type"], "ClusterIP");
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["port"].as_u64(), Some(port.parse().unwrap()));
    let redis = redis();
    let c = container(&redis, "redis");
    assert_eq!(port_of(c, &ports[0]["targetPort"]), 6379);
    assert!(selects(&service["spec"]["selector"], pod_labels(&redis)));
    assert!(selects(
        &redis["spec"]["selector"]["matchLabels"],
        pod_labels(&redis)
    ));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(port_of(c, &c[probe]["tcpSocket"]["port"]), 6379, "{probe}");
    }
}

#[test]
fn redis_never_evicts_keeps_nothing_on_disk_and_requires_the_sidecars_password() {
    let redis = redis();
    assert_eq!(redis["spec"]["replicas"], 1);
    let c = container(&redis, "redis");
    assert!(c["image"].as_str().unwrap().starts_with("redis:7"));
    assert_eq!(c["command"], serde_json::json!(["redis-server"]));
    let args = c["args"].as_array().unwrap();
    // An evicted used-approval key would let the approval be replayed.
    assert_eq!(arg(args, "--maxmemory-policy"), "noeviction");
    assert_eq!(arg(args, "--maxmemory"), "256mb");
    assert_eq!(arg(args, "--save"), "");
    assert_eq!(arg(args, "--appendonly"), "no");
    // `$(NAME)` is expanded by the kubelet from the container's env.
    let pass = arg(args, "--requirepass");
    let var = pass
        .strip_prefix("$(")
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--requirepass {pass}: not from a Secret"));
    let env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == var)
        .unwrap_or_else(|| panic!("no env {var}"));
    let from = &env["valueFrom"]["secretKeyRef"];
    let (_, name, key, _) = mounted_secret(&sidecar());
    assert_eq!(from["name"], name.as_str(), "the Secret the sidecar mounts");
    assert_eq!(from["key"], key.as_str());
    assert!(env.get("value").is_none());
}

#[test]
fn redis_runs_non_root_read_only_with_resources() {
    let redis = redis();
    let pod = pod(&redis);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = container(&redis, "redis");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][kind][r].is_string(), "{kind}.{r}");
        }
    }
    // The working directory is writable, the root filesystem is not.
    let data = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/data")
        .expect("/data mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == data["name"])
        .unwrap();
    assert!(volume["emptyDir"].is_object());
}

#[test]
fn only_the_sidecars_pods_reach_redis_and_only_on_6379() {
    let (sidecar, redis) = (sidecar(), redis());
    let policy = object("redis.yaml", "NetworkPolicy", REDIS);
    let spec = &policy["spec"];
    assert!(selects(
        &spec["podSelector"]["matchLabels"],
        pod_labels(&redis)
    ));
    assert!(spec["policyTypes"]
        .as_array()
        .unwrap()
        .contains(&"Ingress".into()));
    let rules = spec["ingress"].as_array().unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        // A rule without `from` would admit every pod.
        let from = rule["from"].as_array().expect("from");
        for peer in from {
            let keys: Vec<&String> = peer.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["podSelector"], "same namespace, selected pods only");
            let selector = &peer["podSelector"]["matchLabels"];
            assert!(selects(selector, pod_labels(&sidecar)), "{selector}");
            assert!(!selects(selector, pod_labels(&redis)));
        }
        let ports = rule["ports"].as_array().expect("ports");
        for p in ports {
            assert_eq!((&p["protocol"], &p["port"]), (&"TCP".into(), &6379.into()));
        }
    }
    // The sidecar's own policy: egress unrestricted, or 6379 to Redis allowed.
    let own = object("networkpolicy.yaml", "NetworkPolicy", "payments");
    assert!(selects(
        &own["spec"]["podSelector"]["matchLabels"],
        pod_labels(&sidecar)
    ));
    let types = own["spec"]["policyTypes"].as_array().unwrap();
    if types.contains(&"Egress".into()) {
        let allowed = own["spec"]["egress"].as_array().unwrap().iter().any(|r| {
            let to_redis = r["to"].as_array().is_none_or(|to| {
                to.iter()
                    .any(|p| selects(&p["podSelector"]["matchLabels"], pod_labels(&redis)))
            });
            let on_6379 = r["ports"]
                .as_array()
                .is_none_or(|ps| ps.iter().any(|p| p["port"] == 6379));
            to_redis && on_6379
        });
        assert!(allowed, "networkpolicy.yaml restricts egress without Redis");
    }
}

#[test]
fn the_example_secret_is_not_applied_and_holds_only_a_placeholder() {
    use k8s_openapi::api::core::v1::Secret;
    const FILE: &str = "redis-secret.example.yaml";
    let kustomization = docs("kustomization.yaml").remove(0);
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(!resources.contains(&FILE), "{FILE} must never be applied");
    assert!(resources.contains(&"redis.yaml"));
    let all = docs(FILE);
    assert_eq!(all.len(), 1);
    let mut unknown = Vec::new();
    let secret: Secret = serde_ignored::deserialize(all[0].clone(), |p| {
        unknown.push(p.to_string());
    })
    .unwrap();
    assert!(unknown.is_empty(), "{FILE}: unknown fields {unknown:?}");
    let (_, name, key, _) = mounted_secret(&sidecar());
    assert_eq!(secret.metadata.name.as_deref(), Some(name.as_str()));
    assert!(secret.data.is_none(), "no base64 value");
    let values = secret.string_data.expect("stringData");
    assert_eq!(values.keys().collect::<Vec<_>>(), [&key]);
    assert_eq!(values[&key], "CHANGE-ME", "an obvious placeholder only");
    // The comment says how to make the real one.
    let text = std::fs::read_to_string(k8s(FILE)).unwrap();
    assert!(text.contains(&format!(
        "kubectl create secret generic {name} --from-literal={key}=\"$(openssl rand -hex 32)\""
    )));
}
