//! The operation table: operation id → method, path, required scope, service name, handler.

use crate::engine::{Endpoint, Family};
use crate::envelope::{ApiResult, Req};
use crate::world::Ctx;
use crate::{ngsiem, rtr, rtr_batch};

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
const SIEM: &str = "ngsiem-api";

/// Every operation the simulator serves.
pub(crate) static ROUTES: &[Route] = &[
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
