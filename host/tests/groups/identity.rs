//! `identity` end to end (see main.rs).
