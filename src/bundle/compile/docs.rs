//! The bundle's files read into typed documents, and the sink every compile step reports
//! its errors to (each with file, line, column and field).

use super::*;

/// Collects errors.
#[derive(Default)]
pub(super) struct Sink {
    pub(super) errors: Vec<BundleError>,
}

impl Sink {
    pub(super) fn push(
        &mut self,
        file: &Path,
        loc: Option<Location>,
        field: &str,
        message: String,
    ) {
        self.errors.push(BundleError {
            file: file.to_path_buf(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            field: field.to_owned(),
            message,
        });
    }

    pub(super) fn at(
        &mut self,
        file: &Path,
        loc: Location,
        field: &str,
        message: impl Into<String>,
    ) {
        self.push(file, Some(loc), field, message.into());
    }

    /// A missing top-level key has no location of its own: point at the document's start.
    pub(super) fn at_start(&mut self, file: &Path, field: &str, message: String) {
        self.errors.push(BundleError {
            file: file.to_path_buf(),
            line: Some(1),
            column: Some(1),
            field: field.to_owned(),
            message,
        });
    }

    pub(super) fn finish(mut self) -> BundleErrors {
        // Stable: errors on one spot keep the order they were found in.
        self.errors
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        BundleErrors(self.errors)
    }
}

/// A parsed document and the file it came from.
pub(super) struct Doc<T> {
    pub(super) file: PathBuf,
    pub(super) doc: T,
}

#[derive(Default)]
pub(super) struct Docs {
    pub(super) bundles: Vec<(Doc<raw::BundleDoc>, Location)>,
    /// A file of kind `Bundle` was seen, even if it did not parse.
    pub(super) bundle_seen: bool,
    /// Some route may be missing: a `RouteMap` (or a file of unknown kind) did not parse.
    /// References to unknown routes are then not reported: they would only echo that error.
    pub(super) routes_incomplete: bool,
    pub(super) route_maps: Vec<Doc<raw::RouteMapDoc>>,
    pub(super) mcp_servers: Vec<Doc<raw::McpServerDoc>>,
    pub(super) rule_sets: Vec<Doc<raw::RuleSetDoc>>,
    pub(super) suites: Vec<Doc<raw::TestSuiteDoc>>,
}

const KINDS: &str = "Bundle, RouteMap, McpServer, RuleSet, TestSuite";

pub(super) fn parse_file(path: &Path, bytes: &[u8], sink: &mut Sink, docs: &mut Docs) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            sink.push(path, None, "", format!("the file is not UTF-8: {e}"));
            return;
        }
    };
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !has_content {
        sink.push(
            path,
            None,
            "",
            format!(
                "the file is empty; expected a document with apiVersion: {API_VERSION} and kind"
            ),
        );
        return;
    }
    let header: raw::Header = match raw::parse(text) {
        Ok(h) => h,
        Err(e) => {
            // The kind is unknown; guess it from the text only to avoid echo errors.
            match guess_kind(text) {
                Some("Bundle") => docs.bundle_seen = true,
                Some("RuleSet" | "TestSuite") => {}
                _ => docs.routes_incomplete = true,
            }
            return report_parse(path, e, sink);
        }
    };
    match &header.api_version {
        None => sink.at_start(
            path,
            "apiVersion",
            format!("missing; expected {API_VERSION}"),
        ),
        Some(v) if v.value != API_VERSION => sink.at(
            path,
            v.referenced,
            "apiVersion",
            format!(
                "unsupported apiVersion {:?}; expected {API_VERSION}",
                v.value
            ),
        ),
        Some(_) => {}
    }
    let Some(kind) = header.kind else {
        sink.at_start(path, "kind", format!("missing; expected one of {KINDS}"));
        return;
    };
    let file = path.to_path_buf();
    let result = match kind.value.as_str() {
        "Bundle" => {
            docs.bundle_seen = true;
            raw::parse(text).map(|doc| docs.bundles.push((Doc { file, doc }, kind.referenced)))
        }
        "RouteMap" => raw::parse(text)
            .map(|doc| docs.route_maps.push(Doc { file, doc }))
            .inspect_err(|_| docs.routes_incomplete = true),
        "McpServer" => raw::parse(text)
            .map(|doc| docs.mcp_servers.push(Doc { file, doc }))
            .inspect_err(|_| docs.routes_incomplete = true),
        "RuleSet" => raw::parse(text).map(|doc| docs.rule_sets.push(Doc { file, doc })),
        "TestSuite" => raw::parse(text).map(|doc| docs.suites.push(Doc { file, doc })),
        other => {
            sink.at(
                path,
                kind.referenced,
                "kind",
                format!("unknown kind {other:?}; expected one of {KINDS}"),
            );
            return;
        }
    };
    if let Err(e) = result {
        report_parse(path, e, sink);
    }
}

/// The value of a top-level `kind:` line, for a file that does not parse.
fn guess_kind(text: &str) -> Option<&str> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("kind:")?.trim();
        Some(v.trim_matches(|c| c == '"' || c == '\''))
    })
}

fn report_parse(path: &Path, e: raw::ParseError, sink: &mut Sink) {
    sink.errors.push(BundleError {
        file: path.to_path_buf(),
        line: e.line,
        column: e.column,
        field: e.field,
        message: e.message,
    });
}
