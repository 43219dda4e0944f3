//! ngsiem_content (declared on the engine; see `crate::engine`).

use crate::engine::Family;

/// The ngsiem_content collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[];
