//! End-to-end tests of plugins written in Python and JavaScript, and of publishing plugins
//! through an OCI registry. The components are built from the repository's example groups and
//! the scaffolds with the real toolchains (componentize-py, componentize-js), then served by the
//! real `aerie` binary beside the embedded Rust groups, against the simulator over real HTTP.

#[path = "../support/mod.rs"]
mod support;

mod build;
mod cli;
mod js;
mod publish;
mod python;
