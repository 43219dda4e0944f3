//! The hunting group's MCP features: the playbook to hunt a hash or an IP across the tenant.

use aerie_sdk::{Arg, Message, Plugin, Prompt};

const HUNT: Prompt = Prompt::new(
    "hunt_indicator",
    "Hunt a hash or IP",
    "Where a file hash or IP address was seen in the tenant: hosts, alerts, events, intelligence, and whether to block it.",
)
.args(&[
    Arg::required("indicator", "SHA-256 or MD5 hash, or an IPv4/IPv6 address"),
    Arg::optional("window", "How far back to search events, e.g. 24h or 30d (default 7d)").default("7d"),
    Arg::optional("repository", "NG-SIEM repository for the event search (default search-all)")
        .default("search-all")
        .complete("repository"),
])
.messages(&[Message::user(
    "Hunt for {indicator} across the tenant and report where it was seen.\n\
     \n\
     1. Sightings: for a hash, hunting_query_hash (hosts it ran on, their names and platforms, and the alerts on it); for an IP, hunting_query_ip (hosts that have or contacted the address, alerts, and a CQL query for the network events).\n\
     2. Execution detail: for a hash, threat_graph_ran_on lists the process executions on each host.\n\
     3. Events over {window}: run the CQL from step 1 (or write one on the hash or address) with ngsiem_query in repository {repository}, start {window}; note the first and last time seen and the parent processes or remote ports.\n\
     4. Intelligence: intel_search_indicators on {indicator} for its reputation, malware families and actors.\n\
     5. Existing coverage: hunting_list_iocs with value {indicator} shows whether a custom IOC already detects or blocks it.\n\
     6. Report: every host involved with first and last seen, the alerts, a verdict, and the response: block it with hunting_create_ioc (action prevent for a hash, detect for an IP unless told otherwise), investigate a host (the investigate_host prompt), or open a case with cases_create.",
)])
.tools(&["hunting_query_hash", "hunting_query_ip"])
.optional(&[
    "threat_graph_ran_on",
    "ngsiem_query",
    "intel_search_indicators",
    "hunting_list_iocs",
    "hunting_create_ioc",
    "cases_create",
]);

/// Add the group's prompts to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.prompt(&HUNT)
}
