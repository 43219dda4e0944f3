//! `cao_hunting` end to end (see main.rs).
