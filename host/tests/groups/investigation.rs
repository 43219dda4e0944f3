//! `investigation` end to end (see main.rs).
