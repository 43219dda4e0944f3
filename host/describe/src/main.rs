//! Prints one line per first-party plugin: its package name, a space, and the JSON of what its
//! `describe()` and `describe-features()` return. `host/build.rs` runs this (built natively)
//! and embeds each description beside the component, so the server lists the embedded plugins'
//! tools without compiling them; `host/tests/loading.rs` checks that each equals what the
//! component itself returns.

macro_rules! describe {
    ($($krate:ident),* $(,)?) => {
        $(println!("{} {}", stringify!($krate), $krate::__aerie_description_json());)*
    };
}

fn main() {
    describe!(
        aerie_plugin_cao_hunting,
        aerie_plugin_cases,
        aerie_plugin_cloud,
        aerie_plugin_correlation,
        aerie_plugin_detections,
        aerie_plugin_hosts,
        aerie_plugin_hunting,
        aerie_plugin_identity,
        aerie_plugin_intel,
        aerie_plugin_ngsiem,
        aerie_plugin_prevention,
        aerie_plugin_rtr,
        aerie_plugin_spotlight,
        aerie_plugin_threat_graph
    );
}
