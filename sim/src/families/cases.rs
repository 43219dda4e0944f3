//! cases (declared on the engine; see `crate::engine`).

use crate::engine::Family;

/// The cases collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[];
