//! The Dockerfile, checked without a Docker engine (none runs on these machines): a
//! dependency-caching build stage, a minimal non-root runtime stage, the entrypoint, the
//! exposed ports against the config, and every copied path against the repository and
//! `.dockerignore`. The image's documented config path leads to a config whose bundle
//! path, resolved inside the image, is a bundle that validates.

use std::path::{Path, PathBuf};
use toolgate::config::Config;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instr {
    op: String,
    args: String,
}

fn instructions() -> Vec<Instr> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && pending.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(t);
                let (op, args) = pending.split_once(' ').unwrap();
                out.push(Instr {
                    op: op.to_uppercase(),
                    args: args.trim().to_owned(),
                });
                pending.clear();
            }
        }
    }
    out
}

/// Stages: (name, base image, instructions).
fn stages() -> Vec<(String, String, Vec<Instr>)> {
    let mut out: Vec<(String, String, Vec<Instr>)> = Vec::new();
    for i in instructions() {
        if i.op == "FROM" {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => out.len().to_string(),
            };
            out.push((name, words[0].to_owned(), Vec::new()));
        } else {
            out.last_mut()
                .expect("an instruction before FROM")
                .2
                .push(i);
        }
    }
    out
}

fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("exec form expected: {args}: {e}"))
}

#[test]
fn build_stage_caches_dependencies_before_copying_the_source() {
    let stages = stages();
    assert!(stages.len() >= 2, "multi-stage");
    let (_, image, build) = &stages[0];
    assert!(image.starts_with("rust:"), "{image}");
    let pos = |pred: &dyn Fn(&Instr) -> bool| build.iter().position(pred);
    let manifests = pos(&|i| i.op == "COPY" && i.args.contains("Cargo.lock")).unwrap();
    let deps = pos(&|i| i.op == "RUN" && i.args.contains("cargo build")).unwrap();
    let source = pos(&|i| i.op == "COPY" && i.args.starts_with("src")).unwrap();
    assert!(manifests < deps && deps < source, "{build:#?}");
    let last = build.iter().rev().find(|i| i.op == "RUN").unwrap();
    for flag in ["cargo build", "--release", "--locked", "--bin toolgate"] {
        assert!(last.args.contains(flag), "{flag}: {}", last.args);
    }
}

#[test]
fn runtime_stage_is_minimal_non_root_and_runs_serve() {
    let stages = stages();
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    let (_, image, run) = stages.last().unwrap();
    assert!(
        image.starts_with("gcr.io/distroless/") || image == "scratch",
        "{image}"
    );
    let user = run.iter().rev().find(|i| i.op == "USER").expect("USER");
    let uid: u32 = user
        .args
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric uid");
    assert_ne!(uid, 0, "non-root");
    // The Deployment runs the image as that same user.
    let deployment = std::fs::read_to_string(root().join("deploy/kubernetes/deployment.yaml"));
    assert!(deployment.unwrap().contains(&format!("runAsUser: {uid}")));

    let entry = run
        .iter()
        .find(|i| i.op == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert_eq!(json_array(&entry.args), ["toolgate", "serve"]);
    let binary = run
        .iter()
        .find(|i| i.op == "COPY" && i.args.starts_with("--from="))
        .unwrap();
    let words: Vec<&str> = binary.args.split_whitespace().collect();
    let from = words[0].trim_start_matches("--from=");
    assert!(names.contains(&from), "COPY --from={from}: no such stage");
    assert!(words[1].ends_with("/release/toolgate"), "{}", words[1]);
    assert_eq!(words[2], "/usr/local/bin/toolgate", "on the PATH");

    // Both listeners of the config the image runs are exposed.
    let cmd = json_array(&run.iter().find(|i| i.op == "CMD").unwrap().args);
    let config = image_path_to_repo(&cmd[cmd.iter().position(|a| a == "--config").unwrap() + 1]);
    let mut cfg = Config::from_file(&config).unwrap();
    if let Some(at) = cmd.iter().position(|a| a == "--admin-listen") {
        cfg.admin_listen = cmd[at + 1].parse().unwrap();
    }
    assert!(
        cfg.admin_listen.ip().is_unspecified(),
        "reachable in a container"
    );
    let exposed: Vec<u16> = run
        .iter()
        .filter(|i| i.op == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    assert!(exposed.contains(&cfg.listen.port()), "{exposed:?}");
    assert!(exposed.contains(&cfg.admin_listen.port()), "{exposed:?}");
}

/// Maps an absolute path in the image to the repository file the Dockerfile copies there.
fn image_path_to_repo(image_path: &str) -> PathBuf {
    let (_, _, run) = stages().pop().unwrap();
    for i in run
        .iter()
        .filter(|i| i.op == "COPY" && !i.args.starts_with("--"))
    {
        let words: Vec<&str> = i.args.split_whitespace().collect();
        let (src, dest) = (words[0], words[1]);
        if let Some(rest) = image_path.strip_prefix(dest) {
            return root().join(src).join(rest);
        }
    }
    panic!("nothing is copied to {image_path}");
}

#[test]
fn the_documented_config_path_leads_to_a_valid_bundle_in_the_image() {
    let (_, _, run) = stages().pop().unwrap();
    let workdir = &run.iter().find(|i| i.op == "WORKDIR").unwrap().args;
    let cmd = json_array(&run.iter().find(|i| i.op == "CMD").unwrap().args);
    let in_image = &cmd[cmd.iter().position(|a| a == "--config").unwrap() + 1];
    assert!(
        in_image.starts_with(workdir.as_str()),
        "{in_image} outside {workdir}"
    );
    let text = std::fs::read_to_string(image_path_to_repo(in_image)).unwrap();
    let mut cfg = Config::parse(&text).unwrap();
    // Resolve the bundle path as toolgate does, but against the config's place in the image.
    cfg.resolve_relative_to(Path::new(in_image).parent().unwrap());
    let policies = cfg.policies.clone().unwrap();
    let policies = policies.to_str().unwrap().replace("/config/../", "/");
    let bundle = image_path_to_repo(&policies);
    assert!(bundle.is_dir(), "{policies} is {bundle:?} in the repo");
    toolgate::bundle::load(&bundle, jiff::Timestamp::now()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_copied_path_exists_and_passes_dockerignore() {
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "an allowlist");
    let allowed: Vec<&str> = rules[1..]
        .iter()
        .map(|r| r.strip_prefix('!').expect("allowlist entries start with !"))
        .map(|r| r.trim_end_matches('/'))
        .collect();
    for (_, _, instrs) in stages() {
        for i in instrs
            .iter()
            .filter(|i| i.op == "COPY" && !i.args.starts_with("--"))
        {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            for src in &words[..words.len() - 1] {
                let src = src.trim_end_matches('/');
                assert!(root().join(src).exists(), "COPY {src}: not in the repo");
                let top = src.split('/').next().unwrap();
                assert!(
                    allowed.contains(&top),
                    "COPY {src}: excluded by .dockerignore"
                );
            }
        }
    }
    // The stub build writes these; they must be the manifest's own targets.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for target in ["src/main.rs", "src/lib.rs", "benches/engine.rs"] {
        assert!(root().join(target).is_file(), "{target}");
    }
    assert!(manifest.contains("name = \"engine\""), "the stubbed bench");
}
