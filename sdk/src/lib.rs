//! Write aerie tool groups: Falcon MCP tools as sandboxed WebAssembly components.
//!
//! A tool group (plugin) is a `cdylib` crate built for `wasm32-wasip2`. It declares tools — each a
//! name, some metadata, the Falcon operation ids it calls, an arguments struct and a handler — and
//! the aerie host does the rest: it lists the tools over MCP, validates arguments against the
//! schema derived from the struct, and performs the Falcon calls the handler asks for, with its own
//! OAuth2 session, allowlist and audit. The plugin never sees a URL, a token or a socket.
//!
//! # The parts
//!
//! - [`Plugin`] and [`ToolSpec`]: declare the group; [`export_plugin!`] exports it as the WIT
//!   `tool-group` world.
//! - [`Ctx`]: what a handler gets — [`Ctx::op`] starts a Falcon request ([`Call`]), and helpers
//!   cover the patterns every group repeats: [`Ctx::search`] (query ids → hydrate in batches),
//!   [`Ctx::poll`] (bounded polling with progress), files, logs.
//! - [`Fql`]: builds filters with every value quoted and escaped. [`ids`]: validators for AIDs,
//!   composite alert ids, incident ids, UUIDs and IOC values.
//! - [`SearchResult`] and [`Output`]: the one search shape `{"results", "total", "next"}` and a
//!   compact text rendering; [`Output::preview`] for destructive tools called without `confirm`.
//! - [`ToolError`]: what a handler returns on failure; Falcon error statuses are mapped for you
//!   (404 → not-found, 400 → message plus FQL hint, 403 → the scope to add, 429/5xx → retry).
//! - [`testing::MockEnv`]: a scripted host for native unit tests of handlers.
//!
//! # A complete plugin
//!
//! ```no_run
//! use aerie_sdk::{Ctx, Fql, Hydrate, Output, Plugin, ToolError, ToolSpec};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Arguments of `demo_hosts_search`.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Search {
//!     /// Exact hostname.
//!     hostname: Option<String>,
//!     /// Page size.
//!     #[schemars(range(min = 1, max = 100))]
//!     #[serde(default = "ten")]
//!     limit: u32,
//! }
//! fn ten() -> u32 { 10 }
//!
//! const DEVICES: Hydrate = Hydrate::body("PostDeviceDetailsV2", "ids", 5000).ordered_by("device_id");
//!
//! fn search(ctx: &Ctx<'_>, a: Search) -> Result<Output, ToolError> {
//!     let filter = Fql::new().opt(a.hostname.as_deref(), |f, h| f.eq("hostname", h)).build();
//!     let query = ctx.op("QueryDevicesByFilter").query_opt("filter", filter).query("limit", a.limit);
//!     Ok(ctx.search(query, 0, &DEVICES)?.into_output("hosts"))
//! }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("demo", env!("CARGO_PKG_VERSION"), "Demo host lookups").tool(
//!         ToolSpec::read("demo_hosts_search", "Search hosts", "Hosts matching a hostname.")
//!             .ops(&["QueryDevicesByFilter", "PostDeviceDetailsV2"]),
//!         search,
//!     )
//! }
//!
//! aerie_sdk::export_plugin!(plugin);
//! ```
//!
//! Build it as the host does:
//! `cargo build --target wasm32-wasip2 --profile plugin -p my-plugin`.
//!
//! # Testing natively
//!
//! Handlers take a [`Ctx`], so a unit test calls them directly over a [`testing::MockEnv`] with
//! scripted Falcon replies and checks the requests made and the output. The WIT imports are only
//! reached through [`HostEnv`], which native tests never use.

#![deny(missing_docs)]

mod context;
mod decl;
mod env;
mod error;
mod falcon;
mod features;
pub mod fql;
pub mod ids;
pub mod multipart;
pub mod ngsiem;
mod plugin;
mod result;
pub mod schema;
pub mod testing;

/// Generated bindings of the WIT world `tool-group-mcp` (package `aerie:plugin@0.2.0`): the
/// `tool-group` world plus the `mcp` export.
#[allow(missing_docs, reason = "generated code; the WIT file documents it")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "tool-group-mcp",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "aerie_sdk::bindings",
        export_macro_name: "export",
        // A native build prints what `describe` returns as JSON (see `__private::description_json`),
        // in the field and variant names the host's bindings read.
        additional_derives: [serde::Serialize],
    });
}

pub use context::{Ctx, Hydrate, IdsIn, PollSpec, Polled, Step, order_by_ids};
pub use decl::{Get, Page, Paging, Search, SearchArgs};
pub use env::{Env, FalconError, FalconRequest, FalconResponse, FileError, HostEnv, Level};
pub use error::{ErrorContext, OUTCOME_UNKNOWN, ToolError, falcon_message, map_status};
pub use falcon::{
    ApiError, Call, Envelope, Meta, Pagination, REQUIRED_SCOPE, Reply, host_error,
    host_error_verified,
};
pub use features::{
    Arg, Content, FeaturesInfo, MAX_SUGGESTIONS, Message, Prompt, Role, Shape, Template, Vars,
    prefix_pattern, suggest,
};
pub use fql::Fql;
pub use plugin::{
    ClientCapability, Contents, Descriptor, Plugin, Resource, Tier, ToolInfo, ToolSpec,
};
pub use result::{
    Block, Embedded, Next, OFFSET_WINDOW, Output, SearchResult, check_window, is_empty,
    next_offset, project, prune,
};

/// Glue between [`Plugin`] and the generated `tools` export; used by [`export_plugin!`].
#[doc(hidden)]
pub mod __private {
    use crate::bindings::exports::aerie::plugin::tools as wit;
    use crate::{Block, ClientCapability, Contents, Embedded, HostEnv, Plugin, Tier, ToolError};

    /// Describe `p` in WIT types.
    pub fn describe(p: &Plugin) -> wit::Descriptor {
        let d = p.describe();
        wit::Descriptor {
            name: d.name.to_string(),
            version: d.version.to_string(),
            description: d.description.to_string(),
            tools: d
                .tools
                .into_iter()
                .map(|t| wit::Tool {
                    name: t.spec.name.to_string(),
                    title: t.spec.title.to_string(),
                    description: t.spec.description.to_string(),
                    input_schema: t.input_schema,
                    tier: match t.spec.tier {
                        Tier::Read => wit::Tier::Read,
                        Tier::Write => wit::Tier::Write,
                    },
                    destructive: t.spec.destructive,
                    idempotent: t.spec.idempotent,
                    cacheable: t.spec.cacheable,
                    operations: t.spec.operations.iter().map(|s| s.to_string()).collect(),
                    needs: t
                        .spec
                        .needs
                        .iter()
                        .map(|c| match c {
                            ClientCapability::Sampling => wit::ClientCapability::Sampling,
                            ClientCapability::Elicitation => wit::ClientCapability::Elicitation,
                            ClientCapability::Roots => wit::ClientCapability::Roots,
                        })
                        .collect(),
                })
                .collect(),
            resources: d
                .resources
                .into_iter()
                .map(|r| wit::Resource {
                    uri: r.uri.to_string(),
                    name: r.name.to_string(),
                    description: r.description.to_string(),
                    mime_type: r.mime_type.to_string(),
                    contents: match r.contents {
                        Contents::Text(t) => wit::Contents::Text(t.to_string()),
                        Contents::Blob(b) => wit::Contents::Blob(b.to_vec()),
                    },
                })
                .collect(),
        }
    }

    /// Run a call of `p` against the real host, in WIT types.
    pub fn call(p: &Plugin, tool: &str, arguments: &str) -> Result<wit::Output, wit::CallError> {
        to_wit(p.call(&HostEnv, tool, arguments))
    }

    pub use crate::features::glue::{complete, describe_features, read_resource};

    /// What `describe` and `describe-features` return for `p`, as the JSON the host records for
    /// a description: how the host knows a first-party plugin's tools at build time, before it
    /// has compiled the component.
    pub fn description_json(p: &Plugin) -> String {
        serde_json::json!({
            "descriptor": describe(p),
            "features": describe_features(p),
        })
        .to_string()
    }

    /// A handler's result in WIT types.
    pub fn to_wit(r: Result<crate::Output, ToolError>) -> Result<wit::Output, wit::CallError> {
        r.map(|o| wit::Output {
            text: o.text,
            structured: o.structured.map(|v| v.to_string()),
            content: o.content.into_iter().map(block_to_wit).collect(),
        })
        .map_err(error_to_wit)
    }

    fn block_to_wit(c: Block) -> wit::ContentBlock {
        match c {
            Block::Image { data, mime_type } => {
                wit::ContentBlock::Image(wit::Binary { data, mime_type })
            }
            Block::Audio { data, mime_type } => {
                wit::ContentBlock::Audio(wit::Binary { data, mime_type })
            }
            Block::Resource {
                uri,
                mime_type,
                contents,
            } => wit::ContentBlock::Resource(wit::EmbeddedResource {
                uri,
                mime_type,
                contents: match contents {
                    Embedded::Text(t) => wit::Contents::Text(t),
                    Embedded::Blob(b) => wit::Contents::Blob(b),
                },
            }),
        }
    }

    /// A handler's error in WIT types.
    pub fn error_to_wit(e: ToolError) -> wit::CallError {
        match e {
            ToolError::InvalidArguments(m) => wit::CallError::InvalidArguments(m),
            ToolError::NotFound(m) => wit::CallError::NotFound(m),
            ToolError::Upstream { status, message } => {
                wit::CallError::Upstream(wit::UpstreamError { status, message })
            }
            ToolError::Denied(m) => wit::CallError::Denied(m),
            ToolError::Internal(m) => wit::CallError::Internal(m),
        }
    }
}

/// Export a plugin: `export_plugin!(build)` where `fn build() -> Plugin`.
///
/// The host creates a fresh instance for every call, so `build` runs once per call; keep it to
/// declarations (schemas are only generated by `describe`).
#[macro_export]
macro_rules! export_plugin {
    ($build:path) => {
        /// This plugin's description as JSON, for the host's build (native builds only: the
        /// WIT exports below exist only in the component).
        #[cfg(not(target_arch = "wasm32"))]
        pub fn __aerie_description_json() -> ::std::string::String {
            $crate::__private::description_json(&$build())
        }

        #[cfg(target_arch = "wasm32")]
        struct __AeriePlugin;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::exports::aerie::plugin::tools::Guest for __AeriePlugin {
            fn describe() -> $crate::bindings::exports::aerie::plugin::tools::Descriptor {
                $crate::__private::describe(&$build())
            }

            fn call(
                tool: ::std::string::String,
                arguments: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::bindings::exports::aerie::plugin::tools::Output,
                $crate::bindings::exports::aerie::plugin::tools::CallError,
            > {
                $crate::__private::call(&$build(), &tool, &arguments)
            }
        }

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::exports::aerie::plugin::mcp::Guest for __AeriePlugin {
            fn describe_features() -> $crate::bindings::exports::aerie::plugin::mcp::Features {
                $crate::__private::describe_features(&$build())
            }

            fn read_resource(
                uri_template: ::std::string::String,
                variables: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<
                $crate::bindings::exports::aerie::plugin::tools::Output,
                $crate::bindings::exports::aerie::plugin::tools::CallError,
            > {
                $crate::__private::read_resource(&$build(), &uri_template, variables)
            }

            fn complete(
                completer: ::std::string::String,
                value: ::std::string::String,
                context: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<::std::string::String>,
                $crate::bindings::exports::aerie::plugin::tools::CallError,
            > {
                $crate::__private::complete(&$build(), &completer, &value, context)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__AeriePlugin with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use crate::bindings::exports::aerie::plugin::tools as wit;
    use crate::{Block, Embedded, Output};

    #[test]
    fn content_blocks_reach_the_wit_in_order() {
        let out = Output::text("two blocks")
            .with(Block::Image {
                data: vec![1, 2],
                mime_type: "image/png".into(),
            })
            .with(Block::Resource {
                uri: "falcon://x".into(),
                mime_type: "application/octet-stream".into(),
                contents: Embedded::Blob(vec![3]),
            });
        let w = crate::__private::to_wit(Ok(out)).unwrap();
        assert_eq!(w.text, "two blocks");
        assert!(
            matches!(&w.content[0], wit::ContentBlock::Image(b) if b.data == [1, 2] && b.mime_type == "image/png")
        );
        assert!(matches!(&w.content[1], wit::ContentBlock::Resource(r)
            if r.uri == "falcon://x" && matches!(&r.contents, wit::Contents::Blob(b) if b == &[3])));
    }
}
