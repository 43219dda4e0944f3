//! `cases` end to end (see main.rs).
