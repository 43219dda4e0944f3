//! Host-side bindings for the `tool-group-mcp` world in `wit/aerie.wit`: the `tool-group`
//! world plus the optional `mcp` export. The host loads each export by itself (see
//! [`super::Exports`]), so a component of the plain `tool-group` world serves too.
//!
//! `falcon.call`, `host.sleep` and the `files` functions are async on the host (they wait on the
//! network, a timer or disk I/O run off the async workers);
//! to the guest every import is an ordinary blocking call.

wasmtime::component::bindgen!({
    world: "tool-group-mcp",
    path: "../wit",
    imports: {
        "aerie:plugin/falcon.call": async,
        "aerie:plugin/host.sleep": async,
        "aerie:plugin/host.ask": async | trappable,
        "aerie:plugin/files.read": async,
        "aerie:plugin/files.write": async,
        "aerie:plugin/files.list": async,
        "aerie:plugin/files.stat": async,
        default: trappable,
    },
    exports: { default: async },
    // Descriptions are cached as JSON beside compiled artefacts (see `Runtime::describe_cached`).
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use self::aerie::plugin::{falcon, files, host};
pub use self::exports::aerie::plugin::{mcp, tools};
