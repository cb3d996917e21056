//! Reading the shipped Kubernetes bases as `kubectl apply` would: every document of a
//! file, objects by kind and name, list elements by name, the kustomization and its
//! generators, typed API objects with unknown fields refused. Shared by the tests of each
//! base under `deploy/`.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a file, as `kubectl apply` reads it.
pub fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The document of `path` of this kind and name.
pub fn object(path: &Path, kind: &str, name: &str) -> Value {
    let found = docs(path)
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name);
    found.unwrap_or_else(|| panic!("{path:?}: no {kind} {name}"))
}

pub fn list(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}"))
}

/// The element of a list whose `name` is `name`.
pub fn named<'a>(v: &'a Value, name: &str) -> &'a Value {
    let found = list(v).iter().find(|e| e["name"] == name);
    found.unwrap_or_else(|| panic!("no {name} in {v}"))
}

pub fn strings(v: &Value) -> Vec<&str> {
    list(v).iter().map(|s| s.as_str().unwrap()).collect()
}

/// The kustomization of the base in `dir`.
pub fn kustomization(dir: &Path) -> Value {
    docs(&dir.join("kustomization.yaml")).remove(0)
}

/// One of its `configMapGenerator`s.
pub fn generator(dir: &Path, name: &str) -> Value {
    named(&kustomization(dir)["configMapGenerator"], name).clone()
}

/// A container port by number or by name.
pub fn port_of(c: &Value, port: &Value) -> u16 {
    let n = match port {
        Value::Number(n) => n.as_u64(),
        Value::String(name) => named(&c["ports"], name)["containerPort"].as_u64(),
        other => panic!("port {other}"),
    };
    n.unwrap() as u16
}

/// Whether a label selector selects `labels`.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let m = selector.as_object().unwrap();
    !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v)
}

/// Deserializes into the typed API object `T`, refusing any field it does not know.
pub fn typed<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> T {
    let mut unknown = Vec::new();
    let t: T = serde_ignored::deserialize(value.clone(), |p| unknown.push(p.to_string()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(unknown.is_empty(), "{what}: unknown fields {unknown:?}");
    t
}

/// The files of `dir` (not its directories), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
    let mut names: Vec<String> = entries
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The pod of base `dir`, as its mount checks see it: its volumes, one container, and the
/// Secrets the base documents but never ships (name, the one key read).
pub struct Mounts<'a> {
    pub dir: &'a Path,
    pub volumes: &'a Value,
    pub container: &'a Value,
    pub secrets: &'a [(&'a str, &'a str)],
}

impl Mounts<'_> {
    /// The directory `volume` is mounted at in the container, after checking that its
    /// source exists (a generated ConfigMap, or a documented Secret, one key, mode 0440),
    /// and that it is mounted read-only and whole.
    pub fn mount(&self, volume: &str) -> (PathBuf, Value) {
        let v = named(self.volumes, volume);
        if let Some(name) = v["configMap"]["name"].as_str() {
            generator(self.dir, name);
        } else {
            let s = &v["secret"];
            let name = s["secretName"].as_str().unwrap();
            let known = self.secrets.iter().find(|(n, _)| *n == name);
            let (_, key) = known.expect("a Secret neither generated nor documented");
            assert_eq!(list(&s["items"]).len(), 1, "{name}");
            assert_eq!(s["items"][0]["key"], *key, "{name}");
            assert_eq!(s["defaultMode"], 0o440, "{name}: owner and fsGroup only");
        }
        let m = named(&self.container["volumeMounts"], volume);
        assert_eq!(m["readOnly"], true, "{volume}");
        assert!(m.get("subPath").is_none(), "{volume}: never updated");
        (PathBuf::from(m["mountPath"].as_str().unwrap()), v.clone())
    }

    /// Checks that `file` is the one file of the Secret mounted as `volume`.
    pub fn file_in(&self, volume: &str, file: &Path) {
        let (dir, v) = self.mount(volume);
        assert_eq!(Some(dir.as_path()), file.parent(), "{volume}");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(v["secret"]["items"][0]["path"], name, "{volume}");
    }
}
