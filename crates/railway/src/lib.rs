//! Railway data layer.
//!
//! [`model`] holds the plain domain types the rest of the workspace uses.

pub mod model;
