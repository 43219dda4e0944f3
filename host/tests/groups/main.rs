//! End-to-end tests of the tool groups added for breadth (Spotlight, Intel, correlation rules,
//! cases, CAO hunting, Identity, cloud, Threat Graph, NG-SIEM content, RTR and detections
//! extensions), one module per group, in one test binary: each binary links the whole host, so
//! one binary for all of them keeps build time and disk flat as groups are added.
//!
//! Each module drives the real `aerie` binary with its embedded plugin against the simulator over
//! real HTTP through rmcp's client, and covers every tool of its group with its error paths (bad
//! argument, not found, missing scope, writes disabled, preview without confirm).

#[path = "../support/mod.rs"]
mod support;

mod cao_hunting;
mod cases;
mod cloud;
mod correlation;
mod detections_ext;
mod identity;
mod intel;
mod investigation;
mod ngsiem_ext;
mod rtr_ext;
mod spotlight;
mod threat_graph;
