//! The API client scope each Falcon operation needs, so a 403 can say which scope to add.
//!
//! A copy of the `scope` column of the host's catalogue (`host/catalogue/operations.toml`); the
//! unit test below fails when the two drift apart. Third-party plugins calling operations not
//! listed here can name the scope with [`crate::Call::scope`].

/// Operation id → console scope name.
const SCOPES: &[(&str, &str)] = &[
    ("GetQueriesAlertsV2", "Alerts:read"),
    ("PostEntitiesAlertsV2", "Alerts:read"),
    ("PatchEntitiesAlertsV3", "Alerts:write"),
    ("PostAggregatesAlertsV2", "Alerts:read"),
    ("PostCombinedAlertsV1", "Alerts:read"),
    ("QueryDetects", "Detections:read"),
    ("GetDetectSummaries", "Detections:read"),
    ("UpdateDetectsByIdsV2", "Detections:write"),
    ("QueryIncidents", "Incidents:read"),
    ("GetIncidents", "Incidents:read"),
    ("PerformIncidentAction", "Incidents:write"),
    ("QueryBehaviors", "Incidents:read"),
    ("GetBehaviors", "Incidents:read"),
    ("CrowdScore", "Incidents:read"),
    ("QueryDevicesByFilter", "Hosts:read"),
    ("QueryDevicesByFilterScroll", "Hosts:read"),
    ("CombinedDevicesByFilter", "Hosts:read"),
    ("PostDeviceDetailsV2", "Hosts:read"),
    ("GetDeviceDetailsV2", "Hosts:read"),
    ("GetOnlineState_V1", "Hosts:read"),
    ("QueryDeviceLoginHistory", "Hosts:read"),
    ("QueryDeviceLoginHistoryV2", "Hosts:read"),
    ("QueryGetNetworkAddressHistoryV1", "Hosts:read"),
    ("QueryHiddenDevices", "Hosts:read"),
    ("PerformActionV2", "Hosts:write"),
    ("UpdateDeviceTags", "Hosts:write"),
    ("queryHostGroups", "Host Groups:read"),
    ("queryCombinedHostGroups", "Host Groups:read"),
    ("getHostGroups", "Host Groups:read"),
    ("queryGroupMembers", "Host Groups:read"),
    ("queryCombinedGroupMembers", "Host Groups:read"),
    ("createHostGroups", "Host Groups:write"),
    ("updateHostGroups", "Host Groups:write"),
    ("deleteHostGroups", "Host Groups:write"),
    ("performGroupAction", "Host Groups:write"),
    ("indicator_search_v1", "IOC Management:read"),
    ("indicator_combined_v1", "IOC Management:read"),
    ("indicator_get_v1", "IOC Management:read"),
    ("indicator_get_device_count_v1", "IOC Management:read"),
    ("indicator_get_devices_ran_on_v1", "IOC Management:read"),
    ("indicator_get_processes_ran_on_v1", "IOC Management:read"),
    ("entities_processes", "IOC Management:read"),
    ("indicator_create_v1", "IOC Management:write"),
    ("indicator_update_v1", "IOC Management:write"),
    ("indicator_delete_v1", "IOC Management:write"),
    ("RTR_InitSession", "Real time response:read"),
    ("RTR_PulseSession", "Real time response:read"),
    ("RTR_ListAllSessions", "Real time response:read"),
    ("RTR_ListSessions", "Real time response:read"),
    ("RTR_DeleteSession", "Real time response:read"),
    ("RTR_ExecuteCommand", "Real time response:read"),
    ("RTR_CheckCommandStatus", "Real time response:read"),
    (
        "RTR_ExecuteActiveResponderCommand",
        "Real time response:write",
    ),
    (
        "RTR_CheckActiveResponderCommandStatus",
        "Real time response:write",
    ),
    (
        "RTR_ExecuteAdminCommand",
        "Real time response (admin):write",
    ),
    (
        "RTR_CheckAdminCommandStatus",
        "Real time response (admin):write",
    ),
    ("RTR_ListFilesV2", "Real time response:write"),
    ("RTR_DeleteFileV2", "Real time response:write"),
    ("RTR_GetExtractedFileContents", "Real time response:write"),
    ("RTR_ListPut_Files", "Real time response (admin):write"),
    ("RTR_GetPut_FilesV2", "Real time response (admin):write"),
    ("RTR_CreatePut_FilesV2", "Real time response (admin):write"),
    ("RTR_DeletePut_Files", "Real time response (admin):write"),
    ("RTR_ListScripts", "Real time response (admin):write"),
    ("RTR_GetScriptsV2", "Real time response (admin):write"),
    ("BatchInitSessions", "Real time response:read"),
    ("BatchRefreshSessions", "Real time response:read"),
    ("BatchCmd", "Real time response:read"),
    ("BatchActiveResponderCmd", "Real time response:write"),
    ("BatchAdminCmd", "Real time response (admin):write"),
    ("BatchGetCmd", "Real time response:write"),
    ("BatchGetCmdStatus", "Real time response:write"),
    ("queryPreventionPolicies", "Prevention Policies:read"),
    (
        "queryCombinedPreventionPolicies",
        "Prevention Policies:read",
    ),
    ("getPreventionPolicies", "Prevention Policies:read"),
    ("queryPreventionPolicyMembers", "Prevention Policies:read"),
    (
        "queryCombinedPreventionPolicyMembers",
        "Prevention Policies:read",
    ),
    ("createPreventionPolicies", "Prevention Policies:write"),
    ("updatePreventionPolicies", "Prevention Policies:write"),
    ("deletePreventionPolicies", "Prevention Policies:write"),
    (
        "performPreventionPoliciesAction",
        "Prevention Policies:write",
    ),
    (
        "setPreventionPoliciesPrecedence",
        "Prevention Policies:write",
    ),
    ("StartSearchV1", "NGSIEM:read"),
    ("GetSearchStatusV1", "NGSIEM:read"),
    ("StopSearchV1", "NGSIEM:write"),
    ("combinedQueryVulnerabilities", "Vulnerabilities:read"),
    ("queryVulnerabilities", "Vulnerabilities:read"),
    ("getVulnerabilities", "Vulnerabilities:read"),
    ("getRemediationsV2", "Vulnerabilities:read"),
    (
        "QueryIntelActorEntities",
        "Actors (Falcon Intelligence):read",
    ),
    (
        "QueryIntelIndicatorEntities",
        "Indicators (Falcon Intelligence):read",
    ),
    (
        "QueryIntelReportEntities",
        "Reports (Falcon Intelligence):read",
    ),
    ("GetMitreReport", "Actors (Falcon Intelligence):read"),
    ("combined_rules_get_v2", "Correlation Rules:read"),
    ("entities_rules_get_v2", "Correlation Rules:read"),
    ("entities_rules_patch_v1", "Correlation Rules:write"),
    ("queries_cases_get_v1", "Cases:read"),
    ("entities_cases_post_v2", "Cases:read"),
    ("entities_cases_put_v2", "Cases:write"),
    ("entities_cases_patch_v2", "Cases:write"),
];

/// The scope Falcon requires for `operation`, when known.
pub fn scope_for(operation: &str) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, scope)| *scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pull `id`/`scope` pairs out of the catalogue without a TOML parser: every entry has an
    /// `id = "…"` line followed (within the entry) by a `scope = "…"` line.
    fn catalogue_pairs(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut id: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            let value = |l: &str| {
                l.split_once('=')
                    .map(|(_, v)| v.trim().trim_matches('"').to_string())
            };
            if line.starts_with("id =") {
                id = value(line);
            } else if line.starts_with("scope =")
                && let (Some(i), Some(s)) = (id.take(), value(line))
            {
                out.push((i, s));
            }
        }
        out
    }

    #[test]
    fn table_matches_host_catalogue() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../host/catalogue/operations.toml"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            // Built outside the aerie workspace (e.g. from a published crate): nothing to compare.
            return;
        };
        let pairs = catalogue_pairs(&text);
        assert!(!pairs.is_empty());
        for (op, scope) in &pairs {
            assert_eq!(scope_for(op), Some(scope.as_str()), "scope of {op}");
        }
        assert_eq!(
            pairs.len(),
            SCOPES.len(),
            "SCOPES has entries the catalogue lacks"
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(scope_for("PerformActionV2"), Some("Hosts:write"));
        assert_eq!(scope_for("NoSuchOp"), None);
    }
}
