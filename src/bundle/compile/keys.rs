//! Key material named by a bundle: algorithm lists and the one key source (a PEM public
//! key, a JWKS, or an HMAC secret file) read from the bundle directory's own files, so the
//! digest covers every key, and parsed here, once.

use super::*;
use crate::jose::keys::{parse_algorithm, KeyFormat, KeySet, SUPPORTED};
use jsonwebtoken::Algorithm;

pub(super) fn names() -> String {
    SUPPORTED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn algorithm_list(
    file: &Path,
    list: &Spanned<Vec<Str>>,
    at: &str,
    sink: &mut Sink,
) -> Vec<Algorithm> {
    if list.value.is_empty() {
        sink.at(
            file,
            list.referenced,
            at,
            format!("list at least one of {}", names()),
        );
    }
    let mut out = Vec::new();
    for (i, a) in list.value.iter().enumerate() {
        match parse_algorithm(&a.value) {
            Some(alg) if !out.contains(&alg) => out.push(alg),
            Some(_) => {}
            None => sink.at(
                file,
                a.referenced,
                &format!("{at}[{i}]"),
                format!(
                    "unsupported algorithm {:?}: expected one of {}",
                    a.value,
                    names()
                ),
            ),
        }
    }
    out
}

/// Exactly one of the three key sources, read and parsed.
pub(super) fn key_set(
    file: &Path,
    [public, jwks, hmac]: [&Option<Str>; 3],
    at: &str,
    loc: Location,
    algorithms: &[Algorithm],
    files: &[BundleFile],
    sink: &mut Sink,
) -> Option<KeySet> {
    let given: Vec<(&str, KeyFormat, &Str)> = [
        ("public_key_file", KeyFormat::PublicKeyPem, public),
        ("jwks_file", KeyFormat::Jwks, jwks),
        ("hmac_secret_file", KeyFormat::HmacSecret, hmac),
    ]
    .into_iter()
    .filter_map(|(k, f, s)| s.as_ref().map(|s| (k, f, s)))
    .collect();
    let [(key, format, name)] = given[..] else {
        sink.at(
            file,
            loc,
            at,
            "name exactly one key: public_key_file, jwks_file or hmac_secret_file",
        );
        return None;
    };
    let field = format!("{at}.{key}");
    let n = name.value.as_str();
    if n.is_empty() || n.starts_with('.') || n.contains(['/', '\\']) {
        sink.at(file, name.referenced, &field, format!("invalid key file {n:?}: name a file directly in the bundle directory (no path), so the bundle digest covers it"));
        return None;
    }
    let Some(bytes) = files.iter().find(|f| f.name == n).map(|f| &f.bytes) else {
        sink.at(
            file,
            name.referenced,
            &field,
            format!("no file {n:?} in the bundle directory"),
        );
        return None;
    };
    if algorithms.is_empty() {
        return None;
    }
    match KeySet::parse(format, bytes, algorithms) {
        Ok(keys) => Some(keys),
        Err(e) => {
            sink.at(file, name.referenced, &field, format!("{n}: {e}"));
            None
        }
    }
}
