//! `deploy/kubernetes-review`: the kustomize base of `toolgate review` behind oauth2-proxy
//! in one pod. Every file parses, every resource is the typed Kubernetes object it claims,
//! and every cross-reference holds against what the binary reads and serves. Above all the
//! inbox's header-trusting listener never leaves the pod: it binds loopback, oauth2-proxy
//! is its only upstream client, and no port, Service, probe or NetworkPolicy names it. The
//! config goes through the real validation and a real `toolgate review` starts with it.
//! No kubectl needed.

use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use toolgate::config::Config;

mod manifests;
use manifests::*;

#[path = "support/demo.rs"]
mod run;

const REVIEW: &str = "toolgate-review";
const PROXY: &str = "oauth2-proxy";
const TOOLGATE: &str = "toolgate";
/// The Secrets this base mounts or reads but never ships (the user creates them, as the
/// example files document), with the keys read from each.
const KEY_SECRET: (&str, &str) = ("toolgate-approval-key", "key.pem");
const REDIS_SECRET: (&str, &str) = ("toolgate-redis", "password");
const OAUTH_SECRET: &str = "toolgate-review-oauth2-proxy";
/// The one request oauth2-proxy lets through without sign-in: the probe.
const SKIP_AUTH: &str = "GET=^/healthz$";
/// The example bundle's approval key, private half (public, FOR THE EXAMPLE ONLY).
const EXAMPLE_KEY: &str = "policies/tools-signed/example-private-keys/approvals.ed25519.key.pem";

fn base(name: &str) -> PathBuf {
    root().join("deploy/kubernetes-review").join(name)
}

fn parse(path: &Path) -> Config {
    let text = std::fs::read_to_string(path).unwrap();
    Config::parse(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The pod's config as shipped (absolute paths into the pod's mounts).
fn cfg() -> Config {
    parse(&base("review.yaml"))
}

/// The sidecar base's config: the sidecars whose reviews this inbox serves.
fn sidecar_cfg() -> Config {
    parse(&root().join("deploy/kubernetes/toolgate.yaml"))
}

fn deployment() -> Value {
    object(&base("deployment.yaml"), "Deployment", REVIEW)
}

fn containers(d: &Value) -> &Vec<Value> {
    list(&d["spec"]["template"]["spec"]["containers"])
}

fn container<'a>(d: &'a Value, name: &str) -> &'a Value {
    named(&d["spec"]["template"]["spec"]["containers"], name)
}

/// The value of oauth2-proxy's `--flag=value` arguments named `flag`, every occurrence.
fn flag<'a>(proxy: &'a Value, name: &str) -> Vec<&'a str> {
    let prefix = format!("--{name}=");
    strings(&proxy["args"])
        .into_iter()
        .filter_map(|a| a.strip_prefix(prefix.as_str()))
        .collect()
}

/// The one value of oauth2-proxy's `--flag`.
fn one_flag<'a>(proxy: &'a Value, name: &str) -> &'a str {
    let all = flag(proxy, name);
    assert_eq!(all.len(), 1, "--{name}: {all:?}");
    all[0]
}

/// Every port any container of the pod declares.
fn declared_ports(d: &Value) -> Vec<u16> {
    let all = containers(d).iter().filter_map(|c| c.get("ports"));
    let ports = all.flat_map(|p| list(p).iter());
    ports
        .map(|p| p["containerPort"].as_u64().unwrap() as u16)
        .collect()
}

#[test]
fn every_file_is_applied_generated_or_an_example_and_is_a_typed_object() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::Secret, core::v1::Service};
    let mut seen = Vec::new();
    for dir in [base(""), base("policies")] {
        for path in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
            let name = path.strip_prefix(base("")).unwrap().display().to_string();
            seen.push(name);
        }
    }
    seen.sort();
    assert_eq!(
        seen.join(" "),
        "approval-key-secret.example.yaml deployment.yaml kustomization.yaml \
         networkpolicy.yaml oauth2-proxy-secret.example.yaml policies \
         policies/approvals.ed25519.pub.pem policies/bundle.yaml policies/idp.jwks.json \
         policies/routes.yaml policies/rules.yaml policies/tests.yaml review.yaml service.yaml"
    );
    let k = kustomization(&base(""));
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k["kind"], "Kustomization");
    let resources = strings(&k["resources"]);
    assert_eq!(
        resources,
        ["deployment.yaml", "service.yaml", "networkpolicy.yaml"]
    );
    // Every other file is a generated ConfigMap's, or an example never applied.
    let mut generated: Vec<&str> = list(&k["configMapGenerator"])
        .iter()
        .flat_map(|g| strings(&g["files"]))
        .collect();
    generated.sort();
    let examples = [
        "approval-key-secret.example.yaml",
        "oauth2-proxy-secret.example.yaml",
    ];
    for name in seen.iter().filter(|n| n.as_str() != "policies") {
        let applied = resources.contains(&name.as_str()) || name == "kustomization.yaml";
        let listed = applied || generated.contains(&name.as_str());
        assert!(
            listed || examples.contains(&name.as_str()),
            "{name}: unused"
        );
        assert!(!(listed && name.contains(".example.")), "{name}: applied");
    }
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
    for e in examples {
        let all = docs(&base(e));
        assert_eq!(all.len(), 1, "{e}");
        let _: Secret = typed(&all[0], e);
    }
    let names: Vec<&str> = list(&k["configMapGenerator"])
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["toolgate-review-config", "toolgate-review-policies"]
    );
}

#[test]
fn the_config_passes_the_real_validation_and_every_inbox_check_but_the_mounted_key() {
    let mut cfg = cfg();
    // Paths in the pod: policies, signing_key, password_file.
    let abs = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.is_absolute());
    assert!(abs(&cfg.policies) && abs(&cfg.review.signing_key));
    assert!(abs(&cfg.state.password_file));
    assert_eq!(cfg.audit.sink, toolgate::config::AuditSinkKind::Stdout);
    // The sidecars' store exactly (same Redis, same key prefix): the inbox sees the reviews
    // they open; and the URL their 409s link to is the inbox's.
    let sidecar = sidecar_cfg();
    assert!(cfg.state.url.starts_with("redis://"), "shared state");
    assert_eq!(cfg.state, sidecar.state, "the sidecar base's state");
    let url = cfg.review.url.clone().expect("review.url");
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(sidecar.review.url.as_deref(), Some(url.as_str()));
    // Reviewers from oauth2-proxy's headers, never a client certificate here.
    assert!(cfg.review.client_ca.is_none() && cfg.tls.is_none());
    assert_eq!(cfg.review.reviewer_header, "x-forwarded-email");
    assert_eq!(cfg.review.roles_header, "x-forwarded-groups");
    // What `toolgate review` checks before it binds: only the key, which exists in the pod
    // alone, fails here.
    let taken = [cfg.listen, cfg.admin_listen];
    let problems = cfg.review.inbox_problems(&taken);
    let key = cfg.review.signing_key.clone().unwrap();
    let unreadable = format!("{} is not a readable file", key.display());
    assert_eq!(problems, [("review.signing_key", unreadable)]);
    // The pod's mounts do not exist here: the bundle copy, the example key and a password
    // file of our own stand in for them.
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "placeholder\n").unwrap();
    cfg.policies = Some(base("policies"));
    cfg.review.signing_key = Some(root().join(EXAMPLE_KEY));
    cfg.state.password_file = Some(password);
    assert!(cfg.review.inbox_problems(&taken).is_empty());
    let valid = cfg.validate();
    valid.unwrap_or_else(|e| panic!("deploy/kubernetes-review/review.yaml:\n{e}"));
}

/// The invariant of this base: the inbox believes the reviewer header, so its listener is
/// loopback, oauth2-proxy is its one client, and nothing routes to its port from outside.
#[test]
fn the_header_trusting_listener_never_leaves_the_pod() {
    let (cfg, d) = (cfg(), deployment());
    let inbox = cfg.review.listen;
    assert_eq!(inbox.ip(), Ipv4Addr::LOCALHOST, "review.listen: {inbox}");
    let names: Vec<&str> = containers(&d)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [PROXY, TOOLGATE]);
    let (proxy, gate) = (container(&d, PROXY), container(&d, TOOLGATE));
    // oauth2-proxy: listens on the pod's port, forwards to the inbox's loopback address
    // exactly, with the user headers (stripped from clients' requests) and the Host.
    let upstream = format!("http://127.0.0.1:{}/", inbox.port());
    assert_eq!(flag(proxy, "upstream"), [upstream.as_str()]);
    let http: SocketAddr = one_flag(proxy, "http-address").parse().unwrap();
    assert!(
        http.ip().is_unspecified(),
        "the kubelet and the Service reach it"
    );
    assert_ne!(http.port(), inbox.port());
    assert_eq!(port_of(proxy, &"http".into()), http.port());
    assert_eq!(one_flag(proxy, "pass-user-headers"), "true");
    assert_eq!(
        one_flag(proxy, "pass-host-header"),
        "true",
        "CSRF origin check"
    );
    assert_eq!(
        one_flag(proxy, "redirect-url"),
        format!("{}/oauth2/callback", cfg.review.url.unwrap())
    );
    // Nothing else gets through without sign-in: one exact GET, the probe's.
    assert_eq!(flag(proxy, "skip-auth-route"), [SKIP_AUTH]);
    for bypass in [
        "skip-auth-regex",
        "skip-auth-preflight",
        "skip-jwt-bearer-tokens",
        "skip-auth-strip-headers",
        "upstream-timeout",
        "htpasswd-file",
    ] {
        assert!(flag(proxy, bypass).is_empty(), "--{bypass}");
    }
    // The flags come from args only: no oauth2-proxy setting hides in the environment but
    // the three secrets (checked in the mounts test).
    let env = list(&proxy["env"]);
    assert!(env.iter().all(|e| e.get("value").is_none()), "{env:?}");
    // The inbox declares no port; no container declares the inbox's; nothing binds the
    // node's network.
    assert!(gate.get("ports").is_none(), "the inbox declares no port");
    assert_eq!(declared_ports(&d), [http.port()]);
    let pod = &d["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
    let host_ports = containers(&d)
        .iter()
        .filter_map(|c| c.get("ports"))
        .flat_map(|p| list(p).iter())
        .filter(|p| p.get("hostPort").is_some());
    assert_eq!(host_ports.count(), 0);
    // The Service targets oauth2-proxy, never the inbox.
    let service = object(&base("service.yaml"), "Service", REVIEW);
    assert_eq!(service["spec"]["type"], "ClusterIP");
    let ports = list(&service["spec"]["ports"]);
    assert_eq!(ports.len(), 1, "one port: oauth2-proxy's");
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["port"], 80);
    assert_eq!(port_of(proxy, &ports[0]["targetPort"]), http.port());
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], labels));
    assert!(selects(&d["spec"]["selector"]["matchLabels"], labels));
    // The NetworkPolicy admits oauth2-proxy's port alone.
    let own = object(&base("networkpolicy.yaml"), "NetworkPolicy", REVIEW);
    let rules = list(&own["spec"]["ingress"]);
    assert_eq!(rules.len(), 1);
    let tcp = json!([{"protocol": "TCP", "port": http.port()}]);
    assert_eq!(rules[0]["ports"], tcp);
    // No port field of any applied object names the inbox's port.
    for r in strings(&kustomization(&base(""))["resources"]) {
        for v in docs(&base(r)) {
            let mut ports = Vec::new();
            port_fields(&v, &mut ports);
            assert!(!ports.contains(&json!(inbox.port())), "{r} names {inbox}");
            assert!(!ports.is_empty(), "{r}: no port found at all");
        }
    }
}

/// Every value of a port field (`port`, `targetPort`, `containerPort`, `hostPort`,
/// `endPort`, and a probe's `port`) anywhere in `v`.
fn port_fields(v: &Value, out: &mut Vec<Value>) {
    const FIELDS: [&str; 5] = ["port", "targetPort", "containerPort", "hostPort", "endPort"];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if FIELDS.contains(&k.as_str()) && !x.is_object() {
                    out.push(x.clone());
                }
                port_fields(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| port_fields(x, out)),
        _ => {}
    }
}

#[test]
fn probes_reach_oauth2_proxy_and_the_inbox_through_its_one_unauthenticated_path() {
    let d = deployment();
    let (proxy, gate) = (container(&d, PROXY), container(&d, TOOLGATE));
    let http: SocketAddr = one_flag(proxy, "http-address").parse().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &proxy[probe]["httpGet"];
        assert_eq!(get["path"], "/ping", "{PROXY} {probe}");
        assert_eq!(port_of(proxy, &get["port"]), http.port(), "{PROXY} {probe}");
    }
    // The kubelet cannot reach the inbox's loopback listener: its readiness goes through
    // oauth2-proxy, at the one GET it lets through, which the inbox serves without identity.
    let get = &gate["readinessProbe"]["httpGet"];
    assert_eq!(
        get["port"],
        http.port(),
        "a number: the port is oauth2-proxy's"
    );
    let path = get["path"].as_str().unwrap();
    assert_eq!(path, "/healthz");
    assert_eq!(
        SKIP_AUTH,
        format!("GET=^{path}$"),
        "exactly the probe's path"
    );
    assert!(get.get("httpHeaders").is_none(), "no header: no identity");
    // No liveness through the proxy: it would restart the inbox for oauth2-proxy's faults.
    assert!(gate.get("livenessProbe").is_none());
    assert!(gate.get("startupProbe").is_none() && proxy.get("startupProbe").is_none());
}

#[test]
fn the_pod_runs_no_container_as_root_read_only_with_resources() {
    let (cfg, d) = (cfg(), deployment());
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &d["spec"]["template"]["spec"];
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_ne!(sc["runAsUser"], 0);
    assert!(sc["runAsUser"].is_u64());
    assert_eq!(sc["fsGroup"], sc["runAsGroup"], "reads the 0440 Secrets");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(pod.get("initContainers").is_none());
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace > cfg.shutdown_grace.get().as_secs());
    for c in containers(&d) {
        let name = &c["name"];
        let csc = &c["securityContext"];
        assert_eq!(csc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(csc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"], "{name}");
        assert!(csc["capabilities"].get("add").is_none(), "{name}");
        // The pod's non-root user holds: no container overrides it.
        for k in ["runAsUser", "runAsNonRoot", "privileged", "runAsGroup"] {
            assert!(csc.get(k).is_none(), "{name}: securityContext.{k}");
        }
        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(c["resources"][kind][r].is_string(), "{name}: {kind}.{r}");
            }
        }
    }
    let proxy = container(&d, PROXY);
    assert_eq!(proxy["image"], "quay.io/oauth2-proxy/oauth2-proxy:v7.7.1");
    // The same toolgate image as the sidecar base.
    let sidecars = docs(&root().join("deploy/kubernetes/deployment.yaml")).remove(0);
    let image = &container(&sidecars, TOOLGATE)["image"];
    assert_eq!(&container(&d, TOOLGATE)["image"], image);
}

#[test]
fn mounts_are_where_the_config_looks_and_the_key_is_the_inbox_containers_alone() {
    let (cfg, d) = (cfg(), deployment());
    let (proxy, gate) = (container(&d, PROXY), container(&d, TOOLGATE));
    // The image's ENTRYPOINT is `toolgate serve`: the command replaces it with the binary
    // the Dockerfile installs.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let binary = strings(&gate["command"]).join(" ");
    let copy = format!("COPY --from=build /src/target/release/toolgate {binary}");
    assert!(dockerfile.contains(&copy), "{copy}");
    let args = strings(&gate["args"]);
    assert_eq!(args[0], "review");
    assert!(
        !args.contains(&"--listen"),
        "review.listen stays the config's"
    );
    let config = Path::new(args[args.iter().position(|a| *a == "--config").unwrap() + 1]);
    assert!(gate.get("env").is_none() && gate.get("envFrom").is_none());
    let volumes = &d["spec"]["template"]["spec"]["volumes"];
    assert_eq!(list(&gate["volumeMounts"]).len(), list(volumes).len());
    // oauth2-proxy mounts nothing: neither the key nor the Redis password is in reach.
    assert!(proxy.get("volumeMounts").is_none() && proxy.get("envFrom").is_none());
    let secrets = [KEY_SECRET, REDIS_SECRET];
    let pod = Mounts {
        dir: &base(""),
        volumes,
        container: gate,
        secrets: &secrets,
    };
    let mount = |volume: &str| pod.mount(volume);
    let file_in = |volume: &str, file: &Path| pod.file_in(volume, file);
    let (config_dir, v) = mount("toolgate-review-config");
    let g = generator(&base(""), v["configMap"]["name"].as_str().unwrap());
    assert_eq!(strings(&g["files"]), ["review.yaml"]);
    assert_eq!(config, config_dir.join("review.yaml"));
    assert_eq!(cfg.policies.unwrap(), mount("toolgate-review-policies").0);
    let key = cfg.review.signing_key.unwrap();
    file_in("toolgate-approval-key", &key);
    file_in("toolgate-redis", &cfg.state.password_file.unwrap());
    // The approval key's Secret: one volume, mounted by the inbox container alone.
    let key_volumes: Vec<&Value> = list(volumes)
        .iter()
        .filter(|v| v["secret"]["secretName"] == KEY_SECRET.0)
        .collect();
    assert_eq!(key_volumes.len(), 1);
    let key_volume = key_volumes[0]["name"].as_str().unwrap();
    for c in containers(&d) {
        let mounts = c.get("volumeMounts").map(list).cloned().unwrap_or_default();
        let has = mounts.iter().any(|m| m["name"] == key_volume);
        assert_eq!(has, c["name"] == TOOLGATE, "{}", c["name"]);
        // Nor is any Secret read into an environment but oauth2-proxy's own.
        for e in c.get("env").map(list).cloned().unwrap_or_default() {
            let from = &e["valueFrom"]["secretKeyRef"]["name"];
            assert_eq!(from, OAUTH_SECRET, "{}: {}", c["name"], e["name"]);
        }
    }
    // oauth2-proxy's secrets: its environment variables, from the documented Secret.
    let example = docs(&base("oauth2-proxy-secret.example.yaml")).remove(0);
    let mut vars = Vec::new();
    for e in list(&proxy["env"]) {
        let key = e["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
        assert!(example["stringData"][key].is_string(), "{key}");
        vars.push(e["name"].as_str().unwrap());
    }
    let want = [
        "OAUTH2_PROXY_CLIENT_ID",
        "OAUTH2_PROXY_CLIENT_SECRET",
        "OAUTH2_PROXY_COOKIE_SECRET",
    ];
    assert_eq!(vars, want);
    // The Redis Secret is the sidecar base's: the same name and key.
    let redis = docs(&root().join("deploy/kubernetes/redis-secret.example.yaml"));
    assert_eq!(redis[0]["metadata"]["name"], REDIS_SECRET.0);
    assert!(redis[0]["stringData"][REDIS_SECRET.1].is_string());
}

#[test]
fn the_bundle_configmap_is_policies_tools_signed_without_private_keys_and_validates() {
    let g = generator(&base(""), "toolgate-review-policies");
    let files = strings(&g["files"]);
    let mut names = Vec::new();
    for f in &files {
        let name = Path::new(f).file_name().unwrap().to_str().unwrap();
        assert_eq!(
            std::fs::read(base(f)).unwrap(),
            std::fs::read(root().join("policies/tools-signed").join(name)).unwrap_or_default(),
            "deploy/kubernetes-review/{f} differs from policies/tools-signed/{name}: \
             cp policies/tools-signed/*.* deploy/kubernetes-review/policies/"
        );
        names.push(name.to_owned());
    }
    names.sort();
    // The bundle's files, every one; never its example-private-keys/ directory.
    assert_eq!(names, files_in(&root().join("policies/tools-signed")));
    assert_eq!(names, files_in(&base("policies")));
    for f in &names {
        let text = std::fs::read_to_string(base("policies").join(f)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{f}");
    }
    let out = run::run(&[
        "validate",
        "--policies",
        "deploy/kubernetes-review/policies",
    ]);
    let (stdout, stderr) = (run::text(&out.stdout), run::text(&out.stderr));
    assert!(out.status.success(), "validate: {stdout}\n{stderr}");
}

#[test]
fn network_policies_admit_the_ingress_and_reach_only_redis_dns_and_https() {
    let (cfg, d) = (cfg(), deployment());
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let path = base("networkpolicy.yaml");
    let own = object(&path, "NetworkPolicy", REVIEW);
    let spec = &own["spec"];
    assert!(selects(&spec["podSelector"]["matchLabels"], labels));
    assert_eq!(strings(&spec["policyTypes"]), ["Ingress", "Egress"]);
    // In: from the ingress controller's namespace only (a namespaceSelector, no pods).
    let rule = &list(&spec["ingress"])[0];
    let from = list(&rule["from"]);
    assert_eq!(from.len(), 1);
    assert!(from[0]["namespaceSelector"]["matchLabels"].is_object());
    assert!(from[0].get("podSelector").is_none() && from[0].get("ipBlock").is_none());
    // Out: state.url's Redis pods, the cluster DNS, HTTPS.
    let redis_file = root().join("deploy/kubernetes/redis.yaml");
    let rest = cfg.state.url.strip_prefix("redis://").unwrap();
    let (host, port) = rest.split('/').next().unwrap().split_once(':').unwrap();
    let service = object(&redis_file, "Service", host);
    assert_eq!(service["spec"]["ports"][0]["port"].to_string(), port);
    let redis = object(&redis_file, "Deployment", host);
    let redis_labels = &redis["spec"]["template"]["metadata"]["labels"];
    let egress = list(&spec["egress"]);
    assert_eq!(egress.len(), 3);
    let tcp = |port: u16| json!({"protocol": "TCP", "port": port});
    assert_eq!(egress[0]["ports"], json!([tcp(6379)]));
    let to = list(&egress[0]["to"]);
    assert_eq!(to.len(), 1);
    assert!(selects(&to[0]["podSelector"]["matchLabels"], redis_labels));
    let dns = json!([{"protocol": "UDP", "port": 53}, tcp(53)]);
    assert_eq!(egress[1]["ports"], dns);
    let kube_dns = json!({"k8s-app": "kube-dns"});
    assert_eq!(egress[1]["to"][0]["podSelector"]["matchLabels"], kube_dns);
    assert_eq!(egress[2], json!({"ports": [tcp(443)]}), "the OIDC provider");
    // The second policy admits the inbox's pods to Redis (policies add up: redis.yaml's
    // admits the sidecars only).
    let to_redis = object(&path, "NetworkPolicy", "toolgate-redis-from-review");
    let spec = &to_redis["spec"];
    assert!(selects(&spec["podSelector"]["matchLabels"], redis_labels));
    assert_eq!(strings(&spec["policyTypes"]), ["Ingress"]);
    let rules = list(&spec["ingress"]);
    assert_eq!(rules.len(), 1);
    assert_eq!(list(&rules[0]["from"]).len(), 1);
    let peer = &rules[0]["from"][0]["podSelector"]["matchLabels"];
    assert!(selects(peer, labels));
    assert_eq!(rules[0]["ports"], json!([tcp(6379)]));
}

#[test]
fn the_example_secrets_are_not_applied_and_hold_placeholders_never_a_key() {
    let k = kustomization(&base(""));
    let resources = strings(&k["resources"]);
    let cases = [
        (
            "approval-key-secret.example.yaml",
            KEY_SECRET.0,
            vec![KEY_SECRET.1],
        ),
        (
            "oauth2-proxy-secret.example.yaml",
            OAUTH_SECRET,
            vec!["client-id", "client-secret", "cookie-secret"],
        ),
    ];
    for (file, name, keys) in cases {
        assert!(!resources.contains(&file), "{file}");
        let text = std::fs::read_to_string(base(file)).unwrap();
        assert!(!text.contains("BEGIN"), "{file}: a PEM block");
        assert!(!text.contains("PRIVATE KEY"), "{file}");
        let secret = docs(&base(file)).remove(0);
        assert_eq!(secret["metadata"]["name"], name, "{file}");
        assert!(secret.get("data").is_none(), "{file}: no base64 value");
        let data = secret["stringData"].as_object().unwrap();
        let mut have: Vec<&str> = data.keys().map(String::as_str).collect();
        have.sort();
        assert_eq!(have, keys, "{file}");
        for (k, v) in data {
            let v = v.as_str().unwrap();
            assert!(
                v.starts_with("REPLACE: "),
                "{file}: {k} is not a placeholder"
            );
        }
        let create = format!("kubectl create secret generic {name}");
        assert!(text.contains(&create), "{file} documents `{create}`");
    }
}

/// The pod's config with its state in memory (the pod's Redis does not exist here), the
/// bundle copy for the mounted one and `key` for the mounted signing key.
fn local_config(dir: &Path, key: &Path) -> PathBuf {
    let mut pod_config = docs(&base("review.yaml")).remove(0);
    pod_config.as_object_mut().unwrap().remove("state");
    pod_config["policies"] = base("policies").to_str().unwrap().into();
    pod_config["review"]["signing_key"] = key.to_str().unwrap().into();
    let config = dir.join("review.yaml");
    // JSON is YAML: the loader reads it as the pod's file with those paths.
    std::fs::write(&config, pod_config.to_string()).unwrap();
    config
}

/// What the probe and oauth2-proxy ask of a real `toolgate review` with the pod's config:
/// `/healthz` without identity; everything else only with the reviewer header oauth2-proxy
/// sets.
#[test]
fn a_real_toolgate_review_with_the_pod_config_answers_the_probe_and_needs_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let config = local_config(dir.path(), &root().join(EXAMPLE_KEY));
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = config.to_str().unwrap();
    let listen = addr.to_string();
    let args = ["review", "--config", config, "--listen", &listen];
    let _inbox = run::Running::start(&args);
    let deadline = std::time::Instant::now() + run::PATIENCE;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "nothing on {addr}");
        std::thread::sleep(std::time::Duration::from_millis(20)); // poll interval
    }
    let probe = run::http(addr, "GET", "/healthz", &[], "");
    assert_eq!(
        (probe.status, probe.body.as_str()),
        (200, "ok\n"),
        "{probe:?}"
    );
    let r = run::http(addr, "GET", "/api/reviews", &[], "");
    assert_eq!(r.status, 401, "no reviewer without the header: {r:?}");
    let cfg = cfg();
    let reviewer = vec![(cfg.review.reviewer_header, "lead@example.com".to_owned())];
    let r = run::http(addr, "GET", "/api/reviews", &reviewer, "");
    assert_eq!(r.status, 200, "{r:?}");
}

/// The Secret's key must be the private half of the bundle's approval key: `toolgate
/// review` refuses to start with any other (here the example identity key).
#[test]
fn toolgate_review_refuses_a_signing_key_the_bundle_does_not_accept() {
    let dir = tempfile::tempdir().unwrap();
    let other = root().join("policies/tools-signed/example-private-keys/idp.es256.key.pem");
    let config = local_config(dir.path(), &other);
    let config = config.to_str().unwrap();
    // Its own port, in case it started after all (then this test would wait, not clash).
    let out = run::run(&["review", "--config", config, "--listen", "127.0.0.1:0"]);
    let stderr = run::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("review.signing_key"), "{stderr}");
}
