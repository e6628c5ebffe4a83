//! Configuration: reading, checking and resolving `phpeek-pm.yaml`.
//!
//! Loading happens in two layers. The YAML text is parsed into a tree of
//! nodes that remember their line and column, `${VAR}` references in scalar
//! values are substituted, and the tree is decoded field by field into the
//! types in [`model`]. Every problem found on the way is collected, not only
//! the first, so `phpeek-pm check-config` can list them all.

pub mod model;

pub use model::*;
