//! normalization placeholder
