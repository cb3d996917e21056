//! `spec.identity` and `spec.approval.source`: where identity comes from, how approvals are
//! verified, and their keys. Key files are named by file name and read from the bundle
//! directory's own files (the bytes the digest covers), so a key rotates with the bundle
//! and is parsed once, here.

use super::keys::{algorithm_list, key_set, names};
use super::routes::RouteDraft;
use super::*;
use crate::approval::ApprovalVerifier;
use crate::identity::jwt::{ClaimPath, JwtVerifier};
use crate::identity::mtls::{MtlsMap, San, Subject};
use crate::identity::{IdentitySource, Trust};
use crate::jose::keys::parse_algorithm;
use crate::policy::PreparedAction;
use jsonwebtoken::Algorithm;

/// Default `identity.jwt.leeway`.
const DEFAULT_LEEWAY_SECS: i64 = 30;
/// Default `approval.max_ttl`.
pub(crate) const DEFAULT_MAX_TTL_SECS: i64 = 3600;

/// Identity headers a verified source replaces: never forwarded, whatever the routes map.
const IDENTITY_HEADERS: [&str; 2] = ["x-actor", "x-actor-role"];
/// Approval headers signed approvals replace (plus every `x-approval-*`).
const APPROVAL_HEADERS: [&str; 3] = ["x-approval", "x-approved-by", "x-approved-at"];

pub(super) fn compile_trust(
    doc: &Doc<raw::BundleDoc>,
    files: &[BundleFile],
    clock_skew: SignedDuration,
    sink: &mut Sink,
) -> Trust {
    let file = doc.file.as_path();
    let spec = &doc.doc.spec;
    let mut trust = Trust::default();
    if let Some(id) = &spec.identity {
        trust.identity = identity(file, &id.value, id.referenced, files, sink);
    }
    trust.approvals = approvals(file, &spec.approval, clock_skew, files, sink);
    trust
}

fn identity(
    file: &Path,
    spec: &raw::IdentitySpec,
    loc: Location,
    files: &[BundleFile],
    sink: &mut Sink,
) -> IdentitySource {
    let source = spec.source.value.as_str();
    let stray = |sink: &mut Sink, key: &str, at: Location| {
        sink.at(
            file,
            at,
            &format!("spec.identity.{key}"),
            format!("identity.{key} applies only with source: {key} (source is {source})"),
        )
    };
    if source != "jwt" {
        if let Some(j) = &spec.jwt {
            stray(sink, "jwt", j.referenced);
        }
    }
    if source != "mtls" {
        if let Some(m) = &spec.mtls {
            stray(sink, "mtls", m.referenced);
        }
    }
    match source {
        "trusted_headers" => IdentitySource::TrustedHeaders,
        "jwt" => match &spec.jwt {
            Some(j) => jwt(file, &j.value, j.referenced, files, sink),
            None => {
                sink.at(
                    file,
                    loc,
                    "spec.identity.jwt",
                    "source: jwt needs a jwt block (issuer, audience, algorithms, and a key)",
                );
                IdentitySource::TrustedHeaders
            }
        },
        "mtls" => match &spec.mtls {
            Some(m) => mtls(file, &m.value, m.referenced, sink),
            None => {
                sink.at(
                    file,
                    loc,
                    "spec.identity.mtls",
                    "source: mtls needs an mtls block with subjects",
                );
                IdentitySource::TrustedHeaders
            }
        },
        other => {
            sink.at(
                file,
                spec.source.referenced,
                "spec.identity.source",
                format!("invalid identity source {other:?}: expected trusted_headers, jwt or mtls"),
            );
            IdentitySource::TrustedHeaders
        }
    }
}

fn jwt(
    file: &Path,
    spec: &raw::JwtSpec,
    loc: Location,
    files: &[BundleFile],
    sink: &mut Sink,
) -> IdentitySource {
    let at = "spec.identity.jwt";
    for (key, s) in [("issuer", &spec.issuer), ("audience", &spec.audience)] {
        if s.value.trim().is_empty() {
            sink.at(
                file,
                s.referenced,
                &format!("{at}.{key}"),
                "must not be empty",
            );
        }
    }
    let algorithms = algorithm_list(file, &spec.algorithms, &format!("{at}.algorithms"), sink);
    let keys = key_set(
        file,
        [
            &spec.public_key_file,
            &spec.jwks_file,
            &spec.hmac_secret_file,
        ],
        at,
        loc,
        &algorithms,
        files,
        sink,
    );
    let leeway = spec.leeway.as_ref().map_or(DEFAULT_LEEWAY_SECS, |s| {
        duration(file, s, &format!("{at}.leeway"), sink).map_or(0, |d| d.as_secs())
    });
    let claim = |s: &Option<Str>, key: &str, default: &str, sink: &mut Sink| match s {
        None => ClaimPath(default.into()),
        Some(s) => {
            if s.value.trim().is_empty() || s.value == "/" {
                sink.at(
                    file,
                    s.referenced,
                    &format!("{at}.claims.{key}"),
                    "must name a claim, or a JSON pointer such as /realm_access/roles",
                );
            }
            ClaimPath(s.value.as_str().into())
        }
    };
    let actor = claim(&spec.claims.actor, "actor", "sub", sink);
    let actor_role = claim(&spec.claims.actor_role, "actor_role", "roles", sink);
    match keys {
        Some(keys) if !algorithms.is_empty() => IdentitySource::Jwt(Box::new(JwtVerifier::new(
            keys,
            &algorithms,
            spec.issuer.value.trim(),
            spec.audience.value.trim(),
            actor,
            actor_role,
            leeway,
        ))),
        _ => IdentitySource::TrustedHeaders,
    }
}

fn mtls(file: &Path, spec: &raw::MtlsSpec, loc: Location, sink: &mut Sink) -> IdentitySource {
    let at = "spec.identity.mtls.subjects";
    if spec.subjects.is_empty() {
        sink.at(
            file,
            loc,
            at,
            "list at least one subject (uri or dns, actor, actor_role)",
        );
    }
    let mut map = MtlsMap::default();
    for (i, s) in spec.subjects.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let v = &s.value;
        let san = match (&v.uri, &v.dns) {
            (Some(u), None) if !u.value.trim().is_empty() => San::Uri(u.value.trim().into()),
            (None, Some(d)) if !d.value.trim().is_empty() => San::Dns(d.value.trim().into()),
            _ => {
                sink.at(
                    file,
                    s.referenced,
                    &here,
                    "a subject has exactly one of uri or dns, not empty",
                );
                continue;
            }
        };
        if v.actor.value.trim().is_empty() {
            sink.at(
                file,
                v.actor.referenced,
                &format!("{here}.actor"),
                "must not be empty",
            );
        }
        map.subjects.push(Subject {
            san,
            actor: v.actor.value.trim().into(),
            actor_role: v.actor_role.as_ref().map(|r| r.value.trim().into()),
        });
    }
    IdentitySource::Mtls(map)
}

fn approvals(
    file: &Path,
    spec: &raw::ApprovalSpec,
    clock_skew: SignedDuration,
    files: &[BundleFile],
    sink: &mut Sink,
) -> Option<ApprovalVerifier> {
    let at = "spec.approval";
    let signed_only: [(&str, Option<&Str>); 5] = [
        ("algorithm", spec.algorithm.as_ref()),
        ("public_key_file", spec.public_key_file.as_ref()),
        ("jwks_file", spec.jwks_file.as_ref()),
        ("hmac_secret_file", spec.hmac_secret_file.as_ref()),
        ("max_ttl", spec.max_ttl.as_ref()),
    ];
    match spec.source.as_ref().map(|s| s.value.as_str()) {
        None | Some("headers") => {
            for (key, s) in signed_only {
                if let Some(s) = s {
                    sink.at(
                        file,
                        s.referenced,
                        &format!("{at}.{key}"),
                        "applies only with source: signed",
                    );
                }
            }
            return None;
        }
        Some("signed") => {}
        Some(other) => {
            let s = spec.source.as_ref().expect("matched");
            sink.at(
                file,
                s.referenced,
                &format!("{at}.source"),
                format!("invalid approval source {other:?}: expected headers or signed"),
            );
            return None;
        }
    }
    let source_loc = spec.source.as_ref().expect("signed").referenced;
    let algorithm = match &spec.algorithm {
        None => {
            sink.at(
                file,
                source_loc,
                &format!("{at}.algorithm"),
                format!(
                    "source: signed needs the algorithm approvals are signed with ({})",
                    names()
                ),
            );
            None
        }
        Some(a) => parse_algorithm(&a.value).or_else(|| {
            sink.at(
                file,
                a.referenced,
                &format!("{at}.algorithm"),
                format!(
                    "unsupported algorithm {:?}: expected one of {}",
                    a.value,
                    names()
                ),
            );
            None
        }),
    };
    let algorithms: Vec<Algorithm> = algorithm.into_iter().collect();
    let keys = key_set(
        file,
        [
            &spec.public_key_file,
            &spec.jwks_file,
            &spec.hmac_secret_file,
        ],
        at,
        source_loc,
        &algorithms,
        files,
        sink,
    );
    let max_ttl = match &spec.max_ttl {
        None => DEFAULT_MAX_TTL_SECS,
        Some(s) => match duration(file, s, &format!("{at}.max_ttl"), sink) {
            Some(d) if d.as_secs() > 0 => d.as_secs(),
            Some(_) => {
                sink.at(
                    file,
                    s.referenced,
                    &format!("{at}.max_ttl"),
                    "must be at least 1s",
                );
                DEFAULT_MAX_TTL_SECS
            }
            None => DEFAULT_MAX_TTL_SECS,
        },
    };
    Some(ApprovalVerifier::new(
        keys?,
        algorithm?,
        max_ttl,
        clock_skew.as_secs(),
    ))
}

/// With a verified identity source or signed approvals, the facts they own are no longer
/// read from the request: those context entries are dropped from every route, and the
/// headers they named are stripped before forwarding.
pub(super) fn apply_to_routes(trust: &mut Trust, routes: &mut [RouteDraft]) {
    let mut replaced: Vec<Field> = Vec::new();
    let mut strip: Vec<&str> = Vec::new();
    if trust.identity.is_verified() {
        replaced.extend([Field::Actor, Field::ActorRole]);
        strip.extend(IDENTITY_HEADERS);
    }
    if trust.approvals.is_some() {
        replaced.extend([Field::ApprovalStatus, Field::ApprovedBy, Field::ApprovedAt]);
        strip.extend(APPROVAL_HEADERS);
        trust.strip_prefixes.push("x-approval-");
    }
    trust.strip = strip.into_iter().map(HeaderName::from_static).collect();
    if replaced.is_empty() {
        return;
    }
    for route in routes {
        let ctx = &mut route.context;
        for (field, sources) in &ctx.fields {
            if replaced.contains(field) {
                for s in sources {
                    if let Source::Header(h) = s {
                        if !trust.strip.contains(h) {
                            trust.strip.push(h.clone());
                        }
                    }
                }
            }
        }
        // Compiled again without them: the headers read, whether the body is read and the
        // amount field all follow from the fields left.
        let amount = ctx.amount.as_ref().map(|f| f.name().to_owned());
        let kept = std::mem::take(&mut ctx.fields)
            .into_iter()
            .filter(|(f, _)| !replaced.contains(f))
            .collect();
        *ctx = ContextMap::compile(kept, amount.as_deref().unwrap_or_default());
    }
}

/// Whether an action may need approval for some facts: then, under signed approvals, its
/// route reads the body, so a DEFER can name the body digest to approve.
pub(super) fn may_need_approval(policy: &Policy, action: &PreparedAction) -> bool {
    action.requirements.approval
        || action.destructive
        || action
            .dynamic_rules
            .iter()
            .any(|&i| policy.rules[usize::from(i)].require.approval)
}
