//! `intel` end to end (see main.rs).
