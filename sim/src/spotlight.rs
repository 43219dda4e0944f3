//! Spotlight vulnerabilities: `filter` is required; `after` cursors; facets add sub-objects.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::envelope::{ApiError, ApiResult, Envelope, Req};
use crate::world::{Ctx, Window, entities_response, page_check, query_ids};

const PB: &str = "spotlight-api";
const FACETS: &[&str] = &["host_info", "remediation", "cve", "evaluation_logic"];

fn page(cx: &Ctx<'_>, req: &Req, max: usize) -> Result<(Vec<Value>, Value), ApiError> {
    let filter = req
        .q("filter")
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("filter is required"))?;
    let limit = match req.q("limit") {
        None | Some("") => 100,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit '{s}'")))?,
    };
    page_check(0, limit, max, 1, Window::None)?;
    let sort = req.q("sort").unwrap_or("").to_string();
    let offset = match req.q("after").filter(|s| !s.is_empty()) {
        None => 0,
        Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("spotlight:")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .ok_or_else(|| ApiError::bad_request("invalid after token"))?,
    };
    let all =
        cx.w.vulns
            .select(Some(filter), Some(&sort), "", cx.now, |_| true)?;
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let next = offset + items.len();
    let mut p = json!({"limit": limit, "total": all.len()});
    if next < all.len() {
        p["after"] = json!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("spotlight:{next}"))
        );
    }
    Ok((items, p))
}

/// `combinedQueryVulnerabilities`.
pub(crate) fn combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let facets = req.q_list("facet");
    if let Some(f) = facets.iter().find(|f| !FACETS.contains(&f.as_str())) {
        return Err(ApiError::bad_request(format!(
            "invalid facet '{f}'; must be one of {}",
            FACETS.join(", ")
        )));
    }
    let (items, p) = page(cx, req, 5000)?;
    let items = items
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                if !facets.iter().any(|f| f == "cve") {
                    let id = o
                        .get("cve")
                        .and_then(|c| c.get("id"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    o.insert("cve".into(), json!({"id": id}));
                }
                for f in ["host_info", "remediation"] {
                    if !facets.iter().any(|x| x == f) {
                        o.remove(f);
                    }
                }
            }
            v
        })
        .collect();
    Ok(Envelope::new(200, PB)
        .resources(items)
        .pagination(p)
        .into_resp())
}

/// `queryVulnerabilities`.
pub(crate) fn query(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let (items, p) = page(cx, req, 400)?;
    let ids = items.iter().map(|v| v["id"].clone()).collect();
    Ok(Envelope::new(200, PB)
        .resources(ids)
        .pagination(p)
        .into_resp())
}

/// `getVulnerabilities`.
pub(crate) fn get(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let ids = query_ids(req, "ids", 400)?;
    let (found, missing) = cx.w.vulns.lookup(&ids);
    Ok(entities_response(found, missing, PB, "Vulnerability"))
}
