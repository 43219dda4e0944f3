//! The host's own playbooks: the ones that span tool groups written by different plugins, so
//! no single plugin owns them. Enriching an indicator joins Falcon Intelligence with hunting
//! and the event search; reviewing a vulnerability joins Spotlight with hosts, prevention and
//! cases. The playbooks of one group (triage an alert, hunt a hash or IP, investigate or
//! contain a host) live in that group's plugin.

use std::sync::OnceLock;

use crate::runtime::mcp::{Content, Message, Prompt, PromptArgument, Role};

/// The host's prompts.
pub(super) fn all() -> &'static [Prompt] {
    static ALL: OnceLock<Vec<Prompt>> = OnceLock::new();
    ALL.get_or_init(|| vec![enrich_indicator(), review_vulnerability()])
}

fn arg(name: &str, description: &str, required: bool, completer: Option<&str>) -> PromptArgument {
    PromptArgument {
        name: name.into(),
        description: description.into(),
        required,
        default: None,
        completer: completer.map(str::to_string),
        ask: None,
    }
}

fn user(text: &str) -> Vec<Message> {
    vec![Message {
        role: Role::User,
        content: Content::Text(text.into()),
    }]
}

fn names(tools: &[&str]) -> Vec<String> {
    tools.iter().map(|t| t.to_string()).collect()
}

fn enrich_indicator() -> Prompt {
    Prompt {
        name: "enrich_indicator".into(),
        title: "Enrich an indicator".into(),
        description: "What Falcon knows about a hash, IP or domain: intelligence, actors, sightings in this tenant, custom IOCs.".into(),
        arguments: vec![
            arg("indicator", "SHA-256, MD5, IPv4/IPv6 address or domain", true, None),
            PromptArgument {
                default: Some("7d".into()),
                ..arg("window", "How far back to look for sightings, e.g. 24h or 30d (default 7d)", false, None)
            },
        ],
        messages: user(
            "Enrich the indicator {indicator} and report what is known about it, with sources.\n\
             \n\
             1. Intelligence: call intel_search_indicators for {indicator}; note its type, malicious confidence, labels, kill-chain phases and the actors and malware families it is tied to.\n\
             2. Actors: for each actor named, call intel_search_actors or intel_get_actor and summarise motivation, targeted industries and regions, and recent activity.\n\
             3. Custom IOCs: call hunting_list_iocs with value {indicator} to see whether this tenant already blocks or detects it, and with which action and expiry.\n\
             4. Sightings in the tenant over {window}: for a hash, call hunting_query_hash (hosts it ran on, alerts); for an IP, call hunting_query_ip; for a hash, threat_graph_ran_on lists process executions. For wider context run the CQL they return with ngsiem_query.\n\
             5. Conclude: malicious, suspicious, benign or unknown, with the evidence for it, the hosts affected, and the next action (create an IOC, open a case, investigate a host). Say which sources had nothing.",
        ),
        tools: names(&["hunting_list_iocs"]),
        optional_tools: names(&[
            "intel_search_indicators",
            "intel_search_actors",
            "intel_get_actor",
            "hunting_query_hash",
            "hunting_query_ip",
            "threat_graph_ran_on",
            "ngsiem_query",
        ]),
    }
}

fn review_vulnerability() -> Prompt {
    Prompt {
        name: "review_vulnerability".into(),
        title: "Review a vulnerability".into(),
        description: "Exposure to one CVE across the tenant (or one host): affected hosts, severity, exploitation, remediation, and a case when it matters.".into(),
        arguments: vec![
            arg("cve_id", "CVE identifier, e.g. CVE-2024-3400", true, Some("cve_id")),
            arg("hostname", "Only this host (optional)", false, Some("hostname")),
        ],
        messages: user(
            "Review vulnerability {cve_id} in this tenant (host filter: {hostname}).\n\
             \n\
             1. Exposure: call spotlight_search for {cve_id} (add the host filter when one is given); count open findings by status and list the affected hosts. For a single host, spotlight_host_vulns lists everything open on it.\n\
             2. Details: call spotlight_get on one finding for the CVE's severity, CVSS, ExPRT rating, exploit status and the remediation Falcon recommends.\n\
             3. Hosts: call hosts_get (or hosts_search by name) on the affected hosts for OS, product type, last seen and containment, so internet-facing servers and domain controllers come first.\n\
             4. Threat context: intel_search_indicators with the CVE shows whether actors exploit it.\n\
             5. Compensating controls: prevention_list_policies shows which prevention policies cover the affected platforms.\n\
             6. Report: risk (critical, high, medium, low) with the reason, the hosts to patch first, the remediation, and whether to open a case; if the risk is high or critical, open one with cases_create naming the CVE and the hosts.",
        ),
        tools: names(&["spotlight_search"]),
        optional_tools: names(&[
            "spotlight_host_vulns",
            "spotlight_get",
            "hosts_get",
            "hosts_search",
            "intel_search_indicators",
            "prevention_list_policies",
            "cases_create",
        ]),
    }
}
