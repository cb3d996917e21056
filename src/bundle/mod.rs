//! Loading a bundle: read the directory, parse and validate its YAML (every error, with
//! file, line and field), and compile it into a [`Snapshot`](crate::snapshot::Snapshot).

/// A bundle's own test case (filled in by the bundle loader).
#[derive(Clone, Debug)]
pub struct TestCase {}
