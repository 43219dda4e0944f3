//! `cloud` end to end (see main.rs).
