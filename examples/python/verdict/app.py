"""`verdict`: one triage verdict for an alert or a host, from the alert, its host, the host's other
recent alerts, and what Falcon knows about its indicators (custom IOCs, other hosts that saw them).

Build: python3 -m aerie_plugin build examples/python/verdict -o verdict.wasm
"""

import re

from aerie_plugin import Ctx, Fql, NotFound, Output, Plugin, arg, ids, since

plugin = Plugin("verdict", "0.1.0", "Triage verdicts: alert + host + related alerts + indicators")

ALERT_OPS = ["PostEntitiesAlertsV2", "GetDeviceDetailsV2", "GetQueriesAlertsV2",
             "indicator_combined_v1", "indicator_get_devices_ran_on_v1"]
WINDOW = arg("7d", "How far back to look at the host's alerts: 30m, 24h, 7d, 2w",
             pattern=r"^[0-9]{1,4}[mhdw]$")
URL_HOST = re.compile(r"https?://([A-Za-z0-9.-]+)")
OPEN = ("new", "in_progress", "reopened")


def indicators(alert: dict) -> list:
    """(type, value) of the alert's file hash, the domains in its command lines, remote IPs."""
    found = [("sha256", alert["sha256"])] if alert.get("sha256") else []
    lines = [alert.get("cmdline", ""), (alert.get("parent_details") or {}).get("cmdline", "")]
    found += [("domain", d.lower()) for line in lines for d in URL_HOST.findall(line or "")]
    found += [("ipv4", n["remote_address"]) for n in alert.get("network_accesses") or []
              if n.get("remote_address")]
    return list(dict.fromkeys(found))


def host_alerts(ctx: Ctx, aid: str, window: str, limit: int) -> list:
    """The host's alerts in the window, newest first: every page up to `limit`."""
    f = Fql().eq("agent_id", aid).gte("created_timestamp", since(window)).build()
    page = ctx.pages("GetQueriesAlertsV2", limit=limit, page_size=50,
                     query={"filter": f, "sort": "created_timestamp|desc"})
    return ctx.hydrate("PostEntitiesAlertsV2", page.results, key="composite_ids", batch=100)


def ioc_hits(ctx: Ctx, found: list) -> list:
    """Custom IOCs that match any of the indicators (one request for all of them)."""
    if not found:
        return []
    f = Fql().any_of("value", [v for _, v in found]).build()
    iocs = ctx.call("indicator_combined_v1", query={"filter": f, "limit": 100}).resources
    return [i for i in iocs if (i.get("type"), i.get("value")) in found]


def seen_elsewhere(ctx: Ctx, found: list, aid: str) -> dict:
    """For each indicator, how many other hosts ran or contacted it."""
    out = {}
    for kind, value in found:
        env = ctx.call("indicator_get_devices_ran_on_v1",
                       query={"type": kind, "value": value, "limit": 100})
        out[value] = env.total - (1 if aid in env.ids() else 0)
    return out


def judge(alert: dict, host: dict, related: list, hits: list, spread: dict) -> dict:
    """Score the evidence into a verdict with the reasons that moved it."""
    score, reasons = 0, []

    def add(points: int, why: str) -> None:
        nonlocal score
        score += points
        reasons.append(why)

    sev = alert.get("severity", 0)
    if sev >= 70:
        add(2, f"high severity ({sev})")
    elif sev >= 50:
        add(1, f"medium severity ({sev})")
    for i in hits:
        if i.get("action") in ("prevent", "detect") and i.get("severity") in ("high", "critical"):
            add(3, f"{i['type']} {i['value']} is a custom IOC ({i['action']}, {i['severity']}): "
                   f"{i.get('description', '')}".rstrip(": "))
        else:
            add(1, f"{i['type']} {i['value']} is a custom IOC ({i.get('action')})")
    wide = {v: n for v, n in spread.items() if n > 0}
    if wide:
        add(1, "indicators seen on other hosts: " +
            ", ".join(f"{v} ({n})" for v, n in wide.items()))
    open_related = [a for a in related if a.get("status") in OPEN]
    if len(open_related) >= 2:
        add(1, f"{len(open_related)} other open alerts on the host in the window")
    benign = [a for a in related if "false_positive" in (a.get("tags") or [])
              and a.get("name") == alert.get("name")]
    if benign or "false_positive" in (alert.get("tags") or []):
        add(-3, f"the same detection was closed as a false positive on this host "
                f"({len(benign) or 1} time(s))")
    if alert.get("pattern_disposition_details", {}).get("process_blocked"):
        reasons.append("the sensor blocked the process")
    if host.get("status") == "contained":
        reasons.append("the host is already contained")
    verdict = ("likely_true_positive" if score >= 4 else
               "likely_benign" if score <= 0 else "needs_review")
    return {"verdict": verdict, "score": score, "reasons": reasons or ["no signal either way"]}


@plugin.read("verdict_alert", "Verdict for an alert", ops=ALERT_OPS)
def verdict_alert(ctx: Ctx,
                  alert_id: str = arg(description="Composite alert id", max_length=300),
                  window: str = WINDOW) -> Output:
    """One triage verdict for an alert (likely_true_positive, needs_review, likely_benign) with
    its reasons and evidence: the alert, its host, the host's other recent alerts, and whether
    its hash, domains and IPs are custom IOCs or seen on other hosts."""
    alert_id = ids.composite_alert_id(alert_id)
    alerts = ctx.call("PostEntitiesAlertsV2", body={"composite_ids": [alert_id]}).resources
    if not alerts:
        raise NotFound(f"alert {alert_id}")
    alert = alerts[0]
    aid = alert.get("agent_id") or alert["device"]["device_id"]
    ctx.progress(1, 4, "alert fetched")
    hosts = ctx.call("GetDeviceDetailsV2", query={"ids": [aid]}, allow=[404]).resources
    host = hosts[0] if hosts else {}
    related = [a for a in host_alerts(ctx, aid, window, 100) if a["composite_id"] != alert_id]
    ctx.progress(2, 4, "related alerts fetched")
    found = indicators(alert)
    hits = ioc_hits(ctx, found)
    spread = seen_elsewhere(ctx, found, aid)
    ctx.progress(3, 4, "indicators checked")
    result = judge(alert, host, related, hits, spread)
    result["evidence"] = {
        "alert": alert_id, "alert_name": alert.get("name"), "host": aid,
        "hostname": host.get("hostname"), "related_alerts": [a["composite_id"] for a in related],
        "iocs": [i["id"] for i in hits], "indicators": [{"type": k, "value": v,
                                                          "other_hosts": spread.get(v, 0)}
                                                         for k, v in found]}
    summary = (f"{result['verdict']} (score {result['score']}) for {alert.get('name')} on "
               f"{host.get('hostname', aid)}: " + "; ".join(result["reasons"]))
    return Output.json(summary, result)


@plugin.read("verdict_host", "Verdicts for a host's alerts", ops=ALERT_OPS)
def verdict_host(ctx: Ctx, aid: str = arg(description="Host id (AID), 32 hex"),
                 window: str = WINDOW,
                 limit: int = arg(20, "Most alerts to judge", min=1, max=200)) -> Output:
    """Verdicts for a host's open alerts in the window, worst first, with the evidence shared by
    all of them: custom IOCs among their indicators and how widely those were seen."""
    aid = ids.aid(aid)
    hosts = ctx.call("GetDeviceDetailsV2", query={"ids": [aid]}, allow=[404]).resources
    if not hosts:
        raise NotFound(f"host {aid}")
    alerts = host_alerts(ctx, aid, window, limit)
    found = list(dict.fromkeys(x for a in alerts for x in indicators(a)))
    hits, spread = ioc_hits(ctx, found), seen_elsewhere(ctx, found, aid)
    judged = []
    for a in (a for a in alerts if a.get("status") in OPEN):
        mine = indicators(a)
        v = judge(a, hosts[0], [b for b in alerts if b is not a],
                  [i for i in hits if (i["type"], i["value"]) in mine],
                  {v: spread.get(v, 0) for _, v in mine})
        judged.append({"alert": a["composite_id"], "name": a.get("name"), **v})
    judged.sort(key=lambda j: -j["score"])
    worst = judged[0]["verdict"] if judged else "likely_benign"
    summary = (f"{hosts[0].get('hostname', aid)}: {len(judged)} open alert(s) in {window}, "
               f"worst verdict {worst}")
    return Output.json(summary, {"host": aid, "hostname": hosts[0].get("hostname"),
                                 "worst": worst, "alerts": judged,
                                 "iocs": [i["id"] for i in hits]})


Tools = plugin.export()
