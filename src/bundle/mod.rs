//! Loading a bundle: read the directory, parse and validate its YAML (every error, with
//! file, line and field), and compile it into a [`Snapshot`](crate::snapshot::Snapshot).
//!
//! A bundle is a directory. Every `*.yaml` / `*.yml` file directly in it (sorted by name;
//! names starting with `.` are skipped, symlinks are followed, as in a Kubernetes ConfigMap
//! volume) is one document of kind `Bundle` (exactly one), `RouteMap`, `RuleSet` or
//! `TestSuite`. Loading is two steps: serde parses each file on its own into the raw
//! structs of `raw` (a syntax or shape error stops that file only), then `compile` checks
//! everything else and reports every error it finds, each as `file:line:column: field: message`.

mod compile;
pub(crate) use compile::DEFAULT_MAX_TTL_SECS;
mod raw;
mod runner;

pub use runner::{
    decide_check, decide_request, run_tests, Expectation, SourceLocation, TestCase, TestInput,
    TestRequest, TestResult,
};

use crate::snapshot::Snapshot;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One problem in a bundle, located as precisely as the loader can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleError {
    /// The file (the bundle directory itself for bundle-wide problems).
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// The field path inside the document, e.g. `spec.routes[1].constraints[0]`; empty
    /// when the problem is the file itself.
    pub field: String,
    pub message: String,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

/// Every problem found in a bundle, in file, line, column order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleErrors(pub Vec<BundleError>);

impl fmt::Display for BundleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BundleErrors {}

/// Loads, validates and compiles the bundle in `dir`. `loaded_at` is recorded in the
/// snapshot's metadata (the loader reads no clock).
pub fn load(dir: &Path, loaded_at: jiff::Timestamp) -> Result<Snapshot, BundleErrors> {
    load_with_tests(dir, loaded_at).map(|(snapshot, _)| snapshot)
}

/// [`load`], and the bundle's own test cases beside the snapshot (the request path never
/// needs them; `toolgate test` and the reloader run them).
pub fn load_with_tests(
    dir: &Path,
    loaded_at: jiff::Timestamp,
) -> Result<(Snapshot, Vec<TestCase>), BundleErrors> {
    let files = read_files(dir).map_err(|e| {
        BundleErrors(vec![BundleError {
            file: dir.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message: format!("cannot read the bundle directory: {e}"),
        }])
    })?;
    let digest = digest_of(&files);
    compile::compile(dir, &files, digest, loaded_at)
}

/// `sha256:<hex>` over the bundle directory's regular files (non-recursive, dot-names
/// skipped, symlinks followed), in name order. For each file the digest covers its name,
/// a NUL byte, its length as 8 little-endian bytes, and its bytes; so renaming, moving bytes
/// between files, or adding a file all change it.
pub fn digest(dir: &Path) -> io::Result<String> {
    Ok(digest_of(&read_files(dir)?))
}

/// One regular file of the bundle directory: its name (relative) and bytes.
pub(crate) struct BundleFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn digest_of(files: &[BundleFile]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(f.name.as_bytes());
        hasher.update([0u8]);
        hasher.update((f.bytes.len() as u64).to_le_bytes());
        hasher.update(&f.bytes);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Reads every regular file directly in `dir`, sorted by name, skipping names that start
/// with `.` and anything that is not (or does not link to) a regular file.
fn read_files(dir: &Path) -> io::Result<Vec<BundleFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name {name:?} is not UTF-8"),
            ));
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks; a dangling link is an error, not a silent skip.
        if !std::fs::metadata(&path)?.is_file() {
            continue;
        }
        files.push(BundleFile {
            name: name.to_owned(),
            bytes: std::fs::read(&path)?,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats() {
        let mut e = BundleError {
            file: "policies/tools/routes.yaml".into(),
            line: Some(12),
            column: Some(7),
            field: "spec.routes[1].constraints[0]".into(),
            message: "not recognized".into(),
        };
        assert_eq!(
            e.to_string(),
            "policies/tools/routes.yaml:12:7: spec.routes[1].constraints[0]: not recognized"
        );
        e.line = None;
        e.field.clear();
        assert_eq!(e.to_string(), "policies/tools/routes.yaml: not recognized");
    }
}
