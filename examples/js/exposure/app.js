// exposure: how exposed a host is, from its details, its open Spotlight vulnerabilities and its
// unresolved alerts, as a score with the reasons behind it.

import { plugin, arg, Fql, Output, NotFound, collect, ids } from 'aerie-plugin';

const OPEN = ['open', 'reopen'];
const LEVELS = [[70, 'critical'], [40, 'high'], [15, 'medium'], [0, 'low']];

/** Points for one kind of finding, capped so one kind cannot dominate the score. */
const RULES = [
  { key: 'exploited', each: 25, cap: 50, why: (n) => `${n} critical/high CVE(s) with known exploits or on CISA KEV` },
  { key: 'critical', each: 5, cap: 20, why: (n) => `${n} other open critical/high CVE(s)` },
  { key: 'highAlerts', each: 15, cap: 30, why: (n) => `${n} unresolved high-severity alert(s)` },
  { key: 'otherAlerts', each: 5, cap: 10, why: (n) => `${n} other unresolved alert(s)` },
  { key: 'internet', each: 20, cap: 20, why: () => 'internet-facing' },
  { key: 'crown', each: 10, cap: 10, why: () => 'high asset criticality' },
];

function exploited(v) {
  const c = v.cve ?? {};
  return c.exploit_status >= 60 || c.is_cisa_kev === true || (c.actors ?? []).length > 0;
}

/** The score (0–100), its level and the reasons, from one host's findings. */
export function score(device, vulns, alerts) {
  const severe = vulns.filter((v) => ['CRITICAL', 'HIGH'].includes(v.cve?.severity));
  const info = vulns.find((v) => v.host_info)?.host_info ?? {};
  const counts = {
    exploited: severe.filter(exploited).length,
    critical: severe.filter((v) => !exploited(v)).length,
    highAlerts: alerts.filter((a) => a.severity >= 70).length,
    otherAlerts: alerts.filter((a) => a.severity < 70).length,
    internet: info.internet_exposure === 'Yes' || Boolean(device.external_ip && device.product_type_desc === 'Server') ? 1 : 0,
    crown: info.asset_criticality === 'High' || info.asset_criticality === 'Critical' ? 1 : 0,
  };
  const reasons = [];
  let total = 0;
  for (const r of RULES) {
    if (!counts[r.key]) continue;
    const points = Math.min(r.cap, r.each * counts[r.key]);
    total += points;
    reasons.push({ reason: r.why(counts[r.key]), points });
  }
  const value = Math.min(100, total);
  return { score: value, level: LEVELS.find(([min]) => value >= min)[1], reasons };
}

/** The agent id of a hostname or id argument. */
function resolveHost(falcon, host) {
  if (ids.isAid(host)) return ids.aid(host);
  const filter = new Fql().eq('hostname', host).build();
  const found = falcon.send('QueryDevicesByFilter', { query: { filter, limit: 1 } }).resources;
  if (!found.length) throw new NotFound(`no host named ${host}; check the spelling or give its agent id`);
  return found[0];
}

function openVulns(falcon, aidFilter, limit) {
  const filter = new Fql().raw(aidFilter).anyOf('status', OPEN).build();
  return collect(falcon, 'combinedQueryVulnerabilities', { query: { filter, facet: ['cve', 'host_info'] }, limit });
}

function openAlerts(falcon, aidFilter, days, limit) {
  const filter = new Fql().raw(aidFilter).ne('status', 'closed').gte('created_timestamp', `now-${days}d`).build();
  const found = collect(falcon, 'GetQueriesAlertsV2', { query: { filter }, limit });
  if (!found.resources.length) return [];
  return falcon.send('PostEntitiesAlertsV2', { body: { composite_ids: found.resources } }).resources;
}

const cveSummary = (v) => ({ id: v.cve?.id, severity: v.cve?.severity, exploited: exploited(v), status: v.status });
const alertSummary = (a) => ({ id: a.composite_id, name: a.display_name ?? a.name, severity: a.severity, status: a.status, created: a.created_timestamp });

function hostExposure({ host, days, max_vulns }, { falcon, progress }) {
  const aid = resolveHost(falcon, host);
  const device = falcon.send('GetDeviceDetailsV2', { query: { ids: aid }, subject: `host ${aid}` }).resources[0];
  if (!device) throw new NotFound(`host ${aid}`);
  progress(1, 3, 'vulnerabilities');
  const byAid = new Fql().eq('aid', aid).build();
  const vulns = openVulns(falcon, byAid, max_vulns);
  progress(2, 3, 'alerts');
  const alerts = openAlerts(falcon, new Fql().eq('device.device_id', aid).build(), days, 500);
  const s = score(device, vulns.resources, alerts);
  const result = {
    host: { device_id: aid, hostname: device.hostname, platform: device.platform_name, os_version: device.os_version, status: device.status, last_seen: device.last_seen },
    ...s,
    vulnerabilities: { open: vulns.resources.length, has_more: vulns.hasMore, items: vulns.resources.map(cveSummary) },
    alerts: { unresolved: alerts.length, days, items: alerts.map(alertSummary) },
  };
  const why = s.reasons.map((r) => `${r.reason} (+${r.points})`).join('; ') || 'nothing found';
  return Output.json(`${device.hostname}: exposure ${s.score}/100 (${s.level}): ${why}.`, result);
}

function topExposure({ filter, hosts, days }, { falcon, progress }) {
  const aids = collect(falcon, 'QueryDevicesByFilter', { query: { filter: new Fql().raw(filter).build() }, limit: hosts }).resources;
  if (!aids.length) return Output.json('No hosts matched.', { hosts: [] });
  const devices = falcon.send('GetDeviceDetailsV2', { query: { ids: aids } }).resources;
  progress(1, 2, 'vulnerabilities and alerts');
  const vulns = openVulns(falcon, new Fql().anyOf('aid', aids).build(), 5000).resources;
  const alerts = openAlerts(falcon, new Fql().anyOf('device.device_id', aids).build(), days, 1000);
  const ranked = devices
    .map((d) => {
      const s = score(d, vulns.filter((v) => v.aid === d.device_id), alerts.filter((a) => a.device?.device_id === d.device_id));
      return { device_id: d.device_id, hostname: d.hostname, ...s };
    })
    .sort((a, b) => b.score - a.score);
  const lines = ranked.map((r) => `${r.hostname} ${r.score} (${r.level})`).join(', ');
  return Output.json(`Most exposed of ${ranked.length} host(s): ${lines}.`, { hosts: ranked });
}

const days = arg.int({ min: 1, max: 90, default: 30, description: 'Alerts created in the last N days' });

export default plugin({ name: 'exposure', version: '0.1.0', description: 'Host exposure scores from vulnerabilities, alerts and host details' })
  .tool(
    {
      name: 'exposure_host',
      title: 'Host exposure',
      description: 'Exposure score (0-100) of one host with the reasons: exploitable CVEs, internet exposure, unresolved alerts.',
      operations: ['QueryDevicesByFilter', 'GetDeviceDetailsV2', 'combinedQueryVulnerabilities', 'GetQueriesAlertsV2', 'PostEntitiesAlertsV2'],
      args: {
        host: arg.string({ required: true, minLength: 1, maxLength: 255, description: 'Hostname or agent id (32 hex)' }),
        days,
        max_vulns: arg.int({ min: 1, max: 1000, default: 200, description: 'Most open vulnerabilities to read' }),
      },
    },
    hostExposure,
  )
  .tool(
    {
      name: 'exposure_top',
      title: 'Most exposed hosts',
      description: 'Rank the hosts matching an FQL host filter (e.g. a host group) by exposure score.',
      operations: ['QueryDevicesByFilter', 'GetDeviceDetailsV2', 'combinedQueryVulnerabilities', 'GetQueriesAlertsV2', 'PostEntitiesAlertsV2'],
      args: {
        filter: arg.string({ maxLength: 1000, description: "FQL over hosts, e.g. groups:'<group id>' or platform_name:'Linux'" }),
        hosts: arg.int({ min: 1, max: 100, default: 20, description: 'Most hosts to rank' }),
        days,
      },
    },
    topExposure,
  );
