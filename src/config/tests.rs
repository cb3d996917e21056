//! Config parsing, defaults, validation paths, relative paths and overrides.

use super::*;
use std::time::Duration;

fn minimal(extra: &str) -> String {
    format!("apiVersion: toolgate.dev/v1alpha1\nkind: Config\npolicies: .\n{extra}")
}

#[test]
fn defaults_fill_every_key_but_policies() {
    let cfg = Config::parse(&minimal("")).unwrap();
    let want = Config {
        policies: Some(".".into()),
        ..Config::default()
    };
    assert_eq!(cfg, want);
    assert_eq!(cfg.listen.to_string(), "0.0.0.0:8000");
    assert_eq!(cfg.admin_listen.to_string(), "127.0.0.1:9901");
    assert_eq!(cfg.upstream.url, "http://127.0.0.1:8080");
    assert_eq!(cfg.upstream.connect_timeout.get(), Duration::from_secs(2));
    assert_eq!(cfg.upstream.response_timeout.get(), Duration::from_secs(30));
    assert_eq!(
        cfg.limits.header_read_timeout.get(),
        Duration::from_secs(10)
    );
    assert_eq!(cfg.limits.max_header_bytes, 65_536);
    assert_eq!(cfg.limits.max_body_bytes, 1_048_576);
    assert_eq!(cfg.limits.body_read_timeout.get(), Duration::from_secs(30));
    assert_eq!(cfg.limits.max_connections, 10_000);
    assert_eq!(cfg.shutdown_grace.get(), Duration::from_secs(20));
    cfg.validate().unwrap();
}

#[test]
fn unknown_keys_and_bad_durations_are_refused_with_a_location() {
    let e = Config::parse(&minimal("limits:\n  max_bodyy_bytes: 3\n")).unwrap_err();
    assert!(e.contains("max_bodyy_bytes"), "{e}");
    assert!(e.contains('5'), "names the line: {e}");
    let e = Config::parse(&minimal("shutdown_grace: 20\n")).unwrap_err();
    assert!(e.contains("unit"), "{e}");
    // The one grammar of bundles and flags: compound durations are durations here too.
    let cfg = Config::parse(&minimal("shutdown_grace: 1m30s\n")).unwrap();
    assert_eq!(cfg.shutdown_grace.get(), Duration::from_secs(90));
}

#[test]
fn validate_reports_every_error_with_its_path() {
    let mut cfg = Config::parse(&minimal(
        "upstream:\n  url: ftp://x/y\n  connect_timeout: 0s\nlimits:\n  max_connections: 0\n  max_body_bytes: 0\n",
    ))
    .unwrap();
    cfg.kind = "Nope".into();
    cfg.policies = None;
    let text = cfg.validate().unwrap_err().to_string();
    let paths: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "kind",
            "upstream.url",
            "upstream.connect_timeout",
            "policies",
            "limits.max_body_bytes",
            "limits.max_connections"
        ],
        "{text}"
    );
    for (url, ok) in [
        ("http://127.0.0.1:8080", true),
        ("http://app:80/", true),
        ("http://app/prefix", false),
        ("http://u:p@app", false),
        ("https://app", false),
        ("app:80", false),
        ("http://app/?q", false),
    ] {
        assert_eq!(validate::check_upstream_url_for_test(url), ok, "{url}");
    }
}

#[test]
fn relative_paths_follow_the_file_and_overrides_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bundle")).unwrap();
    let file = dir.path().join("toolgate.yaml");
    std::fs::write(
        &file,
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\npolicies: bundle\nlisten: 127.0.0.1:1\n",
    )
    .unwrap();
    let cfg = Config::load(&file, Overrides::default()).unwrap();
    assert_eq!(
        cfg.policies.as_deref(),
        Some(dir.path().join("bundle").as_path())
    );
    let o = Overrides {
        listen: Some("127.0.0.1:2".parse().unwrap()),
        upstream: Some("http://127.0.0.1:9".into()),
        ..Overrides::default()
    };
    let cfg = Config::load(&file, o).unwrap();
    assert_eq!(cfg.listen.port(), 2);
    assert_eq!(cfg.upstream.url, "http://127.0.0.1:9");
}

#[test]
fn the_shipped_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/toolgate.yaml");
    let cfg = Config::load(&path, Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.policies.unwrap().ends_with("../policies/tools"));
}

#[test]
fn audit_candidate_and_reload_sections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("live")).unwrap();
    std::fs::create_dir(dir.path().join("next")).unwrap();
    let file = dir.path().join("toolgate.yaml");
    std::fs::write(
        &file,
        "apiVersion: toolgate.dev/v1alpha1\nkind: Config\npolicies: live\n\
         candidate_policies: next\naudit:\n  sink: file\n  path: audit.log\n  capacity: 10\n  recent: 20\n\
         reload:\n  debounce: 40ms\n",
    )
    .unwrap();
    let cfg = Config::load(&file, Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.audit.sink, AuditSinkKind::File);
    assert_eq!(cfg.audit.path, Some(dir.path().join("audit.log")));
    assert_eq!((cfg.audit.capacity, cfg.audit.recent), (10, 20));
    assert_eq!(cfg.candidate_policies, Some(dir.path().join("next")));
    assert_eq!(cfg.reload.debounce.get(), Duration::from_millis(40));

    let defaults = Config::default();
    assert_eq!(defaults.audit.sink, AuditSinkKind::Stdout);
    assert_eq!(
        (defaults.audit.capacity, defaults.audit.recent),
        (8192, 4096)
    );
    assert_eq!(defaults.reload.debounce.get(), Duration::from_millis(250));

    let e = Config::parse(&minimal("audit:\n  sink: syslog\n")).unwrap_err();
    assert!(e.contains("syslog"), "{e}");
}

#[test]
fn ops_sections_are_validated_with_their_paths() {
    let mut cfg = Config::parse(&minimal(
        "listen: 0.0.0.0:9000\nadmin_listen: 127.0.0.1:9000\ncandidate_policies: /nonexistent\n\
         audit:\n  sink: file\n  capacity: 0\nreload:\n  debounce: 0ms\n",
    ))
    .unwrap();
    let text = cfg.validate().unwrap_err().to_string();
    let paths: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "admin_listen",
            "candidate_policies",
            "audit.path",
            "audit.capacity",
            "reload.debounce"
        ],
        "{text}"
    );
    // The admin listener never shares the proxy's address, whichever side is the wildcard.
    cfg = Config::parse(&minimal(
        "listen: 127.0.0.1:9000\nadmin_listen: 0.0.0.0:9000\n",
    ))
    .unwrap();
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("admin_listen"));
    cfg = Config::parse(&minimal(
        "listen: 127.0.0.1:9000\nadmin_listen: 127.0.0.2:9000\n",
    ))
    .unwrap();
    cfg.validate().unwrap();
    cfg = Config::parse(&minimal("audit:\n  path: x.log\n")).unwrap();
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("audit.path"));
}

#[test]
fn state_urls_are_checked_and_passwords_never_come_from_them() {
    let table: &[(&str, Result<StateKind, &str>)] = &[
        ("memory", Ok(StateKind::Memory)),
        ("redis://127.0.0.1:6379/0", Ok(StateKind::Redis)),
        ("rediss://redis.internal:6380/2", Ok(StateKind::Redis)),
        ("redis://toolgate@redis:6379/0", Ok(StateKind::Redis)),
        ("redis+cluster://a:7000,b:7001", Ok(StateKind::RedisCluster)),
        ("rediss+cluster://a:7000", Ok(StateKind::RedisCluster)),
        (
            "redis://user:hunter2@redis:6379/0",
            Err("must not carry a password"),
        ),
        (
            "redis://:hunter2@redis:6379/0",
            Err("must not carry a password"),
        ),
        ("redis://a:1,b:2", Err("use redis+cluster://")),
        ("redis+cluster://a:1,,b:2", Err("names no host")),
        ("redis://", Err("names no host")),
        ("http://redis:6379", Err("unknown scheme")),
        ("Memory", Err("must be memory")),
    ];
    for (url, want) in table {
        let cfg = StateConfig {
            url: (*url).into(),
            ..StateConfig::default()
        };
        match (cfg.kind(), want) {
            (Ok(got), Ok(w)) => assert_eq!(got, *w, "{url}"),
            (Err(got), Err(w)) => assert!(got.contains(w), "{url}: {got}"),
            (got, w) => panic!("{url}: got {got:?}, want {w:?}"),
        }
    }
}

#[test]
fn state_problems_are_reported_with_their_paths() {
    let cfg = Config::parse(&minimal(
        "state:\n  url: redis://u:p@r:6379/0\n  timeout: 0s\n  key_prefix: \"a{b}\"\n  password_file: /nonexistent/pw\n  password_env: PW\n  run_ttl: 0s\n",
    ))
    .unwrap();
    let e = cfg.validate().unwrap_err().to_string();
    for path in [
        "state.url",
        "state.timeout",
        "state.key_prefix",
        "state.password_file",
        "state.password_env",
        "state.run_ttl",
    ] {
        assert!(e.contains(path), "{path} missing from:\n{e}");
    }
    let cfg = Config::parse(&minimal("state:\n  password_env: PW\n")).unwrap();
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("only used with a Redis url"), "{e}");
    assert_eq!(
        Config::default().state.timeout.get(),
        Duration::from_millis(50)
    );
}
