//! `correlation` end to end (see main.rs).
