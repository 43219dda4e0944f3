//! `spotlight` end to end (see main.rs).
