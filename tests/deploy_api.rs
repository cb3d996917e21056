//! `deploy/kubernetes-api`: the kustomize base of a central `toolgate api`. Every file
//! parses (several documents per file allowed), every resource is the typed Kubernetes
//! object it claims, and every cross-reference holds against what the binary reads and
//! serves: ports, probes, mounts, ConfigMap and Secret names, the bundle copy, and the
//! config itself through the real validation. No kubectl needed.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use toolgate::config::Config;

mod manifests;
use manifests::*;

#[path = "support/demo.rs"]
mod run;

const API: &str = "toolgate-api";
/// The Secrets this base mounts but never ships (the user creates them, as the example
/// files document), with the one key each volume reads.
const KEYS_SECRET: (&str, &str) = ("toolgate-api-keys", "api-keys");
const REDIS_SECRET: (&str, &str) = ("toolgate-redis", "password");

fn base(name: &str) -> PathBuf {
    root().join("deploy/kubernetes-api").join(name)
}

/// The pod's config as shipped (absolute paths into the pod's mounts).
fn cfg() -> Config {
    let text = std::fs::read_to_string(base("api.yaml")).unwrap();
    Config::parse(&text).unwrap_or_else(|e| panic!("api.yaml: {e}"))
}

fn deployment() -> Value {
    object(&base("deployment.yaml"), "Deployment", API)
}

fn container(d: &Value) -> &Value {
    let all = list(&d["spec"]["template"]["spec"]["containers"]);
    assert_eq!(all.len(), 1, "the API alone in its pod");
    &all[0]
}

/// The example Secret's keys file.
fn example_keys_file() -> String {
    let secret = docs(&base("api-keys-secret.example.yaml")).remove(0);
    secret["stringData"]["api-keys"].as_str().unwrap().into()
}

#[test]
fn every_file_parses_and_every_resource_is_a_typed_object_with_no_unknown_field() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::Service};
    let mut seen = Vec::new();
    for dir in [base(""), base("policies")] {
        for path in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
            let name = path.strip_prefix(base("")).unwrap().display().to_string();
            assert!(name == "policies" || !docs(&path).is_empty(), "{name}");
            seen.push(name);
        }
    }
    seen.sort();
    assert_eq!(
        seen.join(" "),
        "api-keys-secret.example.yaml api.yaml deployment.yaml kustomization.yaml \
         networkpolicy.yaml policies policies/bundle.yaml policies/routes.yaml \
         policies/rules.yaml policies/tests.yaml service.yaml"
    );
    let k = kustomization(&base(""));
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    let resources = strings(&k["resources"]);
    let want = ["deployment.yaml", "service.yaml", "networkpolicy.yaml"];
    assert_eq!(resources, want);
    let mut kinds = Vec::new();
    for r in resources {
        for v in docs(&base(r)) {
            match v["kind"].as_str().unwrap() {
                "Deployment" => drop(typed::<Deployment>(&v, r)),
                "Service" => drop(typed::<Service>(&v, r)),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(&v, r)),
                other => panic!("{r}: unexpected kind {other}"),
            }
            kinds.push(v["kind"].as_str().unwrap().to_owned());
        }
    }
    kinds.sort();
    let want = ["Deployment", "NetworkPolicy", "NetworkPolicy", "Service"];
    assert_eq!(kinds, want);
}

#[test]
fn the_config_passes_the_real_validation_with_its_paths_in_place() {
    let mut cfg = cfg();
    // Paths in the pod: policies, keys_file, password_file.
    let abs = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.is_absolute());
    assert!(abs(&cfg.policies) && abs(&cfg.decision_api.keys_file));
    assert!(abs(&cfg.state.password_file));
    assert!(cfg.state.url.starts_with("redis://"), "quotas shared");
    assert_eq!(cfg.audit.sink, toolgate::config::AuditSinkKind::Stdout);
    // The pod's mounts do not exist here: the bundle copy, the example Secret's keys file
    // and a password file of our own stand in for them.
    let dir = tempfile::tempdir().unwrap();
    let (keys, password) = (dir.path().join("api-keys"), dir.path().join("password"));
    std::fs::write(&keys, example_keys_file()).unwrap();
    std::fs::write(&password, "placeholder\n").unwrap();
    cfg.policies = Some(base("policies"));
    cfg.decision_api.keys_file = Some(keys);
    cfg.state.password_file = Some(password);
    let valid = cfg.validate();
    valid.unwrap_or_else(|e| panic!("deploy/kubernetes-api/api.yaml:\n{e}"));
}

#[test]
fn ports_probes_service_and_hardening_match_the_config() {
    let (cfg, d) = (cfg(), deployment());
    let c = container(&d);
    let api = cfg.decision_api.listen.expect("decision_api.listen");
    let admin = cfg.admin_listen;
    // Reachable from outside the pod: the Service, the kubelet, Prometheus.
    assert!(api.ip().is_unspecified() && admin.ip().is_unspecified());
    assert_eq!(list(&c["ports"]).len(), 2, "api and admin only");
    assert_eq!(port_of(c, &"api".into()), api.port());
    assert_eq!(port_of(c, &"admin".into()), admin.port());
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(port_of(c, &get["port"]), admin.port(), "{probe}");
    }
    let service = object(&base("service.yaml"), "Service", API);
    assert_eq!(service["spec"]["type"], "ClusterIP");
    let ports = list(&service["spec"]["ports"]);
    assert_eq!(ports.len(), 1, "the admin port is not behind the Service");
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["port"], api.port());
    assert_eq!(port_of(c, &ports[0]["targetPort"]), api.port());
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], labels));
    assert!(selects(&d["spec"]["selector"]["matchLabels"], labels));
    let notes = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], admin.port().to_string());
    assert_eq!(notes["prometheus.io/path"], "/metrics");
    // Hardened like the sidecar base, and given time to drain.
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_ne!(sc["runAsUser"], 0);
    assert_eq!(sc["fsGroup"], sc["runAsGroup"], "reads the 0440 Secrets");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["automountServiceAccountToken"], false);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace > cfg.shutdown_grace.get().as_secs());
    let csc = &c["securityContext"];
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"]);
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][kind][r].is_string(), "{kind}.{r}");
        }
    }
}

#[test]
fn mounts_are_where_the_config_looks_and_name_what_exists() {
    let (cfg, d) = (cfg(), deployment());
    let c = container(&d);
    // The image's ENTRYPOINT is `toolgate serve`: the command replaces it with the binary
    // the Dockerfile installs.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let binary = strings(&c["command"]).join(" ");
    let copy = format!("COPY --from=build /src/target/release/toolgate {binary}");
    assert!(dockerfile.contains(&copy), "{copy}");
    let args = strings(&c["args"]);
    assert_eq!(args[0], "api");
    let config = Path::new(args[args.iter().position(|a| *a == "--config").unwrap() + 1]);
    let volumes = &d["spec"]["template"]["spec"]["volumes"];
    assert_eq!(list(&c["volumeMounts"]).len(), list(volumes).len());
    let secrets = [KEYS_SECRET, REDIS_SECRET];
    let pod = Mounts {
        dir: &base(""),
        volumes,
        container: c,
        secrets: &secrets,
    };
    let mount = |volume: &str| pod.mount(volume);
    let file_in = |volume: &str, file: &Path| pod.file_in(volume, file);
    let (config_dir, v) = mount("toolgate-api-config");
    let g = generator(&base(""), v["configMap"]["name"].as_str().unwrap());
    assert_eq!(strings(&g["files"]), ["api.yaml"]);
    assert_eq!(config, config_dir.join("api.yaml"));
    assert_eq!(cfg.policies.unwrap(), mount("toolgate-api-policies").0);
    file_in("toolgate-api-keys", &cfg.decision_api.keys_file.unwrap());
    file_in("toolgate-redis", &cfg.state.password_file.unwrap());
    // The Redis Secret is the sidecar base's: the same name and key.
    let redis = docs(&root().join("deploy/kubernetes/redis-secret.example.yaml"));
    assert_eq!(redis[0]["metadata"]["name"], REDIS_SECRET.0);
    assert!(redis[0]["stringData"][REDIS_SECRET.1].is_string());
}

#[test]
fn the_bundle_configmap_is_policies_tools_byte_for_byte_and_validates() {
    let g = generator(&base(""), "toolgate-api-policies");
    assert_eq!(g["options"]["disableNameSuffixHash"], true, "in place");
    let files = strings(&g["files"]);
    for f in &files {
        let name = Path::new(f).file_name().unwrap().to_str().unwrap();
        assert_eq!(
            std::fs::read(base(f)).unwrap(),
            std::fs::read(root().join("policies/tools").join(name)).unwrap_or_default(),
            "deploy/kubernetes-api/{f} differs from policies/tools/{name}: \
             cp policies/tools/*.yaml deploy/kubernetes-api/policies/"
        );
    }
    let bundle = std::fs::read_dir(root().join("policies/tools")).unwrap();
    assert_eq!(files.len(), bundle.count(), "the bundle's files");
    let out = run::run(&["validate", "--policies", "deploy/kubernetes-api/policies"]);
    let (stdout, stderr) = (run::text(&out.stdout), run::text(&out.stderr));
    assert!(out.status.success(), "validate: {stdout}\n{stderr}");
}

#[test]
fn network_policies_open_the_api_and_admin_ports_and_reach_the_sidecar_bases_redis() {
    let (cfg, d) = (cfg(), deployment());
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let path = base("networkpolicy.yaml");
    let own = object(&path, "NetworkPolicy", API);
    assert!(selects(&own["spec"]["podSelector"]["matchLabels"], labels));
    assert_eq!(strings(&own["spec"]["policyTypes"]), ["Ingress"]);
    let rules = list(&own["spec"]["ingress"]);
    assert_eq!(rules.len(), 2);
    let tcp = |port: u16| json!([{"protocol": "TCP", "port": port}]);
    let rule = |port: u16| rules.iter().find(|r| r["ports"] == tcp(port)).unwrap();
    // The API from any pod of the namespace; the admin port from monitoring only.
    let api = rule(cfg.decision_api.listen.unwrap().port());
    assert_eq!(api["from"], json!([{"podSelector": {}}]));
    let admin = rule(cfg.admin_listen.port());
    let ns = json!({"kubernetes.io/metadata.name": "monitoring"});
    let monitoring = json!([{"namespaceSelector": {"matchLabels": ns}}]);
    assert_eq!(admin["from"], monitoring);
    // state.url names the sidecar base's Redis Service; the second policy admits the API's
    // pods to its pods (policies add up: redis.yaml's admits the sidecars only).
    let redis_file = root().join("deploy/kubernetes/redis.yaml");
    let rest = cfg.state.url.strip_prefix("redis://").unwrap();
    let (host, port) = rest.split('/').next().unwrap().split_once(':').unwrap();
    let service = object(&redis_file, "Service", host);
    assert_eq!(service["spec"]["ports"][0]["port"].to_string(), port);
    let redis = object(&redis_file, "Deployment", host);
    let redis_labels = &redis["spec"]["template"]["metadata"]["labels"];
    let to_redis = object(&path, "NetworkPolicy", "toolgate-redis-from-api");
    let spec = &to_redis["spec"];
    assert!(selects(&spec["podSelector"]["matchLabels"], redis_labels));
    let rules = list(&spec["ingress"]);
    assert_eq!(rules.len(), 1);
    assert_eq!(list(&rules[0]["from"]).len(), 1);
    let peer = &rules[0]["from"][0]["podSelector"]["matchLabels"];
    assert!(selects(peer, labels));
    assert_eq!(rules[0]["ports"], tcp(6379));
}

#[test]
fn the_example_keys_secret_is_not_applied_and_holds_only_a_comment() {
    const FILE: &str = "api-keys-secret.example.yaml";
    assert!(!strings(&kustomization(&base(""))["resources"]).contains(&FILE));
    let secret = docs(&base(FILE)).remove(0);
    let _: k8s_openapi::api::core::v1::Secret = typed(&secret, FILE);
    let (name, key) = KEYS_SECRET;
    assert_eq!(secret["metadata"]["name"], name);
    assert!(secret.get("data").is_none(), "no base64 value");
    assert_eq!(secret["stringData"].as_object().unwrap().len(), 1);
    let text = example_keys_file();
    let comments = text.lines().all(|l| l.trim().starts_with('#'));
    assert!(!text.is_empty() && comments, "{text}");
    let keys = toolgate::api::keys::KeySet::parse(&text).unwrap();
    assert!(keys.is_empty(), "no key, no hash ships");
    let comment = std::fs::read_to_string(base(FILE)).unwrap();
    let create = format!("kubectl create secret generic {name} --from-file={key}=./api-keys");
    assert!(comment.contains(&create), "{FILE} documents `{create}`");
}

/// The probes' and scrapers' endpoints and the API itself, asked of a real `toolgate api`
/// with the pod's config, its state in memory (the pod's Redis does not exist here).
#[test]
fn a_real_toolgate_api_with_the_pod_config_answers_probes_and_checks() {
    let mut pod_config = docs(&base("api.yaml")).remove(0);
    pod_config.as_object_mut().unwrap().remove("state");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, example_keys_file()).unwrap();
    pod_config["decision_api"]["keys_file"] = keys.to_str().unwrap().into();
    let config = dir.path().join("api.yaml");
    // JSON is YAML: the loader reads it as the pod's file minus `state`.
    std::fs::write(&config, pod_config.to_string()).unwrap();
    let free = || std::net::TcpListener::bind("127.0.0.1:0")?.local_addr();
    let (api, admin) = (free().unwrap(), free().unwrap());
    let config = config.display();
    let line = format!(
        "api --config {config} --policies deploy/kubernetes-api/policies \
         --listen {api} --admin-listen {admin}"
    );
    let _gate = run::Running::start(&line.split(' ').collect::<Vec<_>>());
    let deadline = std::time::Instant::now() + run::PATIENCE;
    for addr in [admin, api] {
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "nothing on {addr}");
            std::thread::sleep(std::time::Duration::from_millis(20)); // poll interval
        }
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = run::http(admin, "GET", path, &[], "");
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }
    // The example keys file holds no key: every call is refused.
    let r = run::http(api, "POST", "/check", &[], r#"{"goal":"x"}"#);
    assert_eq!(r.status, 401, "{r:?}");
}
