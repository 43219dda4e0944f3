//! First-party plugins compiled to WebAssembly by `build.rs` and embedded in the binary, so one
//! file is a complete server.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
