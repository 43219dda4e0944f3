//! aerie: an MCP server for CrowdStrike Falcon whose tool groups are sandboxed WebAssembly
//! components. This library is the host; the `aerie` binary is its command line.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod catalogue;
pub mod cleanup;
pub mod client_credentials;
pub mod client_input;
pub mod config;
pub mod controls;
pub mod egress;
pub mod embedded;
pub mod files;
pub mod hotswap;
pub mod inflight;
pub mod mcp;
pub mod metrics;
pub mod oci;
pub mod policy;
pub mod prompts;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod signing;
pub mod state;
pub mod tenants;

#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
pub mod testing;
