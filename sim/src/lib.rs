//! `falcon-sim`: a faithful local simulator of the CrowdStrike Falcon REST API.
//!
//! It serves the Falcon operations an MCP server uses on loopback, from a deterministic tenant
//! generated from a seed, so tests, benchmarks, plugin authors and `aerie demo` can run without a
//! Falcon tenant. Wherever a client can tell, it behaves like the real service: OAuth2 (201,
//! `expires_in`, expiry, revoke), per-client scopes (403 `access denied, authorization failed`),
//! the `{meta, resources, errors}` envelope and headers, success codes per operation kind,
//! partial 404s for unknown ids, FQL filters and sorts, the 10,000 offset window, `after` and
//! scroll cursors, rate limiting, state that changes (containment, alert triage, IOCs, groups,
//! policies, RTR sessions, NG-SIEM jobs), and fault injection.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = falcon_sim::Simulator::start(falcon_sim::SimConfig::default()).await?;
//! println!("{} {} {}", sim.base_url(), falcon_sim::DEMO_CLIENT_ID, falcon_sim::DEMO_CLIENT_SECRET);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What is simulated
//!
//! | Family | Operations (see [`operations`] for method, path and scope) |
//! | --- | --- |
//! | OAuth2 | `oauth2AccessToken`, `oauth2RevokeToken` (no scope) |
//! | Alerts | `GetQueriesAlertsV2`, `PostEntitiesAlertsV2`, `PatchEntitiesAlertsV3`, `PostAggregatesAlertsV2`, `PostCombinedAlertsV1` |
//! | Incidents | `QueryIncidents`, `GetIncidents`, `QueryBehaviors`, `GetBehaviors`, `PerformIncidentAction`, `CrowdScore` |
//! | Hosts | `QueryDevicesByFilter`, `QueryDevicesByFilterScroll`, `QueryHiddenDevices`, `CombinedDevicesByFilter`, `PostDeviceDetailsV2`, `GetDeviceDetailsV2`, `PerformActionV2`, `UpdateDeviceTags`, `GetOnlineState_V1`, `QueryDeviceLoginHistory`, `QueryGetNetworkAddressHistoryV1` |
//! | Host groups | `queryHostGroups`, `queryCombinedHostGroups`, `getHostGroups`, `createHostGroups`, `updateHostGroups`, `deleteHostGroups`, `performGroupAction`, `queryGroupMembers`, `queryCombinedGroupMembers` |
//! | IOCs | `indicator_search_v1`, `indicator_combined_v1`, `indicator_get_v1`, `indicator_create_v1`, `indicator_update_v1`, `indicator_delete_v1`, `indicator_get_device_count_v1`, `indicator_get_devices_ran_on_v1`, `indicator_get_processes_ran_on_v1`, legacy `DevicesCount`/`DevicesRanOn`/`ProcessesRanOn`, lookup lists |
//! | RTR | sessions (init, pulse, delete, list), read-only / active-responder / admin commands and their status, files (`get`, list, delete, extracted contents), put-files, scripts (`runscript -CloudFile`), batches (init, refresh, commands at the three tiers, batch `get` and its status) |
//! | Prevention | query, combined, get, create, update, delete, actions, precedence, members |
//! | Spotlight | `combinedQueryVulnerabilities` (facets), `queryVulnerabilities`, `getVulnerabilities`, `getRemediationsV2`, `combinedSupportedEvaluationExt` (scope `spotlight-vulnerabilities:read`) |
//! | Intel | actors, reports, indicators (combined, id queries, entities), `GetMitreReport` (JSON or CSV), `GetIntelReportPDF` (scopes `falconx-actors:read`, `falconx-reports:read`, `falconx-indicators:read`) |
//! | Cases | `queries_cases_get_v1`, `entities_cases_post_v2` (read), `entities_cases_put_v2`, `entities_cases_patch_v2` (`expected_version`), alert/event evidence, case tags; case files (multipart upload, file details, RTR file metadata, recent RTR file); `/casemgmt/` fields and access tags (scopes `cases:read`, `cases:write`) |
//! | Correlation rules | `queries_rules_get_v1`, `combined_rules_get_v1`, `entities_rules_get_v1`, `entities_rules_patch_v1` (a list body; `status` enables), `queries_templates_get_v1Mixin0`, `entities_templates_get_v1Mixin0` (scopes `correlation-rules:read`, `correlation-rules:write`) |
//! | CAO hunting | `SearchIntelligenceQueries`, `GetIntelligenceQueries` (translations on request), `SearchHuntingGuides`, `GetHuntingGuides`, `AggregateIntelligenceQueries`, `AggregateHuntingGuides` (scope `cao-hunting:read`) |
//! | Threat Graph | `queries_edgetypes_get`, `combined_edges_get` (one vertex, `edge_type`, `direction`), `combined_ran_on_get`, `combined_summary_get`, `entities_vertices_getv2`: a view derived per request from alerts and events (scope `threatgraph:read`) |
//! | Cloud security | `GetCSPMAwsAccount`, `GetCSPMAzureAccount`, `GetCSPMGCPAccount` (207 for unknown ids), `GetCSPMPolicySettings`, `cloud_security_assets_queries`/`_entities_get`, `cspm_evaluations_iom_queries`/`_entities`, `combined_cloud_risks`, `cloud_security_assets_combined_compliance_by_account`; flat filter names, clamped limits (scopes `cspm-registration:read`, `cloud-security-assets:read`, `cloud-security-detections:read`, `cloud-security:read`) |
//! | Identity Protection | `api_preempt_proxy_post_graphql`: a validated GraphQL subset (`entities`, `countEntities`, `timeline`; fragments, variables, `@include`/`@skip`) answering raw `{data, errors, extensions}` (scope `identity-protection-graphql:write`, plus `identity-protection-entities:read` / `identity-protection-timeline:read` per root field) |
//! | NG-SIEM content | saved queries, dashboards, parsers (lists and YAML templates), lookup files (names, bytes), data connections and their status, connectors and their configurations (scope `ngsiem:read`) |
//! | NG-SIEM | `StartSearchV1`, `GetSearchStatusV1`, `StopSearchV1` over generated events, with a CQL subset |
//!
//! Scopes are `<api>:<read|write>` strings: `alerts`, `hosts`, `host-group`, `incidents`, `ioc`,
//! `real-time-response` (read for sessions and read-only commands, write for active-responder
//! commands and files), `real-time-response-admin` (write), `prevention-policies`, `ngsiem`,
//! `spotlight-vulnerabilities`. A client with scope `"*"` holds all of them.
//!
//! The tenant (seed 42 by default): 520 hosts (Windows, Mac, Linux; servers, workstations, domain
//! controllers; online and offline; tags, groups, policies, login and address history), 1,200
//! endpoint alerts over 30 days with MITRE tactics and process trees (children in the
//! telemetry), 22 alerts from NG-SIEM correlation rules (with their indicator and matched
//! events), Falcon Cloud Security, Identity Protection and third-party connectors (with their
//! payload), incidents and behaviors built from the endpoint alerts, CrowdScores, 40 IOCs, 8 host
//! groups, 8 prevention policies (a `platform_default` per
//! platform), Spotlight findings, about 12,900 NG-SIEM events over 7 days (`ProcessRollup2`, `DnsRequest`,
//! `NetworkConnectIP4`, `UserLogon`) whose hashes and IPs overlap the alerts, RTR scripts, and a
//! small virtual file system per host for RTR. Timestamps are relative to
//! [`SimConfig::generated_at`] (default: start time), so `now-24h` filters find data. The same
//! seed and `generated_at` give byte-identical data.
//!
//! # Demo credentials
//!
//! [`DEMO_CLIENT_ID`] / [`DEMO_CLIENT_SECRET`] hold every scope. Add clients with narrower scopes
//! through [`SimConfig::clients`].
//!
//! # Well-known test values
//!
//! Present in every tenant, whatever the seed: [`KNOWN_BAD_SHA256`] (alerts on
//! [`KNOWN_HOSTNAME`], `ProcessRollup2` events, a `prevent` IOC, device-count > 0),
//! [`KNOWN_BAD_MD5`], [`KNOWN_BAD_IP`] (alert `network_accesses`, `NetworkConnectIP4` events, an
//! IOC), [`KNOWN_BAD_DOMAIN`] (command lines, `DnsRequest` events, an IOC), hosts
//! [`KNOWN_HOSTNAME`] (Windows, online, user [`KNOWN_USER`], file
//! `C:\Users\jdoe\Downloads\invoice.exe` for RTR `get`), [`KNOWN_LINUX_HOSTNAME`],
//! [`KNOWN_MAC_HOSTNAME`] and [`KNOWN_CONTAINED_HOSTNAME`] (starts contained).
//! [`KNOWN_CVE`] is open on [`KNOWN_HOSTNAME`] (beside other open, exploited CVEs) and on many
//! other hosts. The known-bad hash, MD5, IP and domain are Intel indicators of [`KNOWN_ACTOR`],
//! cited by report [`KNOWN_REPORT`]; that actor exploits a CVE open on [`KNOWN_HOSTNAME`].
//!
//! # Admin endpoints (no auth, loopback test hooks, not logged, not faulted)
//!
//! - `GET /_sim/requests` — the request log as JSON (the newest 50,000 requests); `DELETE /_sim/requests` clears it.
//! - `GET /_sim/faults`, `POST /_sim/faults` with a [`Faults`] JSON object (missing fields = 0).
//! - `POST /_sim/expire-tokens` — every issued token answers 401 from now on.
//! - `GET /_sim/token-requests` — `{"count": N}`.
//! - `GET /_sim/info` — CID, counts, demo credentials and the well-known values; `GET /_sim/health`.
//!
//! # Deviations from the real API (choices where the sources are silent or unverifiable)
//!
//! - Rate limits are per API client (the real bucket is per CID, shared by its clients);
//!   unauthenticated requests have a 15/min per-IP bucket and `/oauth2/token` 300/min per IP.
//!   The 429 message is `API rate limit exceeded.`.
//! - Faults other than latency and the `token_*` bursts do not apply to `/oauth2/*`.
//! - FQL: plain string equality is case-insensitive, `[...]` sets are exact; unknown fields and
//!   bad sorts are 400 with messages of our own wording. The offset window answers
//!   `limit + offset must be less than 10000` on hosts and
//!   `offset N and limit M are invalid; offset + limit must be less than or equal to 10000` elsewhere,
//!   refusing only when offset + limit exceeds 10,000.
//! - Entity GETs: unknown ids become `errors[]` items with code 404 and the id; the status is 404
//!   only if no id was found. `meta.pagination.offset` echoes the request offset.
//! - Containment of an offline host stays `containment_pending` (the sensor never acknowledges).
//!   Containing an already contained host is accepted without change (the real 409 is undocumented).
//! - IOCs: `prevent`/`allow`/`prevent_no_ui` only for hashes; duplicates and invalid indicators
//!   refuse the whole request with 400 (`Duplicate type: 'T' and value: 'V' combination.`).
//!   Device count for a never-seen value answers 200 with `device_count: 0`.
//! - RTR: chunk size is [`SimConfig::rtr_chunk_size`] (64 KiB); `complete` is true on the last
//!   chunk. Commands of an offline-queued session never complete. Archives use AES-256 with
//!   2^8 key-derivation rounds (7-Zip's default is 2^19; any 7-Zip reads either).
//!   Batch commands answer every host's output inline at once (no host is slow); a batch
//!   `get`'s files are listed after [`SimConfig::rtr_command_polls`] status polls. `runscript
//!   -CloudFile` runs a script of the library: unknown scripts and other platforms are the
//!   command's stderr (wording ours), and the script's run counters move.
//! - Alerts of other products: `type` values (`ngsiem-rule-trigger-event`, `fcs-ioa`,
//!   `idp-detection`, `thirdparty`), cloud alerts' product `cwpp` and the payload field names of
//!   cloud, identity and third-party alerts are our choice; composite ids follow the
//!   `<cid>:<ind|ngsiem|fcs|ldt|thirdparty>:…` forms crowdstrike-mcp parses. An NG-SIEM alert's
//!   matched events carry `Ngsiem.detection.id`, and one indicator event (`Ngsiem.indicator.id`
//!   = the composite id's last part) names the detection.
//! - NG-SIEM: `StopSearchV1` answers 204. Invalid CQL answers 400 with the gateway error
//!   envelope and a message `Syntax error at line 1, column C: …` (the live service sometimes
//!   answers 200 with no events instead). Free-text terms match case-insensitively across all
//!   field values (there is no `@rawstring`). `or` binds tighter than `and`, as in LogScale.
//! - NG-SIEM content: `search_domain` / `repository` are required and checked but do not
//!   partition the content; saved-query and dashboard lists answer with records (`id`, `name`,
//!   `last_modified`), which the swagger declares as strings (ids).
//! - Threat Graph: `scope` and `nano` are validated but do not change the answer; edge records
//!   carry `id` (the other end), `edge_type`, `source_vertex_id`, `target_vertex_id`,
//!   `direction`, `timestamp`, `properties`; offsets are opaque tokens.
//! - Identity Protection: a missing entities/timeline read scope answers 403 `access denied,
//!   authorization failed` before the document runs; `extensions` spends one point per root
//!   field plus one per hundred objects from 500,000 per API client (never reset); enum values
//!   of incident `type`, `bindingType` and password `strength` are illustrative.
//! - CSPM registration: `status=operational` selects valid accounts, `provisioned` the others.
//! - Only the operations listed above exist; anything else is 404 `Not Found`.

#![recursion_limit = "256"]

mod admin;
mod aggregate;
mod alert_kinds;
mod catalog;
mod config;
mod cql;
mod engine;
mod envelope;
mod families;
mod faults;
mod fql;
mod ngsiem;
mod oauth;
mod ratelimit;
mod routes;
mod rtr;
mod rtr_batch;
mod rtr_output;
mod server;
mod tenant;
mod timeutil;
mod world;

pub use config::{ALL_SCOPES, ApiClient, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Faults, SimConfig};
pub use ngsiem::REPOSITORIES;
pub use routes::operations;
pub use rtr::ARCHIVE_PASSWORD;
pub use server::{RequestRecord, Simulator};
pub use tenant::{
    KNOWN_ACTOR, KNOWN_BAD_DOMAIN, KNOWN_BAD_IP, KNOWN_BAD_MD5, KNOWN_BAD_SHA256,
    KNOWN_CONTAINED_HOSTNAME, KNOWN_CVE, KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME, KNOWN_MAC_HOSTNAME,
    KNOWN_REPORT, KNOWN_USER,
};
