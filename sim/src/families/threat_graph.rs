//! threat_graph (declared on the engine; see `crate::engine`).

use crate::engine::Family;

/// The threat_graph collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[];
