//! The operation table: operation id → method, path, required scope, service name, handler.

use crate::engine::{Endpoint, Family};
use crate::envelope::{ApiResult, Req};
use crate::world::Ctx;
use crate::{alerts, host_groups, hosts, incidents, iocs, ngsiem, prevention, rtr, rtr_batch};

/// A handler: runs with the world locked.
pub(crate) type Handler = fn(&mut Ctx<'_>, &Req) -> ApiResult;

/// How a route is answered.
#[derive(Clone, Copy)]
pub(crate) enum Serve {
    /// A hand-written handler.
    Fn(Handler),
    /// An endpoint of a declared family, answered by the engine.
    Engine(&'static Family, &'static Endpoint),
}

/// One served operation.
#[derive(Clone, Copy)]
pub(crate) struct Route {
    /// Falcon operation id.
    pub op: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path; `{x}` segments capture parameters.
    pub path: &'static str,
    /// Scope the caller's API client needs.
    pub scope: &'static str,
    /// `meta.powered_by` of this service.
    pub powered_by: &'static str,
    /// How it is answered.
    pub serve: Serve,
}

impl Route {
    /// Answer `req`.
    pub fn handle(&self, cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
        match self.serve {
            Serve::Fn(h) => h(cx, req),
            Serve::Engine(f, ep) => crate::engine::serve(f, ep, cx, req),
        }
    }
}

macro_rules! r {
    ($op:expr, $m:expr, $p:expr, $s:expr, $pb:expr, $h:expr) => {
        Route {
            op: $op,
            method: $m,
            path: $p,
            scope: $s,
            powered_by: $pb,
            serve: Serve::Fn($h),
        }
    };
}

const RTR: &str = "empower-api";
const DEV: &str = "device-api";
const HG: &str = "device-api";
const IOC: &str = "ioc-manager";
const POL: &str = "policy-api";
const INC: &str = "incident-api";
const DET: &str = "detectsapi";
const SIEM: &str = "ngsiem-api";

/// Every operation the simulator serves.
pub(crate) static ROUTES: &[Route] = &[
    // Alerts
    r!(
        "GetQueriesAlertsV2",
        "GET",
        "/alerts/queries/alerts/v2",
        "alerts:read",
        DET,
        alerts::query
    ),
    r!(
        "PostEntitiesAlertsV2",
        "POST",
        "/alerts/entities/alerts/v2",
        "alerts:read",
        DET,
        alerts::get_entities
    ),
    r!(
        "PatchEntitiesAlertsV3",
        "PATCH",
        "/alerts/entities/alerts/v3",
        "alerts:write",
        DET,
        alerts::patch
    ),
    r!(
        "PostAggregatesAlertsV2",
        "POST",
        "/alerts/aggregates/alerts/v2",
        "alerts:read",
        DET,
        alerts::aggregates
    ),
    r!(
        "PostCombinedAlertsV1",
        "POST",
        "/alerts/combined/alerts/v1",
        "alerts:read",
        DET,
        alerts::combined
    ),
    // Incidents
    r!(
        "QueryIncidents",
        "GET",
        "/incidents/queries/incidents/v1",
        "incidents:read",
        INC,
        incidents::query_incidents
    ),
    r!(
        "GetIncidents",
        "POST",
        "/incidents/entities/incidents/GET/v1",
        "incidents:read",
        INC,
        incidents::get_incidents
    ),
    r!(
        "QueryBehaviors",
        "GET",
        "/incidents/queries/behaviors/v1",
        "incidents:read",
        INC,
        incidents::query_behaviors
    ),
    r!(
        "GetBehaviors",
        "POST",
        "/incidents/entities/behaviors/GET/v1",
        "incidents:read",
        INC,
        incidents::get_behaviors
    ),
    r!(
        "PerformIncidentAction",
        "POST",
        "/incidents/entities/incident-actions/v1",
        "incidents:write",
        INC,
        incidents::perform_action
    ),
    r!(
        "CrowdScore",
        "GET",
        "/incidents/combined/crowdscores/v1",
        "incidents:read",
        INC,
        incidents::crowdscore
    ),
    // Hosts
    r!(
        "QueryDevicesByFilter",
        "GET",
        "/devices/queries/devices/v1",
        "hosts:read",
        DEV,
        hosts::query
    ),
    r!(
        "QueryDevicesByFilterScroll",
        "GET",
        "/devices/queries/devices-scroll/v1",
        "hosts:read",
        DEV,
        hosts::query_scroll
    ),
    r!(
        "QueryHiddenDevices",
        "GET",
        "/devices/queries/devices-hidden/v1",
        "hosts:read",
        DEV,
        hosts::query_hidden
    ),
    r!(
        "CombinedDevicesByFilter",
        "GET",
        "/devices/combined/devices/v1",
        "hosts:read",
        DEV,
        hosts::combined
    ),
    r!(
        "PostDeviceDetailsV2",
        "POST",
        "/devices/entities/devices/v2",
        "hosts:read",
        DEV,
        hosts::post_details
    ),
    r!(
        "GetDeviceDetailsV2",
        "GET",
        "/devices/entities/devices/v2",
        "hosts:read",
        DEV,
        hosts::get_details
    ),
    r!(
        "PerformActionV2",
        "POST",
        "/devices/entities/devices-actions/v2",
        "hosts:write",
        DEV,
        hosts::perform_action
    ),
    r!(
        "UpdateDeviceTags",
        "PATCH",
        "/devices/entities/devices/tags/v1",
        "hosts:write",
        DEV,
        hosts::update_tags
    ),
    r!(
        "GetOnlineState_V1",
        "GET",
        "/devices/entities/online-state/v1",
        "hosts:read",
        "cs.agentonline",
        hosts::online_state
    ),
    r!(
        "QueryDeviceLoginHistory",
        "POST",
        "/devices/combined/devices/login-history/v1",
        "hosts:read",
        DEV,
        hosts::login_history
    ),
    r!(
        "QueryGetNetworkAddressHistoryV1",
        "POST",
        "/devices/combined/devices/network-address-history/v1",
        "hosts:read",
        DEV,
        hosts::network_history
    ),
    // Host groups
    r!(
        "queryHostGroups",
        "GET",
        "/devices/queries/host-groups/v1",
        "host-group:read",
        HG,
        host_groups::query
    ),
    r!(
        "queryCombinedHostGroups",
        "GET",
        "/devices/combined/host-groups/v1",
        "host-group:read",
        HG,
        host_groups::combined
    ),
    r!(
        "getHostGroups",
        "GET",
        "/devices/entities/host-groups/v1",
        "host-group:read",
        HG,
        host_groups::get
    ),
    r!(
        "createHostGroups",
        "POST",
        "/devices/entities/host-groups/v1",
        "host-group:write",
        HG,
        host_groups::create
    ),
    r!(
        "updateHostGroups",
        "PATCH",
        "/devices/entities/host-groups/v1",
        "host-group:write",
        HG,
        host_groups::update
    ),
    r!(
        "deleteHostGroups",
        "DELETE",
        "/devices/entities/host-groups/v1",
        "host-group:write",
        HG,
        host_groups::delete
    ),
    r!(
        "performGroupAction",
        "POST",
        "/devices/entities/host-group-actions/v1",
        "host-group:write",
        HG,
        host_groups::action
    ),
    r!(
        "queryGroupMembers",
        "GET",
        "/devices/queries/host-group-members/v1",
        "host-group:read",
        HG,
        host_groups::members
    ),
    r!(
        "queryCombinedGroupMembers",
        "GET",
        "/devices/combined/host-group-members/v1",
        "host-group:read",
        HG,
        host_groups::combined_members
    ),
    // IOCs
    r!(
        "indicator_search_v1",
        "GET",
        "/iocs/queries/indicators/v1",
        "ioc:read",
        IOC,
        iocs::search
    ),
    r!(
        "indicator_combined_v1",
        "GET",
        "/iocs/combined/indicator/v1",
        "ioc:read",
        IOC,
        iocs::combined
    ),
    r!(
        "indicator_get_v1",
        "GET",
        "/iocs/entities/indicators/v1",
        "ioc:read",
        IOC,
        iocs::get
    ),
    r!(
        "indicator_create_v1",
        "POST",
        "/iocs/entities/indicators/v1",
        "ioc:write",
        IOC,
        iocs::create
    ),
    r!(
        "indicator_update_v1",
        "PATCH",
        "/iocs/entities/indicators/v1",
        "ioc:write",
        IOC,
        iocs::update
    ),
    r!(
        "indicator_delete_v1",
        "DELETE",
        "/iocs/entities/indicators/v1",
        "ioc:write",
        IOC,
        iocs::delete
    ),
    r!(
        "indicator_get_device_count_v1",
        "GET",
        "/iocs/aggregates/indicators/device-count/v1",
        "ioc:read",
        IOC,
        iocs::device_count
    ),
    r!(
        "indicator_get_devices_ran_on_v1",
        "GET",
        "/iocs/queries/indicators/devices/v1",
        "ioc:read",
        IOC,
        iocs::devices_ran_on
    ),
    r!(
        "indicator_get_processes_ran_on_v1",
        "GET",
        "/iocs/queries/indicators/processes/v1",
        "ioc:read",
        IOC,
        iocs::processes_ran_on
    ),
    r!(
        "DevicesCount",
        "GET",
        "/indicators/aggregates/devices-count/v1",
        "ioc:read",
        IOC,
        iocs::device_count
    ),
    r!(
        "DevicesRanOn",
        "GET",
        "/indicators/queries/devices/v1",
        "ioc:read",
        IOC,
        iocs::devices_ran_on
    ),
    r!(
        "ProcessesRanOn",
        "GET",
        "/indicators/queries/processes/v1",
        "ioc:read",
        IOC,
        iocs::processes_ran_on
    ),
    r!(
        "ioc_type_query_v1",
        "GET",
        "/iocs/queries/ioc-types/v1",
        "ioc:read",
        IOC,
        iocs::types
    ),
    r!(
        "platform_query_v1",
        "GET",
        "/iocs/queries/platforms/v1",
        "ioc:read",
        IOC,
        iocs::platforms
    ),
    r!(
        "severity_query_v1",
        "GET",
        "/iocs/queries/severities/v1",
        "ioc:read",
        IOC,
        iocs::severities
    ),
    r!(
        "action_query_v1",
        "GET",
        "/iocs/queries/actions/v1",
        "ioc:read",
        IOC,
        iocs::actions
    ),
    // RTR
    r!(
        "RTR_InitSession",
        "POST",
        "/real-time-response/entities/sessions/v1",
        "real-time-response:read",
        RTR,
        rtr::init_session
    ),
    r!(
        "RTR_PulseSession",
        "POST",
        "/real-time-response/entities/refresh-session/v1",
        "real-time-response:read",
        RTR,
        rtr::pulse_session
    ),
    r!(
        "RTR_DeleteSession",
        "DELETE",
        "/real-time-response/entities/sessions/v1",
        "real-time-response:read",
        RTR,
        rtr::delete_session
    ),
    r!(
        "RTR_ListAllSessions",
        "GET",
        "/real-time-response/queries/sessions/v1",
        "real-time-response:read",
        RTR,
        rtr::list_all_sessions
    ),
    r!(
        "RTR_ListSessions",
        "POST",
        "/real-time-response/entities/sessions/GET/v1",
        "real-time-response:read",
        RTR,
        rtr::list_sessions
    ),
    r!(
        "RTR_ExecuteCommand",
        "POST",
        "/real-time-response/entities/command/v1",
        "real-time-response:read",
        RTR,
        rtr::execute_read_only
    ),
    r!(
        "RTR_CheckCommandStatus",
        "GET",
        "/real-time-response/entities/command/v1",
        "real-time-response:read",
        RTR,
        rtr::check_status
    ),
    r!(
        "RTR_ExecuteActiveResponderCommand",
        "POST",
        "/real-time-response/entities/active-responder-command/v1",
        "real-time-response:write",
        RTR,
        rtr::execute_active_responder
    ),
    r!(
        "RTR_CheckActiveResponderCommandStatus",
        "GET",
        "/real-time-response/entities/active-responder-command/v1",
        "real-time-response:write",
        RTR,
        rtr::check_status
    ),
    r!(
        "RTR_ExecuteAdminCommand",
        "POST",
        "/real-time-response/entities/admin-command/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::execute_admin
    ),
    r!(
        "RTR_CheckAdminCommandStatus",
        "GET",
        "/real-time-response/entities/admin-command/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::check_status
    ),
    r!(
        "RTR_ListFilesV2",
        "GET",
        "/real-time-response/entities/file/v2",
        "real-time-response:write",
        RTR,
        rtr::list_files
    ),
    r!(
        "RTR_DeleteFileV2",
        "DELETE",
        "/real-time-response/entities/file/v2",
        "real-time-response:write",
        RTR,
        rtr::delete_file
    ),
    r!(
        "RTR_GetExtractedFileContents",
        "GET",
        "/real-time-response/entities/extracted-file-contents/v1",
        "real-time-response:write",
        RTR,
        rtr::extracted_file_contents
    ),
    r!(
        "RTR_ListPut_Files",
        "GET",
        "/real-time-response/queries/put-files/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::list_put_files
    ),
    r!(
        "RTR_GetPut_Files",
        "GET",
        "/real-time-response/entities/put-files/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::get_put_files
    ),
    r!(
        "RTR_GetPut_FilesV2",
        "GET",
        "/real-time-response/entities/put-files/v2",
        "real-time-response-admin:write",
        RTR,
        rtr::get_put_files
    ),
    r!(
        "RTR_CreatePut_Files",
        "POST",
        "/real-time-response/entities/put-files/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::create_put_file
    ),
    r!(
        "RTR_CreatePut_FilesV2",
        "POST",
        "/real-time-response/entities/put-files/v2",
        "real-time-response-admin:write",
        RTR,
        rtr::create_put_file
    ),
    r!(
        "RTR_DeletePut_Files",
        "DELETE",
        "/real-time-response/entities/put-files/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::delete_put_file
    ),
    r!(
        "RTR_GetPutFileContents",
        "GET",
        "/real-time-response/entities/put-file-contents/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::put_file_contents
    ),
    r!(
        "RTR_ListScripts",
        "GET",
        "/real-time-response/queries/scripts/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::list_scripts
    ),
    r!(
        "RTR_GetScripts",
        "GET",
        "/real-time-response/entities/scripts/v1",
        "real-time-response-admin:write",
        RTR,
        rtr::get_scripts
    ),
    r!(
        "RTR_GetScriptsV2",
        "GET",
        "/real-time-response/entities/scripts/v2",
        "real-time-response-admin:write",
        RTR,
        rtr::get_scripts
    ),
    r!(
        "BatchInitSessions",
        "POST",
        "/real-time-response/combined/batch-init-session/v1",
        "real-time-response:read",
        RTR,
        rtr_batch::init
    ),
    r!(
        "BatchRefreshSessions",
        "POST",
        "/real-time-response/combined/batch-refresh-session/v1",
        "real-time-response:read",
        RTR,
        rtr_batch::refresh
    ),
    r!(
        "BatchCmd",
        "POST",
        "/real-time-response/combined/batch-command/v1",
        "real-time-response:read",
        RTR,
        rtr_batch::command_read_only
    ),
    r!(
        "BatchActiveResponderCmd",
        "POST",
        "/real-time-response/combined/batch-active-responder-command/v1",
        "real-time-response:write",
        RTR,
        rtr_batch::command_active_responder
    ),
    r!(
        "BatchAdminCmd",
        "POST",
        "/real-time-response/combined/batch-admin-command/v1",
        "real-time-response-admin:write",
        RTR,
        rtr_batch::command_admin
    ),
    r!(
        "BatchGetCmd",
        "POST",
        "/real-time-response/combined/batch-get-command/v1",
        "real-time-response:write",
        RTR,
        rtr_batch::get
    ),
    r!(
        "BatchGetCmdStatus",
        "GET",
        "/real-time-response/combined/batch-get-command/v1",
        "real-time-response:write",
        RTR,
        rtr_batch::get_status
    ),
    // Prevention policies
    r!(
        "queryPreventionPolicies",
        "GET",
        "/policy/queries/prevention/v1",
        "prevention-policies:read",
        POL,
        prevention::query
    ),
    r!(
        "queryCombinedPreventionPolicies",
        "GET",
        "/policy/combined/prevention/v1",
        "prevention-policies:read",
        POL,
        prevention::combined
    ),
    r!(
        "getPreventionPolicies",
        "GET",
        "/policy/entities/prevention/v1",
        "prevention-policies:read",
        POL,
        prevention::get
    ),
    r!(
        "createPreventionPolicies",
        "POST",
        "/policy/entities/prevention/v1",
        "prevention-policies:write",
        POL,
        prevention::create
    ),
    r!(
        "updatePreventionPolicies",
        "PATCH",
        "/policy/entities/prevention/v1",
        "prevention-policies:write",
        POL,
        prevention::update
    ),
    r!(
        "deletePreventionPolicies",
        "DELETE",
        "/policy/entities/prevention/v1",
        "prevention-policies:write",
        POL,
        prevention::delete
    ),
    r!(
        "performPreventionPoliciesAction",
        "POST",
        "/policy/entities/prevention-actions/v1",
        "prevention-policies:write",
        POL,
        prevention::action
    ),
    r!(
        "setPreventionPoliciesPrecedence",
        "POST",
        "/policy/entities/prevention-precedence/v1",
        "prevention-policies:write",
        POL,
        prevention::precedence
    ),
    r!(
        "queryPreventionPolicyMembers",
        "GET",
        "/policy/queries/prevention-members/v1",
        "prevention-policies:read",
        POL,
        prevention::members
    ),
    r!(
        "queryCombinedPreventionPolicyMembers",
        "GET",
        "/policy/combined/prevention-members/v1",
        "prevention-policies:read",
        POL,
        prevention::combined_members
    ),
    // NG-SIEM
    r!(
        "StartSearchV1",
        "POST",
        "/humio/api/v1/repositories/{repository}/queryjobs",
        "ngsiem:read",
        SIEM,
        ngsiem::start
    ),
    r!(
        "GetSearchStatusV1",
        "GET",
        "/humio/api/v1/repositories/{repository}/queryjobs/{id}",
        "ngsiem:read",
        SIEM,
        ngsiem::status
    ),
    r!(
        "StopSearchV1",
        "DELETE",
        "/humio/api/v1/repositories/{repository}/queryjobs/{id}",
        "ngsiem:read",
        SIEM,
        ngsiem::stop
    ),
];

/// Finds the route for a method and path, returning captured `{}` parameters.
pub(crate) fn find(method: &str, path: &str) -> Option<(&'static Route, Vec<String>)> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    'outer: for r in all().iter().filter(|r| r.method == method) {
        let pat: Vec<&str> = r.path.split('/').collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        for (p, s) in pat.iter().zip(&segs) {
            if p.starts_with('{') {
                if s.is_empty() {
                    continue 'outer;
                }
                params.push(s.to_string());
            } else if p != s {
                continue 'outer;
            }
        }
        return Some((r, params));
    }
    None
}

/// The hand-written routes followed by every declared family's endpoints.
fn all() -> &'static [Route] {
    static ALL: std::sync::LazyLock<Vec<Route>> = std::sync::LazyLock::new(|| {
        let engine = crate::families::all().flat_map(|f| {
            f.endpoints.iter().map(move |ep| Route {
                op: ep.op,
                method: ep.method,
                path: ep.path,
                scope: ep.scope,
                powered_by: f.powered_by,
                serve: Serve::Engine(f, ep),
            })
        });
        ROUTES.iter().copied().chain(engine).collect()
    });
    &ALL
}

/// The route table as (operation id, method, path, scope) for docs and tests.
pub fn operations() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    all()
        .iter()
        .map(|r| (r.op, r.method, r.path, r.scope))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_and_params() {
        let (r, p) = find("GET", "/humio/api/v1/repositories/search-all/queryjobs/abc").unwrap();
        assert_eq!(r.op, "GetSearchStatusV1");
        assert_eq!(p, vec!["search-all", "abc"]);
        assert_eq!(
            find("POST", "/devices/entities/devices/v2").unwrap().0.op,
            "PostDeviceDetailsV2"
        );
        assert_eq!(
            find("GET", "/devices/entities/devices/v2").unwrap().0.op,
            "GetDeviceDetailsV2"
        );
        assert!(find("GET", "/nope").is_none());
        let mut ops: Vec<_> = all().iter().map(|r| (r.method, r.path)).collect();
        let n = ops.len();
        ops.sort();
        ops.dedup();
        assert_eq!(n, ops.len(), "no duplicate routes");
    }
}
