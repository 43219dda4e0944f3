//! Host-side bindings for the `tool-group` world in `wit/aerie.wit`.
//!
//! `falcon.call`, `host.sleep` and the `files` functions are async on the host (they wait on the
//! network, a timer or disk I/O run off the async workers);
//! to the guest every import is an ordinary blocking call.

wasmtime::component::bindgen!({
    world: "tool-group",
    path: "../wit",
    imports: {
        "aerie:plugin/falcon.call": async,
        "aerie:plugin/host.sleep": async,
        "aerie:plugin/files.read": async,
        "aerie:plugin/files.write": async,
        "aerie:plugin/files.list": async,
        "aerie:plugin/files.stat": async,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::aerie::plugin::{falcon, files, host};
pub use self::exports::aerie::plugin::tools;
