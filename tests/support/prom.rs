//! A strict parser of the Prometheus text exposition format 0.0.4, for tests that scrape
//! toolgate: every sample must belong to a family announced with HELP and TYPE, with a
//! suffix its type allows, and no series may repeat.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One parsed exposition: family name -> (help, type), and series -> value, where a series is
/// `name{sorted labels}`.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, (Option<String>, Option<String>)>,
    pub series: BTreeMap<String, f64>,
}

impl Exposition {
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series.get(&series_key(name, labels)).copied()
    }
    pub fn count(&self, name: &str) -> usize {
        self.series
            .keys()
            .filter(|k| k.split('{').next() == Some(name))
            .count()
    }
}

pub fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    l.sort();
    format!("{name}{{{}}}", l.join(","))
}

fn valid_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    chars.next().is_some_and(first_ok) && chars.all(|c| first_ok(c) || c.is_ascii_digit())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Parses `{a="x",b="y\"z"}` (the leading `{` already consumed); returns labels and rest.
type Labels = Vec<(String, String)>;

fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !valid_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("duplicate label {name}"));
        }
        labels.push((name.to_string(), value));
        s = &s[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// A strict parser: every sample must belong to a family announced by `# TYPE` earlier, with
/// a suffix its type allows; every family needs HELP and TYPE; no series may repeat.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.ok_or_else(|| err("comment without name".into()))?;
            let fam = exp.families.entry(name.to_string()).or_default();
            match kw {
                Some("HELP") if fam.0.is_none() => fam.0 = Some(tail.unwrap_or("").into()),
                Some("TYPE") if fam.1.is_none() => {
                    let t = tail.ok_or_else(|| err("TYPE without type".into()))?;
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(err(format!("unknown type {t}")));
                    }
                    fam.1 = Some(t.into());
                }
                Some("HELP" | "TYPE") => return Err(err("repeated HELP/TYPE".into())),
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name, true) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(l) => parse_labels(l).map_err(err)?,
            None => (Vec::new(), &line[name_end..]),
        };
        let mut fields = rest.trim_start().split(' ');
        let value = parse_value(fields.next().unwrap_or("")).map_err(err)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp".into()))?;
        }
        let family = [
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
        ]
        .iter()
        .find_map(|(suffix, ty)| {
            let base = name.strip_suffix(suffix)?;
            let t = exp.families.get(base)?.1.as_deref()?;
            (t == *ty).then_some(base)
        })
        .unwrap_or(name);
        match exp.families.get(family) {
            Some((Some(_), Some(_))) => {}
            _ => return Err(err(format!("sample before HELP and TYPE of {family}"))),
        }
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        if exp.series.insert(series_key(name, &l), value).is_some() {
            return Err(err("duplicate series".into()));
        }
    }
    for (name, (help, ty)) in &exp.families {
        if help.is_none() || ty.is_none() {
            return Err(format!("family {name} lacks HELP or TYPE"));
        }
    }
    Ok(exp)
}

impl Exposition {
    /// The sum of every series of `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .filter(|(k, _)| {
                labels
                    .iter()
                    .all(|(l, v)| k.contains(&format!("{l}={v:?}")))
            })
            .map(|(_, v)| v)
            .sum()
    }
}
