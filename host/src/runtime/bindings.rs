//! Host-side bindings for the `tool-group` world in `wit/aerie.wit`.
//!
//! `falcon.call` and `host.sleep` are async on the host (they wait on the network or a timer);
//! to the guest every import is an ordinary blocking call.

wasmtime::component::bindgen!({
    world: "tool-group",
    path: "../wit",
    imports: {
        "aerie:plugin/falcon.call": async,
        "aerie:plugin/host.sleep": async,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::aerie::plugin::{falcon, files, host};
pub use self::exports::aerie::plugin::tools;
