//! intel (declared on the engine; see `crate::engine`).

use crate::engine::Family;

/// The intel collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[];
