//! cao_hunting (declared on the engine; see `crate::engine`).

use crate::engine::Family;

/// The cao_hunting collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[];
