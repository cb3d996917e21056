//! The compiled route table: one matchit tree per method, built at bundle load. Matching is
//! exact on method and on the normalized path; the most specific template wins (static over
//! `{param}` over `{*rest}`), and templates that would tie are rejected at load.
//!
//! The standard methods index a fixed array (no hashing per request); extension methods,
//! rare, are looked up in a short list.

use http::Method;

/// The standard methods, in the order of [`RouteTable::standard`].
const STANDARD: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

/// A route table: method -> path tree -> index into the snapshot's routes.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    standard: [Option<matchit::Router<usize>>; 9],
    extension: Vec<(Method, matchit::Router<usize>)>,
}

/// The slot of a standard method: compares the method's tag, no hashing.
fn standard_slot(method: &Method) -> Option<usize> {
    STANDARD.iter().position(|m| m == method)
}

/// A request matched to a route.
#[derive(Debug)]
pub struct RouteMatch<'k, 'v> {
    pub index: usize,
    pub params: matchit::Params<'k, 'v>,
}

/// Why a route could not be added: the index of the offending route and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    pub index: usize,
    pub message: String,
}

impl RouteTable {
    /// Builds the table from `(method, template)` pairs, the index of each its position,
    /// reporting every route that could not be added (bad syntax, or a template that ties
    /// with an earlier one).
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (&'a Method, &'a str)>,
    ) -> Result<RouteTable, Vec<RouteError>> {
        Self::build_indexed(routes.into_iter().enumerate().map(|(i, (m, t))| (i, m, t)))
    }

    /// Builds the table from `(index, method, template)` entries: one route may answer
    /// several methods, and some routes none (an MCP tool is reached through its endpoint).
    pub fn build_indexed<'a>(
        routes: impl IntoIterator<Item = (usize, &'a Method, &'a str)>,
    ) -> Result<RouteTable, Vec<RouteError>> {
        let mut table = RouteTable::default();
        let mut errors = Vec::new();
        for (index, method, template) in routes {
            if !template.starts_with('/') {
                errors.push(RouteError {
                    index,
                    message: format!("path {template:?} must start with '/'"),
                });
                continue;
            }
            if let Err(e) = table.tree_mut(method).insert(template, index) {
                errors.push(RouteError {
                    index,
                    message: format!("{method} {template}: {e}"),
                });
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    fn tree_mut(&mut self, method: &Method) -> &mut matchit::Router<usize> {
        if let Some(slot) = standard_slot(method) {
            debug_assert_eq!(STANDARD[slot], *method);
            return self.standard[slot].get_or_insert_with(matchit::Router::new);
        }
        let i = match self.extension.iter().position(|(m, _)| m == method) {
            Some(i) => i,
            None => {
                self.extension
                    .push((method.clone(), matchit::Router::new()));
                self.extension.len() - 1
            }
        };
        &mut self.extension[i].1
    }

    fn tree(&self, method: &Method) -> Option<&matchit::Router<usize>> {
        match standard_slot(method) {
            Some(slot) => self.standard[slot].as_ref(),
            None => self
                .extension
                .iter()
                .find(|(m, _)| m == method)
                .map(|(_, t)| t),
        }
    }

    /// Matches a method and a normalized path.
    pub fn find<'t, 'p>(&'t self, method: &Method, path: &'p str) -> Option<RouteMatch<'t, 'p>> {
        let m = self.tree(method)?.at(path).ok()?;
        Some(RouteMatch {
            index: *m.value,
            params: m.params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_wins_and_ties_are_rejected() {
        let get = Method::GET;
        let table = RouteTable::build([
            (&get, "/db/v1/tenants/{id}"),
            (&get, "/db/v1/tenants/me"),
            (&get, "/files/{*rest}"),
        ])
        .unwrap();
        assert_eq!(table.find(&get, "/db/v1/tenants/me").unwrap().index, 1);
        let m = table.find(&get, "/db/v1/tenants/t-1").unwrap();
        assert_eq!((m.index, m.params.get("id")), (0, Some("t-1")));
        assert_eq!(
            table.find(&get, "/files/a/b").unwrap().params.get("rest"),
            Some("a/b")
        );
        assert!(table.find(&Method::DELETE, "/db/v1/tenants/me").is_none());
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let table2 = RouteTable::build([(&purge, "/cache/{key}"), (&get, "/cache/{key}")]).unwrap();
        assert_eq!(table2.find(&purge, "/cache/k").unwrap().index, 0);
        assert_eq!(table2.find(&get, "/cache/k").unwrap().index, 1);
        assert!(table2
            .find(&Method::from_bytes(b"PURGEX").unwrap(), "/cache/k")
            .is_none());
        for (slot, m) in STANDARD.iter().enumerate() {
            assert_eq!(standard_slot(m), Some(slot));
        }
        assert!(table.find(&get, "/db/v1/tenants/t-1/").is_none());
        assert!(table.find(&get, "/DB/v1/tenants/t-1").is_none());

        let err = RouteTable::build([(&get, "/a/{x}"), (&get, "/a/{y}"), (&get, "a")]).unwrap_err();
        assert_eq!(err.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2]);
    }
}
