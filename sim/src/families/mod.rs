//! The declared families (see [`crate::engine`]): one module per Falcon family, each a list of
//! [`Family`] declarations — its collections, their seed generators and endpoints.
//!
//! The tenant generator fills the collections of the oldest families first (hosts, alerts,
//! incidents, IOCs, groups, policies: [`crate::engine::Store::Tenant`], one RNG stream with the
//! links between them); the seeded families follow in the order below, so a family can link to
//! those and to the families before it. Each seeded family draws from an RNG of its own, so
//! adding one never changes another's data.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::engine::{Family, seed_family};
use crate::world::World;

mod alerts;
mod cao_hunting;
mod cases;
mod cloud;
mod correlation;
mod host_groups;
pub(crate) mod hosts;
mod identity;
mod incidents;
mod intel;
pub(crate) mod iocs;
mod ngsiem_content;
pub(crate) mod prevention;
mod spotlight;
#[cfg(test)]
pub(crate) mod testkit;
mod threat_graph;

/// Every declared family, in seeding order.
pub(crate) fn all() -> impl Iterator<Item = &'static Family> {
    [
        hosts::FAMILIES,
        alerts::FAMILIES,
        incidents::FAMILIES,
        host_groups::FAMILIES,
        prevention::FAMILIES,
        iocs::FAMILIES,
        spotlight::FAMILIES,
        intel::FAMILIES,
        threat_graph::FAMILIES,
        correlation::FAMILIES,
        cases::FAMILIES,
        cao_hunting::FAMILIES,
        cloud::FAMILIES,
        identity::FAMILIES,
        ngsiem_content::FAMILIES,
    ]
    .into_iter()
    .flatten()
}

/// Generate every declared family into `w`.
pub(crate) fn seed_all(w: &mut World, seed: u64, now: i64) {
    for f in all() {
        let mut rng = StdRng::seed_from_u64(seed ^ name_hash(f.name));
        seed_family(w, f, &mut rng, now);
    }
}

/// FNV-1a of the family name: a per-family RNG stream that does not depend on the order.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
