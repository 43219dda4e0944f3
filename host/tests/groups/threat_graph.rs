//! `threat_graph` end to end (see main.rs).
