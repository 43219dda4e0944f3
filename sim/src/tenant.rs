//! Deterministic tenant generation: the same seed and `generated_at` give byte-identical data.
//!
//! Everything is drawn from one `StdRng` seeded with the configured seed, in a fixed order, and
//! every timestamp is an offset from `generated_at`, so `now-24h` filters find data.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::{ANALYSTS, DEPTS, DETECTIONS, FIRST, LAST};
use crate::families::prevention::default_settings;
use crate::fql;
use crate::timeutil::{rfc3339_ms, rfc3339_ns, rfc3339_s};
use crate::world::{Collection, World, hex32, uuid};

/// A SHA-256 that appears in alerts, NG-SIEM events and a `prevent` IOC (a fake `invoice.exe` loader).
pub const KNOWN_BAD_SHA256: &str =
    "42265b18327115957f629c707cdbe7b95a3030be7af8fbf1cc0469675ac2e4fb";
/// The MD5 paired with [`KNOWN_BAD_SHA256`].
pub const KNOWN_BAD_MD5: &str = "5d41402abc4b2a76b9719d911017c592";
/// A command-and-control IPv4 that appears in alerts (`network_accesses`), events and an IOC.
pub const KNOWN_BAD_IP: &str = "203.0.113.66";
/// A malicious domain that appears in alert command lines, DNS events and an IOC.
pub const KNOWN_BAD_DOMAIN: &str = "update-check.badcdn.example";
/// A Windows workstation present in every tenant, with alerts carrying the known-bad hash.
pub const KNOWN_HOSTNAME: &str = "WS-FIN-042";
/// A Linux server present in every tenant.
pub const KNOWN_LINUX_HOSTNAME: &str = "lnx-web-01";
/// A Mac present in every tenant.
pub const KNOWN_MAC_HOSTNAME: &str = "MAC-DES-001";
/// A Windows server that starts out contained in every tenant.
pub const KNOWN_CONTAINED_HOSTNAME: &str = "SRV-FS-09";
/// The user logged on to [`KNOWN_HOSTNAME`].
pub const KNOWN_USER: &str = "jdoe";
/// A CVE open on [`KNOWN_HOSTNAME`] and found on many other hosts (Spotlight).
pub const KNOWN_CVE: &str = "CVE-2023-4863";
/// The Intel actor whose indicators are the known-bad hash, IP and domain.
pub const KNOWN_ACTOR: &str = "GILDED SPIDER";
/// The Intel report (serial) about [`KNOWN_ACTOR`]'s loader that cites those indicators.
pub const KNOWN_REPORT: &str = "CSIT-25042";

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn md5_hex(s: &str) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// Facts about a host other generators reuse.
#[derive(Clone)]
struct HostInfo {
    aid: String,
    hostname: String,
    platform: &'static str,
    user: String,
    local_ip: String,
    external_ip: String,
    online: bool,
    server: bool,
    value: Value,
}

/// How far apart two unpinned starts may be and still share one generated tenant.
const REUSE_WINDOW_MS: i64 = 10 * 60_000;

type CacheKey = (u64, usize, usize);

/// Generated tenants, so a process that starts many simulators (test suites) generates each
/// seed once. A pinned `generated_at` must match exactly; an unpinned one (wall clock) reuses a
/// tenant generated within [`REUSE_WINDOW_MS`], which keeps `now-24h` style filters meaningful.
static CACHE: std::sync::Mutex<Vec<(CacheKey, i64, bool, World)>> =
    std::sync::Mutex::new(Vec::new());

/// A tenant for `seed` generated at `now` (from the cache when possible).
pub(crate) fn generate_cached(
    seed: u64,
    now: i64,
    pinned: bool,
    n_hosts: usize,
    n_alerts: usize,
) -> World {
    let key = (seed, n_hosts, n_alerts);
    {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.iter().find(|(k, at, was_pinned, _)| {
            *k == key
                && *was_pinned == pinned
                && if pinned {
                    *at == now
                } else {
                    (now - at).abs() < REUSE_WINDOW_MS
                }
        });
        if let Some((_, _, _, w)) = hit {
            return w.clone();
        }
    }
    let w = generate(seed, now, n_hosts, n_alerts);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    // A handful of entries covers every realistic test suite; drop the oldest beyond that.
    if cache.len() >= 8 {
        cache.remove(0);
    }
    cache.push((key, now, pinned, w.clone()));
    w
}

/// Generates the whole tenant.
pub(crate) fn generate(seed: u64, now: i64, n_hosts: usize, n_alerts: usize) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let cid = hex32(&mut rng);
    let mut hosts = gen_hosts(&mut rng, &cid, now, n_hosts.max(4));
    let groups = gen_groups(&mut rng, now, &mut hosts);
    let (policies, precedence) = gen_policies(&mut rng, &cid, now, &groups, &mut hosts);
    let mut logins = HashMap::new();
    let mut addresses = HashMap::new();
    for h in &hosts {
        logins.insert(h.aid.clone(), gen_logins(&mut rng, h, now));
        addresses.insert(h.aid.clone(), gen_addresses(&mut rng, h, now));
    }
    let mut observed: HashMap<(String, String), BTreeMap<String, Vec<String>>> = HashMap::new();
    let alerts = gen_alerts(&mut rng, &cid, now, &hosts, n_alerts, &mut observed);
    let (incidents, behaviors) = gen_incidents(&mut rng, &cid, now, &alerts, &hosts);
    let mut alerts = alerts;
    link_alerts(&mut alerts, &incidents);
    let crowdscores = gen_crowdscores(&mut rng, &cid, now, &incidents);
    let events = gen_events(&mut rng, &cid, now, &hosts, &alerts, &mut observed);
    let iocs = gen_iocs(&mut rng, now);
    let scripts = gen_scripts(&mut rng, now);
    let hidden: HashSet<String> = hosts.iter().rev().take(3).map(|h| h.aid.clone()).collect();
    let host_values: Vec<Value> = hosts.into_iter().map(|h| h.value).collect();
    let mut world = World {
        cid,
        hosts: Collection::new("device_id", host_values, &[]),
        hidden,
        transitions: HashMap::new(),
        logins,
        addresses,
        alerts: Collection::new("composite_id", alerts, &["incident.id", "incident.score"]),
        incidents: Collection::new("incident_id", incidents, &[]),
        behaviors: Collection::new("behavior_id", behaviors, &[]),
        crowdscores: Collection::new("id", crowdscores, &[]),
        iocs: Collection::new(
            "id",
            iocs,
            &[
                "severity_number",
                "metadata.av_hits",
                "metadata.filename.raw",
                "parent_cid_name",
            ],
        ),
        host_groups: Collection::new("id", groups, &[]),
        policies: Collection::new("id", policies, &["precedence"]),
        precedence,
        events,
        observed,
        sessions: BTreeMap::new(),
        commands: HashMap::new(),
        files: BTreeMap::new(),
        put_files: Collection::new(
            "id",
            Vec::new(),
            &[
                "name",
                "description",
                "created_by",
                "created_timestamp",
                "modified_timestamp",
                "file_type",
                "sha256",
                "size",
                "permission_type",
                "platform",
            ],
        ),
        put_contents: HashMap::new(),
        scripts: Collection::new("id", scripts, &[]),
        batches: HashMap::new(),
        batch_gets: HashMap::new(),
        jobs: HashMap::new(),
        cursors: HashMap::new(),
        rng: StdRng::seed_from_u64(seed ^ 0x005E_ED0F_F00D),
        generated_at: now,
        families: BTreeMap::new(),
    };
    crate::families::seed_all(&mut world, seed, now);
    crate::alert_kinds::add(&mut world, seed, now);
    world
}

fn ip_external(rng: &mut StdRng) -> String {
    let nets = ["198.51.100", "192.0.2", "203.0.113"];
    loop {
        let ip = format!(
            "{}.{}",
            nets[rng.gen_range(0..nets.len())],
            rng.gen_range(2..250)
        );
        if ip != KNOWN_BAD_IP {
            return ip;
        }
    }
}

fn mac(rng: &mut StdRng) -> String {
    let b: [u8; 3] = rng.r#gen();
    format!("00-50-56-{:02x}-{:02x}-{:02x}", b[0], b[1], b[2])
}

fn user_name(rng: &mut StdRng) -> String {
    let f = FIRST[rng.gen_range(0..FIRST.len())];
    let l = LAST[rng.gen_range(0..LAST.len())];
    format!("{}{}", &f[..1], l)
}

fn gen_hosts(rng: &mut StdRng, cid: &str, now: i64, n: usize) -> Vec<HostInfo> {
    let mut out = Vec::with_capacity(n);
    let mut used = BTreeSet::new();
    let mut counters: HashMap<String, u32> = HashMap::new();
    for i in 0..n {
        // Fixed hosts first so the well-known names exist in every tenant.
        let (platform, kind) = match i {
            0 => ("Windows", "ws"),
            1 => ("Linux", "srv"),
            2 => ("Mac", "ws"),
            3 => ("Windows", "srv"),
            _ => {
                let r: f64 = rng.r#gen();
                if r < 0.48 {
                    ("Windows", "ws")
                } else if r < 0.60 {
                    ("Windows", "srv")
                } else if r < 0.63 {
                    ("Windows", "dc")
                } else if r < 0.85 {
                    ("Linux", "srv")
                } else {
                    ("Mac", "ws")
                }
            }
        };
        let dept = DEPTS[rng.gen_range(0..DEPTS.len())];
        let hostname = match i {
            0 => KNOWN_HOSTNAME.to_string(),
            1 => KNOWN_LINUX_HOSTNAME.to_string(),
            2 => KNOWN_MAC_HOSTNAME.to_string(),
            3 => KNOWN_CONTAINED_HOSTNAME.to_string(),
            _ => loop {
                let base = match (platform, kind) {
                    ("Windows", "ws") => format!("WS-{}", dept.1),
                    ("Windows", "dc") => "DC".to_string(),
                    ("Windows", _) => format!(
                        "SRV-{}",
                        ["DB", "WEB", "APP", "FS", "EXCH", "SQL", "PRINT"][rng.gen_range(0..7)]
                    ),
                    ("Mac", _) => format!("MAC-{}", dept.1),
                    _ => format!(
                        "lnx-{}",
                        ["web", "db", "k8s-node", "build", "proxy", "kafka", "etl"]
                            [rng.gen_range(0..7)]
                    ),
                };
                let c = counters.entry(base.clone()).or_insert(0);
                *c += 1;
                let name = if platform == "Linux" || kind == "dc" || kind == "srv" {
                    format!("{base}-{:02}", *c + 1)
                } else {
                    format!("{base}-{:03}", *c + 100)
                };
                if !used.contains(&name) {
                    break name;
                }
            },
        };
        used.insert(hostname.clone());
        let dept = if i == 0 {
            ("Finance", "FIN")
        } else if i == 2 {
            ("Design", "DES")
        } else {
            dept
        };
        let aid = hex32(rng);
        let site = rng.gen_range(1..12);
        let local_ip = format!(
            "10.{site}.{}.{}",
            rng.gen_range(0..8),
            rng.gen_range(2..254)
        );
        let external_ip = ip_external(rng);
        let user = if i == 0 {
            "jdoe".to_string()
        } else {
            user_name(rng)
        };
        let (os_version, os_build, os_product, major, minor, kernel, agent): (
            &str,
            &str,
            &str,
            &str,
            &str,
            &str,
            &str,
        ) = match (platform, kind) {
            ("Windows", "ws") => *[
                (
                    "Windows 11",
                    "22631",
                    "Windows 11 Enterprise",
                    "10",
                    "0",
                    "10.0.22631.3737",
                    "7.24.19607.0",
                ),
                (
                    "Windows 11",
                    "22631",
                    "Windows 11 Pro",
                    "10",
                    "0",
                    "10.0.22631.3880",
                    "7.23.19508.0",
                ),
                (
                    "Windows 10",
                    "19045",
                    "Windows 10 Enterprise",
                    "10",
                    "0",
                    "10.0.19045.4529",
                    "7.22.19410.0",
                ),
                (
                    "Windows 10",
                    "19045",
                    "Windows 10 Pro",
                    "10",
                    "0",
                    "10.0.19045.4412",
                    "7.18.18207.0",
                ),
            ]
            .choose(rng)
            .unwrap_or(&(
                "Windows 11",
                "22631",
                "Windows 11 Enterprise",
                "10",
                "0",
                "10.0.22631.3737",
                "7.24.19607.0",
            )),
            ("Windows", _) => *[
                (
                    "Windows Server 2022",
                    "20348",
                    "Windows Server 2022 Standard",
                    "10",
                    "0",
                    "10.0.20348.2527",
                    "7.24.19607.0",
                ),
                (
                    "Windows Server 2019",
                    "17763",
                    "Windows Server 2019 Datacenter",
                    "10",
                    "0",
                    "10.0.17763.5936",
                    "7.22.19410.0",
                ),
                (
                    "Windows Server 2016",
                    "14393",
                    "Windows Server 2016 Standard",
                    "10",
                    "0",
                    "10.0.14393.7070",
                    "7.16.18613.0",
                ),
            ]
            .choose(rng)
            .unwrap_or(&(
                "Windows Server 2022",
                "20348",
                "Windows Server 2022 Standard",
                "10",
                "0",
                "10.0.20348.2527",
                "7.24.19607.0",
            )),
            ("Mac", _) => *[
                (
                    "Sonoma (14)",
                    "23F79",
                    "macOS",
                    "23",
                    "5",
                    "23.5.0",
                    "7.24.19604.0",
                ),
                (
                    "Sequoia (15)",
                    "24A335",
                    "macOS",
                    "24",
                    "0",
                    "24.0.0",
                    "7.24.19604.0",
                ),
                (
                    "Ventura (13)",
                    "22G720",
                    "macOS",
                    "22",
                    "6",
                    "22.6.0",
                    "7.22.19403.0",
                ),
            ]
            .choose(rng)
            .unwrap_or(&(
                "Sonoma (14)",
                "23F79",
                "macOS",
                "23",
                "5",
                "23.5.0",
                "7.24.19604.0",
            )),
            _ => *[
                (
                    "Ubuntu 22.04",
                    "22.04",
                    "Ubuntu",
                    "5",
                    "15",
                    "5.15.0-113-generic",
                    "7.24.19603.0",
                ),
                (
                    "RHEL 9.3",
                    "9.3",
                    "Red Hat Enterprise Linux",
                    "5",
                    "14",
                    "5.14.0-362.24.1.el9_3.x86_64",
                    "7.20.17308.0",
                ),
                (
                    "Amazon Linux 2023",
                    "2023",
                    "Amazon Linux",
                    "6",
                    "1",
                    "6.1.94-99.176.amzn2023.x86_64",
                    "7.24.19603.0",
                ),
                (
                    "Debian 12",
                    "12",
                    "Debian GNU/Linux",
                    "6",
                    "1",
                    "6.1.0-21-amd64",
                    "7.17.16703.0",
                ),
            ]
            .choose(rng)
            .unwrap_or(&(
                "Ubuntu 22.04",
                "22.04",
                "Ubuntu",
                "5",
                "15",
                "5.15.0-113-generic",
                "7.24.19603.0",
            )),
        };
        let (product_type, product_desc) = match kind {
            "ws" => ("1", "Workstation"),
            "dc" => ("2", "Domain Controller"),
            _ => ("3", "Server"),
        };
        let r: f64 = rng.r#gen();
        let last_seen = if i < 4 || r < 0.86 {
            now - rng.gen_range(5_000..9 * MIN)
        } else if r < 0.96 {
            now - rng.gen_range(DAY..7 * DAY)
        } else {
            now - rng.gen_range(10 * DAY..60 * DAY)
        };
        let online = now - last_seen < 15 * MIN;
        let first_seen = now - rng.gen_range(30 * DAY..700 * DAY);
        let mut tags = Vec::new();
        if i == 0 || rng.gen_bool(0.7) {
            tags.push(format!("FalconGroupingTags/{}", dept.0));
        }
        if kind != "ws" && rng.gen_bool(0.3) {
            tags.push("FalconGroupingTags/PCI".to_string());
        }
        if rng.gen_bool(0.15) {
            tags.push(format!("SensorGroupingTags/site-{site:02}"));
        }
        let status = if i == 3 || (i > 4 && rng.gen_bool(0.006)) {
            "contained"
        } else {
            "normal"
        };
        let (manufacturer, model) = match platform {
            "Mac" => (
                "Apple Inc.",
                *["MacBookPro18,3", "MacBookAir10,1", "Mac14,2"]
                    .choose(rng)
                    .unwrap_or(&"MacBookPro18,3"),
            ),
            "Linux" if rng.gen_bool(0.5) => ("Amazon EC2", "m5.large"),
            _ if kind == "ws" => (
                "Dell Inc.",
                *["Latitude 7440", "OptiPlex 7010", "Precision 5680"]
                    .choose(rng)
                    .unwrap_or(&"Latitude 7440"),
            ),
            _ => ("VMware, Inc.", "VMware7,1"),
        };
        let domain = if platform == "Windows" {
            "corp.example"
        } else {
            ""
        };
        let ou: Vec<&str> = match kind {
            "ws" if platform == "Windows" => vec!["Workstations", dept.0],
            "dc" => vec!["Domain Controllers"],
            _ if platform == "Windows" => vec!["Servers"],
            _ => vec![],
        };
        let serial: String = (0..7)
            .map(|_| b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"[rng.gen_range(0..34)] as char)
            .collect();
        let mac_addr = mac(rng);
        let platform_id = match platform {
            "Windows" => "0",
            "Mac" => "1",
            _ => "3",
        };
        let mut v = json!({
            "device_id": aid, "cid": cid, "hostname": hostname,
            "platform_name": platform, "platform_id": platform_id,
            "os_version": os_version, "os_build": os_build, "os_product_name": os_product,
            "major_version": major, "minor_version": minor, "kernel_version": kernel,
            "agent_version": agent, "agent_load_flags": "1",
            "agent_local_time": rfc3339_ms(last_seen - 3000),
            "config_id_base": "65994767", "config_id_build": agent.split('.').nth(2).unwrap_or("0"),
            "config_id_platform": match platform { "Windows" => "3", "Mac" => "4", _ => "8" },
            "local_ip": local_ip, "connection_ip": local_ip, "external_ip": external_ip,
            "default_gateway_ip": format!("{}.1", local_ip.rsplit_once('.').map(|x| x.0).unwrap_or("10.0.0")),
            "mac_address": mac_addr, "connection_mac_address": mac_addr,
            "machine_domain": domain, "ou": ou, "site_name": if domain.is_empty() { "" } else { "Default-First-Site-Name" },
            "first_seen": rfc3339_s(first_seen), "last_seen": rfc3339_s(last_seen),
            "modified_timestamp": rfc3339_s(last_seen + 1000),
            "last_login_user": if platform == "Windows" { format!("CORP\\{user}") } else { user.clone() },
            "last_login_timestamp": rfc3339_s(last_seen - rng.gen_range(HOUR..2 * DAY)),
            "last_reboot": rfc3339_s(last_seen - rng.gen_range(DAY..30 * DAY)),
            "status": status, "reduced_functionality_mode": "no", "provision_status": "Provisioned",
            "product_type": product_type, "product_type_desc": product_desc,
            "chassis_type": if kind == "ws" { "10" } else { "1" },
            "chassis_type_desc": if kind == "ws" { "Notebook" } else { "Other" },
            "system_manufacturer": manufacturer, "system_product_name": model, "serial_number": serial,
            "bios_manufacturer": manufacturer, "bios_version": "1.18.0",
            "cpu_vendor": "0", "pointer_size": "8",
            "groups": [], "group_hash": "", "tags": tags,
            "device_policies": {}, "policies": [],
            "filesystem_containment_status": "normal", "detection_suppression_status": "",
            "rtr_state": "", "meta": {"version": format!("{}", rng.gen_range(100..30000))},
        });
        if model == "m5.large"
            && let Some(o) = v.as_object_mut()
        {
            o.insert("service_provider".into(), json!("AWS_EC2_V2"));
            o.insert(
                "service_provider_account_id".into(),
                json!(format!(
                    "{:012}",
                    rng.gen_range(100_000_000_000u64..999_999_999_999)
                )),
            );
            o.insert(
                "instance_id".into(),
                json!(format!("i-0{}", &hex32(rng)[..16])),
            );
            o.insert("zone_group".into(), json!("us-east-1a"));
        }
        out.push(HostInfo {
            aid,
            hostname,
            platform,
            user,
            local_ip,
            external_ip,
            online,
            server: kind != "ws",
            value: v,
        });
    }
    out
}

/// Recomputes dynamic memberships for one group on all hosts (static groups untouched).
pub(crate) fn apply_dynamic_group(group: &Value, hosts: &mut [Value], now: i64) {
    let Some(gid) = group.get("id").and_then(Value::as_str) else {
        return;
    };
    let rule = group
        .get("assignment_rule")
        .and_then(Value::as_str)
        .unwrap_or("");
    let expr = fql::parse(rule).ok().flatten();
    for h in hosts.iter_mut() {
        let matches = expr.as_ref().is_some_and(|e| fql::eval(e, h, now));
        set_membership(h, gid, matches);
    }
}

/// Adds or removes a group id in a host's `groups`.
pub(crate) fn set_membership(h: &mut Value, gid: &str, member: bool) {
    if let Some(arr) = h.get_mut("groups").and_then(Value::as_array_mut) {
        let has = arr.iter().any(|g| g == gid);
        if member && !has {
            arr.push(json!(gid));
        } else if !member && has {
            arr.retain(|g| g != gid);
        }
    }
}

fn group_obj(rng: &mut StdRng, now: i64, name: &str, kind: &str, rule: &str, desc: &str) -> Value {
    let created = now - rng.gen_range(60 * DAY..400 * DAY);
    json!({
        "id": hex32(rng), "name": name, "group_type": kind, "description": desc,
        "assignment_rule": rule, "created_by": "admin@example.com",
        "created_timestamp": rfc3339_s(created), "modified_by": "admin@example.com",
        "modified_timestamp": rfc3339_s(created + rng.gen_range(0..30 * DAY)),
    })
}

fn gen_groups(rng: &mut StdRng, now: i64, hosts: &mut [HostInfo]) -> Vec<Value> {
    let specs = [
        (
            "Finance Workstations",
            "dynamic",
            "tags:'FalconGroupingTags/Finance'+platform_name:'Windows'",
            "Windows hosts tagged Finance",
        ),
        (
            "Windows Servers",
            "dynamic",
            "platform_name:'Windows'+product_type_desc:'Server'",
            "All Windows member servers",
        ),
        (
            "Domain Controllers",
            "dynamic",
            "product_type_desc:'Domain Controller'",
            "",
        ),
        (
            "Linux Production",
            "dynamic",
            "platform_name:'Linux'",
            "Every Linux server",
        ),
        ("macOS Fleet", "dynamic", "platform_name:'Mac'", "All Macs"),
        (
            "Engineering",
            "dynamic",
            "tags:'FalconGroupingTags/Engineering'",
            "",
        ),
        ("Critical Assets", "static", "", "Hand-picked crown jewels"),
        (
            "Pilot - Sensor Updates",
            "staticByID",
            "",
            "Early sensor update ring",
        ),
    ];
    let mut groups: Vec<Value> = specs
        .iter()
        .map(|(n, k, r, d)| group_obj(rng, now, n, k, r, d))
        .collect();
    let mut values: Vec<Value> = hosts.iter().map(|h| h.value.clone()).collect();
    for g in groups.iter().filter(|g| g["group_type"] == "dynamic") {
        apply_dynamic_group(g, &mut values, now);
    }
    let static_ids: Vec<String> = groups
        .iter()
        .filter(|g| g["group_type"] != "dynamic")
        .filter_map(|g| g["id"].as_str().map(String::from))
        .collect();
    for (i, v) in values.iter_mut().enumerate() {
        for (k, gid) in static_ids.iter().enumerate() {
            let pick = if k == 0 {
                i == 3 || (hosts[i].server && rng.gen_bool(0.08))
            } else {
                i == 0 || rng.gen_bool(0.04)
            };
            if pick {
                set_membership(v, gid, true);
            }
        }
    }
    for (h, v) in hosts.iter_mut().zip(values) {
        h.value = v;
    }
    for g in &mut groups {
        if let Some(o) = g.as_object_mut() {
            o.remove("_members");
        }
    }
    groups
}

#[allow(
    clippy::too_many_arguments,
    reason = "a flat list of literal policy attributes reads best at the call sites"
)]
fn policy_obj(
    rng: &mut StdRng,
    cid: &str,
    now: i64,
    name: &str,
    platform: &str,
    desc: &str,
    enabled: bool,
    level: u8,
    groups: Vec<Value>,
) -> Value {
    let created = now - rng.gen_range(100 * DAY..500 * DAY);
    json!({
        "id": hex32(rng), "cid": cid, "name": name, "description": desc,
        "platform_name": platform, "enabled": enabled, "groups": groups, "ioa_rule_groups": [],
        "prevention_settings": default_settings(platform, level),
        "created_by": if name == "platform_default" { "CS Product" } else { "admin@example.com" },
        "created_timestamp": rfc3339_ms(created), "modified_by": "admin@example.com",
        "modified_timestamp": rfc3339_ms(created + rng.gen_range(0..60 * DAY)),
    })
}

/// Assigns each host the highest-precedence enabled policy of its platform whose groups it is in.
pub(crate) fn assign_policies(
    hosts: &mut [Value],
    policies: &[Value],
    precedence: &BTreeMap<String, Vec<String>>,
    now: i64,
) {
    for h in hosts.iter_mut() {
        let platform = h["platform_name"].as_str().unwrap_or("").to_string();
        let groups: Vec<String> = h["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let order = precedence.get(&platform).cloned().unwrap_or_default();
        let mut chosen = None;
        for pid in &order {
            let Some(p) = policies.iter().find(|p| p["id"] == pid.as_str()) else {
                continue;
            };
            let default = p["name"] == "platform_default";
            let in_group = p["groups"].as_array().is_some_and(|gs| {
                gs.iter().any(|g| {
                    g["id"]
                        .as_str()
                        .is_some_and(|id| groups.iter().any(|x| x == id))
                })
            });
            if (p["enabled"] == true && in_group) || default {
                chosen = Some(p);
                break;
            }
        }
        if let Some(p) = chosen
            && let Some(o) = h.as_object_mut()
        {
            let pid = p["id"].clone();
            let already = o
                .get("device_policies")
                .and_then(|d| d.get("prevention"))
                .and_then(|x| x.get("policy_id"))
                == Some(&pid);
            if !already {
                let stamp = rfc3339_s(now);
                let hash = &sha256_hex(&pid.to_string())[..8];
                o.insert("device_policies".into(), json!({"prevention": {"policy_type": "prevention", "policy_id": pid, "applied": true, "assigned_date": stamp, "applied_date": stamp, "settings_hash": hash}}));
                o.insert("policies".into(), json!([{"policy_type": "prevention", "policy_id": pid, "applied": true, "assigned_date": stamp, "applied_date": stamp, "settings_hash": hash}]));
            }
        }
    }
}

fn gen_policies(
    rng: &mut StdRng,
    cid: &str,
    now: i64,
    groups: &[Value],
    hosts: &mut [HostInfo],
) -> (Vec<Value>, BTreeMap<String, Vec<String>>) {
    let g = |name: &str| {
        groups
            .iter()
            .filter(|x| x["name"] == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut ws = g("Finance Workstations");
    ws.extend(g("Engineering"));
    let mut srv = g("Windows Servers");
    srv.extend(g("Domain Controllers"));
    srv.extend(g("Critical Assets"));
    let mut policies = vec![
        policy_obj(
            rng,
            cid,
            now,
            "Workstations - Strict",
            "Windows",
            "Aggressive ML for user endpoints",
            true,
            3,
            ws,
        ),
        policy_obj(
            rng,
            cid,
            now,
            "Servers - Balanced",
            "Windows",
            "Moderate prevention for servers",
            true,
            2,
            srv,
        ),
        policy_obj(
            rng,
            cid,
            now,
            "Pilot - Detect Only",
            "Windows",
            "Detection-only policy for testing",
            false,
            1,
            vec![],
        ),
        policy_obj(
            rng,
            cid,
            now,
            "Linux Production",
            "Linux",
            "Prevention for production Linux",
            true,
            2,
            g("Linux Production"),
        ),
        policy_obj(
            rng,
            cid,
            now,
            "Mac Standard",
            "Mac",
            "Standard prevention for Macs",
            true,
            2,
            g("macOS Fleet"),
        ),
    ];
    for p in ["Windows", "Mac", "Linux"] {
        policies.push(policy_obj(
            rng,
            cid,
            now,
            "platform_default",
            p,
            "Platform default policy",
            true,
            1,
            vec![],
        ));
    }
    let mut precedence: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &policies {
        let platform = p["platform_name"].as_str().unwrap_or("").to_string();
        precedence
            .entry(platform)
            .or_default()
            .push(p["id"].as_str().unwrap_or("").to_string());
    }
    let mut values: Vec<Value> = hosts.iter().map(|h| h.value.clone()).collect();
    assign_policies(&mut values, &policies, &precedence, now - 20 * DAY);
    for (h, v) in hosts.iter_mut().zip(values) {
        h.value = v;
    }
    (policies, precedence)
}

fn gen_logins(rng: &mut StdRng, h: &HostInfo, now: i64) -> Vec<Value> {
    let n = rng.gen_range(3..9);
    let mut t = now - rng.gen_range(10 * MIN..2 * HOUR);
    let mut out = Vec::new();
    for k in 0..n {
        let user = if k % 3 == 2 {
            if h.platform == "Windows" {
                "CORP\\svc_backup".to_string()
            } else {
                "root".to_string()
            }
        } else if h.platform == "Windows" {
            format!("CORP\\{}", h.user)
        } else {
            h.user.clone()
        };
        out.push(json!({"login_time": rfc3339_s(t), "user_name": user}));
        t -= rng.gen_range(2 * HOUR..2 * DAY);
    }
    out
}

fn gen_addresses(rng: &mut StdRng, h: &HostInfo, now: i64) -> Vec<Value> {
    let mac = h.value["mac_address"].clone();
    let mut out = vec![
        json!({"ip_address": h.local_ip, "mac_address": mac, "timestamp": rfc3339_s(now - rng.gen_range(HOUR..3 * DAY))}),
    ];
    for _ in 0..rng.gen_range(1..4) {
        let prev = format!(
            "10.{}.{}.{}",
            rng.gen_range(1..12),
            rng.gen_range(0..8),
            rng.gen_range(2..254)
        );
        out.push(json!({"ip_address": prev, "mac_address": mac, "timestamp": rfc3339_s(now - rng.gen_range(5 * DAY..90 * DAY))}));
    }
    out
}

pub(crate) fn severity_name(s: u32) -> &'static str {
    match s {
        0..=19 => "Informational",
        20..=39 => "Low",
        40..=59 => "Medium",
        60..=79 => "High",
        _ => "Critical",
    }
}

fn observe(
    observed: &mut HashMap<(String, String), BTreeMap<String, Vec<String>>>,
    kind: &str,
    value: &str,
    aid: &str,
    pid: &str,
) {
    let e = observed
        .entry((kind.to_string(), value.to_lowercase()))
        .or_default()
        .entry(aid.to_string())
        .or_default();
    if !e.iter().any(|p| p == pid) {
        e.push(pid.to_string());
    }
}

fn gen_alerts(
    rng: &mut StdRng,
    cid: &str,
    now: i64,
    hosts: &[HostInfo],
    n: usize,
    observed: &mut HashMap<(String, String), BTreeMap<String, Vec<String>>>,
) -> Vec<Value> {
    let by_platform = |p: &str| hosts.iter().filter(|h| h.platform == p).collect::<Vec<_>>();
    let win = by_platform("Windows");
    let mac = by_platform("Mac");
    let lin = by_platform("Linux");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // The first alerts land on the well-known host so tests always find them.
        let det = if i < 3 {
            &DETECTIONS[[1, 0, 8][i]]
        } else {
            &DETECTIONS[rng.gen_range(0..DETECTIONS.len())]
        };
        let pool = match det.platform {
            "Windows" => &win,
            "Mac" => &mac,
            _ => &lin,
        };
        let host = if i < 3 {
            &hosts[0]
        } else if det.platform == "Linux" && i % 17 == 0 {
            &hosts[1]
        } else {
            pool[rng.gen_range(0..pool.len())]
        };
        let age = if i < 3 || rng.gen_bool(0.3) {
            rng.gen_range(5 * MIN..DAY)
        } else {
            rng.gen_range(DAY..30 * DAY)
        };
        let ts = now - age;
        let severity = rng.gen_range(det.severity.0..=det.severity.1);
        let fill = |s: &str| {
            s.replace("{user}", &host.user)
                .replace("{ip}", KNOWN_BAD_IP)
                .replace("{domain}", KNOWN_BAD_DOMAIN)
        };
        let variant = rng.gen_range(0..4);
        let (sha256, md5) = if det.known_hash && (i < 3 || variant < 2) {
            (KNOWN_BAD_SHA256.to_string(), KNOWN_BAD_MD5.to_string())
        } else {
            let key = format!("falcon-sim:{}:{}", det.filename, variant);
            (sha256_hex(&key), md5_hex(&key))
        };
        let parent_sha = sha256_hex(&format!("falcon-sim:{}", det.parent));
        let tree: u64 = rng.gen_range(10_000_000_000..99_999_999_999);
        let pid: u64 = rng.gen_range(10_000_000_000..99_999_999_999);
        let ppid = pid - rng.gen_range(1000..90_000);
        let aid = &host.aid;
        let id = format!(
            "ind:{aid}:{tree}-{}-{}",
            det.pattern_id,
            rng.gen_range(100_000_000u64..999_999_999)
        );
        let composite = format!("{cid}:{id}");
        let age_days = age / DAY;
        let r: f64 = rng.r#gen();
        let status = if age_days < 1 {
            if r < 0.7 { "new" } else { "in_progress" }
        } else if r < 0.35 {
            "new"
        } else if r < 0.55 {
            "in_progress"
        } else if r < 0.93 {
            "closed"
        } else {
            "reopened"
        };
        let mut tags: Vec<String> = Vec::new();
        let mut resolution = "";
        if status == "closed" {
            let t = ["true_positive", "false_positive", "ignored"][rng.gen_range(0..3)];
            tags.push(t.to_string());
            resolution = t;
        }
        let (a_uid, a_name, a_uuid) = if status != "new" || rng.gen_bool(0.1) {
            let a = ANALYSTS[rng.gen_range(0..ANALYSTS.len())];
            (a.0.to_string(), a.1.to_string(), uuid(rng))
        } else {
            (String::new(), String::new(), String::new())
        };
        let created = ts + rng.gen_range(20_000..90_000);
        let updated = if status == "new" {
            created
        } else {
            created + rng.gen_range(MIN..age.max(MIN + 1))
        };
        let updated = updated.min(now);
        let user = if host.platform == "Windows" {
            host.user.clone()
        } else if det.platform == "Linux" {
            "www-data".to_string()
        } else {
            host.user.clone()
        };
        let network = if det.known_ip {
            json!([{"access_type": 0, "access_timestamp": format!("{}", ts / 1000), "connection_direction": 0, "isIPV6": false,
                    "local_address": host.local_ip, "local_port": rng.gen_range(49152..65535), "protocol": "TCP",
                    "remote_address": KNOWN_BAD_IP, "remote_port": if det.platform == "Linux" { 4444 } else { 443 }}])
        } else {
            json!([])
        };
        let disposition = if det.prevented {
            json!({"detect": false, "kill_process": true, "kill_parent": false, "kill_subprocess": false, "quarantine_file": det.known_hash, "quarantine_machine": false, "process_blocked": true, "operation_blocked": false, "policy_disabled": false, "fs_operation_blocked": false, "registry_operation_blocked": false, "inddet_mask": false, "indicator": false, "critical_process_disabled": false, "bootup_safeguard_enabled": false, "sensor_only": false, "rooting": false, "blocking_unsupported_or_disabled": false, "suspend_process": false, "suspend_parent": false, "handle_operation_downgraded": false, "containment_file_system": false, "response_action_already_applied": false, "response_action_failed": false, "response_action_triggered": false, "mfa_required": false, "kill_action_failed": false})
        } else {
            json!({"detect": false, "kill_process": false, "kill_parent": false, "kill_subprocess": false, "quarantine_file": false, "quarantine_machine": false, "process_blocked": false, "operation_blocked": false, "policy_disabled": false, "fs_operation_blocked": false, "registry_operation_blocked": false, "inddet_mask": false, "indicator": false, "critical_process_disabled": false, "bootup_safeguard_enabled": false, "sensor_only": false, "rooting": false, "blocking_unsupported_or_disabled": false, "suspend_process": false, "suspend_parent": false, "handle_operation_downgraded": false, "containment_file_system": false, "response_action_already_applied": false, "response_action_failed": false, "response_action_triggered": false, "mfa_required": false, "kill_action_failed": false})
        };
        let hv = &host.value;
        let gp = ["common", "low", "rare", "unique"][rng.gen_range(0..4)];
        let lp = ["common", "low", "rare", "unique"][rng.gen_range(0..4)];
        let mut a = json!({
            "composite_id": composite, "id": id, "aggregate_id": format!("aggind:{aid}:{tree}"),
            "cid": cid, "agent_id": aid, "name": det.name, "display_name": det.name,
            "description": det.description, "status": status, "severity": severity,
            "severity_name": severity_name(severity), "confidence": rng.gen_range(50..100),
            "product": "epp", "type": "ldt", "platform": det.platform,
            "tactic": det.tactic, "tactic_id": det.tactic_id, "technique": det.technique, "technique_id": det.technique_id,
            "objective": det.objective, "scenario": det.scenario, "pattern_id": det.pattern_id,
            "mitre_attack": [{"pattern_id": det.pattern_id, "tactic": det.tactic, "tactic_id": det.tactic_id, "technique": det.technique, "technique_id": det.technique_id}],
            "timestamp": rfc3339_ms(ts), "context_timestamp": rfc3339_ms(ts),
            "created_timestamp": rfc3339_ns(created, rng.gen_range(0..999_999)),
            "updated_timestamp": rfc3339_ns(updated, rng.gen_range(0..999_999)),
            "crawled_timestamp": rfc3339_ns(updated, rng.gen_range(0..999_999)),
            "filename": det.filename, "filepath": fill(det.filepath), "cmdline": fill(det.cmdline),
            "sha256": sha256, "md5": md5, "sha1": "",
            "process_id": pid.to_string(), "local_process_id": format!("{}", rng.gen_range(1000..30000)),
            "parent_process_id": ppid.to_string(), "process_start_time": format!("{}", ts / 1000), "process_end_time": "",
            "user_name": user, "user_id": if host.platform == "Windows" { format!("S-1-5-21-{}-{}", rng.gen_range(1_000_000_000u64..4_000_000_000), rng.gen_range(1000..9999)) } else { "1000".to_string() },
            "logon_domain": if host.platform == "Windows" { "CORP" } else { "" },
            "tree_id": format!("{tree}"), "tree_root": format!("{}", ppid), "triggering_process_graph_id": format!("pid:{aid}:{pid}"),
            "control_graph_id": format!("ctg:{aid}:{tree}"),
            "parent_details": {"filename": det.parent, "filepath": det.parent, "cmdline": fill(det.parent_cmdline), "local_process_id": format!("{}", rng.gen_range(500..9000)),
                                "md5": md5_hex(det.parent), "sha256": parent_sha, "process_graph_id": format!("pid:{aid}:{ppid}"), "process_id": ppid.to_string(),
                                "timestamp": rfc3339_ms(ts - rng.gen_range(1000..600_000)), "user_name": user, "user_id": ""},
            "grandparent_details": {"filename": "explorer.exe", "cmdline": "C:\\Windows\\Explorer.EXE", "process_id": format!("{}", ppid - 5000)},
            "network_accesses": network,
            "pattern_disposition": if det.prevented { 2048 } else { 0 },
            "pattern_disposition_description": if det.prevented { "Prevention, process killed." } else { "Detection, standard detection." },
            "pattern_disposition_details": disposition,
            "quarantined_files": if det.prevented && det.known_hash { json!([{"filename": fill(det.filepath), "id": format!("{aid}_{}", &KNOWN_BAD_SHA256[..16]), "sha256": KNOWN_BAD_SHA256, "state": "quarantined"}]) } else { json!([]) },
            "device": {"device_id": aid, "cid": cid, "hostname": host.hostname, "platform_id": hv["platform_id"], "platform_name": host.platform,
                       "os_version": hv["os_version"], "local_ip": host.local_ip, "external_ip": host.external_ip, "mac_address": hv["mac_address"],
                       "agent_version": hv["agent_version"], "machine_domain": hv["machine_domain"], "ou": hv["ou"], "site_name": hv["site_name"],
                       "status": hv["status"], "product_type_desc": hv["product_type_desc"], "first_seen": hv["first_seen"], "last_seen": hv["last_seen"],
                       "groups": hv["groups"], "tags": hv["tags"], "system_manufacturer": hv["system_manufacturer"], "system_product_name": hv["system_product_name"],
                       "hostinfo": {"domain": hv["machine_domain"], "active_directory_dn_display": []}},
            "tags": tags, "data_domains": ["Endpoint"], "source_products": ["Falcon Insight"], "source_vendors": ["CrowdStrike"],
            "show_in_ui": true, "email_sent": rng.gen_bool(0.6),
            "assigned_to_name": a_name, "assigned_to_uid": a_uid, "assigned_to_uuid": a_uuid,
            "seconds_to_triaged": if status == "new" { 0 } else { rng.gen_range(60..7200) },
            "seconds_to_resolved": if status == "closed" { rng.gen_range(600..86_400) } else { 0 },
            "resolution": resolution, "is_aggregated": false, "linked_case_ids": [], "comments": [],
            "global_prevalence": gp,
            "local_prevalence": lp,
            "falcon_host_link": format!("https://falcon.crowdstrike.com/activity-v2/detections/{composite}"),
            "priority_value": rng.gen_range(1..100),
        });
        if det.name == "CustomIOCHashBlocked"
            && let Some(o) = a.as_object_mut()
        {
            o.insert("ioc_type".into(), json!("hash_sha256"));
            o.insert("ioc_value".into(), json!(KNOWN_BAD_SHA256));
            o.insert("ioc_source".into(), json!("library_load"));
            o.insert(
                "ioc_description".into(),
                json!("Loader seen in phishing campaign"),
            );
            o.insert("ioc_context".into(), json!([]));
        }
        let sha = a["sha256"].as_str().unwrap_or("").to_string();
        observe(observed, "sha256", &sha, aid, &pid.to_string());
        observe(
            observed,
            "md5",
            a["md5"].as_str().unwrap_or(""),
            aid,
            &pid.to_string(),
        );
        if det.known_ip {
            observe(observed, "ipv4", KNOWN_BAD_IP, aid, &pid.to_string());
        }
        if det.cmdline.contains("{domain}") || det.parent_cmdline.contains("{domain}") {
            observe(observed, "domain", KNOWN_BAD_DOMAIN, aid, &pid.to_string());
        }
        out.push(a);
    }
    out
}

fn gen_incidents(
    rng: &mut StdRng,
    cid: &str,
    now: i64,
    alerts: &[Value],
    hosts: &[HostInfo],
) -> (Vec<Value>, Vec<Value>) {
    // Group alerts of severity >= 50 by host and 6-hour bucket.
    let mut clusters: BTreeMap<(String, i64), Vec<&Value>> = BTreeMap::new();
    for a in alerts {
        if a["severity"].as_u64().unwrap_or(0) < 50 {
            continue;
        }
        let ts =
            crate::timeutil::parse_timestamp(a["timestamp"].as_str().unwrap_or("")).unwrap_or(now);
        clusters
            .entry((
                a["agent_id"].as_str().unwrap_or("").to_string(),
                ts / (6 * HOUR),
            ))
            .or_default()
            .push(a);
    }
    let mut incidents = Vec::new();
    let mut behaviors = Vec::new();
    for ((aid, _), members) in clusters {
        let Some(host) = hosts.iter().find(|h| h.aid == aid) else {
            continue;
        };
        let times: Vec<i64> = members
            .iter()
            .filter_map(|a| crate::timeutil::parse_timestamp(a["timestamp"].as_str().unwrap_or("")))
            .collect();
        let start = times.iter().copied().min().unwrap_or(now);
        let end = times.iter().copied().max().unwrap_or(now) + rng.gen_range(MIN..30 * MIN);
        let id = format!("inc:{aid}:{}", hex32(rng));
        let uniq = |f: &str| -> Vec<String> {
            let mut v: Vec<String> = members
                .iter()
                .filter_map(|a| a[f].as_str().map(String::from))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let tactics = uniq("tactic");
        let techniques = uniq("technique");
        let objectives = uniq("objective");
        let max_sev = members
            .iter()
            .filter_map(|a| a["severity"].as_u64())
            .max()
            .unwrap_or(50);
        let fine_score = (max_sev as i64 + rng.gen_range(-10..10) + 5 * (members.len() as i64 - 1))
            .clamp(10, 100);
        let all_closed = members.iter().all(|a| a["status"] == "closed");
        let (status, state) = if all_closed {
            (40, "closed")
        } else if members.iter().any(|a| a["status"] == "in_progress") {
            (30, "open")
        } else if members.iter().any(|a| a["status"] == "reopened") {
            (25, "open")
        } else {
            (20, "open")
        };
        let users: Vec<String> = {
            let mut u: Vec<String> = members
                .iter()
                .map(|a| {
                    let d = a["logon_domain"].as_str().unwrap_or("");
                    let n = a["user_name"].as_str().unwrap_or("");
                    if d.is_empty() {
                        n.to_string()
                    } else {
                        format!("{d}\\{n}")
                    }
                })
                .collect();
            u.sort();
            u.dedup();
            u
        };
        let (assigned, assigned_name) = members
            .iter()
            .find(|a| a["assigned_to_uid"] != "")
            .map(|a| (a["assigned_to_uuid"].clone(), a["assigned_to_name"].clone()))
            .unwrap_or((json!(""), json!("")));
        let hv = &host.value;
        incidents.push(json!({
            "incident_id": id, "incident_type": 1, "cid": cid, "host_ids": [aid],
            "hosts": [{"device_id": aid, "cid": cid, "hostname": host.hostname, "platform_name": host.platform, "os_version": hv["os_version"],
                       "local_ip": host.local_ip, "external_ip": host.external_ip, "mac_address": hv["mac_address"], "agent_version": hv["agent_version"],
                       "machine_domain": hv["machine_domain"], "status": hv["status"], "product_type_desc": hv["product_type_desc"],
                       "last_seen": hv["last_seen"], "first_seen": hv["first_seen"], "groups": hv["groups"], "tags": hv["tags"]}],
            "created": rfc3339_s(start + rng.gen_range(MIN..5 * MIN)), "start": rfc3339_s(start), "end": rfc3339_s(end),
            "modified_timestamp": rfc3339_s((end + rng.gen_range(MIN..HOUR)).min(now)),
            "state": state, "status": status, "fine_score": fine_score,
            "name": format!("Incident on {} at {}", host.hostname, rfc3339_s(start)),
            "description": format!("Objectives in this incident: {}. Techniques: {}. Involved hosts and end users: {}.", objectives.join(", "), techniques.join(", "), host.hostname),
            "tags": objectives.iter().map(|o| format!("Objective/{o}")).collect::<Vec<_>>(),
            "assigned_to": assigned, "assigned_to_name": assigned_name,
            "users": users, "tactics": tactics, "techniques": techniques, "objectives": objectives,
            "email_state": "sent", "lm_host_ids": [], "events_histogram": [],
        }));
        for a in members {
            behaviors.push(json!({
                "behavior_id": a["id"], "cid": cid, "aid": aid, "incident_id": id, "incident_ids": [id],
                "timestamp": a["timestamp"], "tactic": a["tactic"], "tactic_id": a["tactic_id"], "technique": a["technique"],
                "technique_id": a["technique_id"], "objective": a["objective"], "display_name": a["display_name"],
                "cmdline": a["cmdline"], "filepath": a["filepath"], "filename": a["filename"], "sha256": a["sha256"], "md5": a["md5"],
                "user_name": a["user_name"], "pattern_id": a["pattern_id"], "pattern_disposition": a["pattern_disposition"],
                "pattern_disposition_details": a["pattern_disposition_details"], "severity": a["severity"], "confidence": a["confidence"],
                "alert_ids": [a["composite_id"]], "detection_ids": [a["id"]],
            }));
        }
    }
    (incidents, behaviors)
}

fn link_alerts(alerts: &mut [Value], incidents: &[Value]) {
    // Index incidents by host with parsed bounds: a naive scan re-parses timestamps
    // alerts x incidents times, which dominates start-up in debug builds.
    let mut by_host: HashMap<String, Vec<(i64, i64, &Value)>> = HashMap::new();
    for inc in incidents {
        let Some(aid) = inc["host_ids"][0].as_str() else {
            continue;
        };
        let start =
            crate::timeutil::parse_timestamp(inc["start"].as_str().unwrap_or("")).unwrap_or(0);
        let end = crate::timeutil::parse_timestamp(inc["end"].as_str().unwrap_or("")).unwrap_or(0);
        by_host
            .entry(aid.to_string())
            .or_default()
            .push((start, end, inc));
    }
    for a in alerts.iter_mut() {
        if a["severity"].as_u64().unwrap_or(0) < 50 {
            continue;
        }
        let Some(list) = a["agent_id"].as_str().and_then(|aid| by_host.get(aid)) else {
            continue;
        };
        let ts =
            crate::timeutil::parse_timestamp(a["timestamp"].as_str().unwrap_or("")).unwrap_or(0);
        if let Some((_, _, inc)) = list.iter().find(|(s, e, _)| ts >= *s && ts <= *e)
            && let Some(o) = a.as_object_mut()
        {
            o.insert("incident".into(), json!({"id": inc["incident_id"], "score": format!("{:.2}", inc["fine_score"].as_f64().unwrap_or(0.0) / 10.0), "start": inc["start"], "end": inc["end"], "created": inc["created"]}));
        }
    }
}

fn gen_crowdscores(rng: &mut StdRng, cid: &str, now: i64, incidents: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    let starts: Vec<i64> = incidents
        .iter()
        .map(|i| crate::timeutil::parse_timestamp(i["start"].as_str().unwrap_or("")).unwrap_or(0))
        .collect();
    for h in 0..(7 * 24) {
        let t = now - (h as i64) * HOUR;
        let active = starts
            .iter()
            .filter(|&&s| s <= t && s > t - 3 * DAY)
            .count() as i64;
        let score = (active * 7 + rng.gen_range(0..10)).min(100);
        out.push(json!({"id": format!("{cid}_{}", t / 1000), "cid": cid, "timestamp": rfc3339_s(t - t % HOUR), "score": score, "adjusted_score": (score as f64 * 0.9) as i64}));
    }
    out
}

const WIN_PROCS: &[(&str, &str)] = &[
    (
        "svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p",
    ),
    (
        "chrome.exe",
        "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\"",
    ),
    (
        "OUTLOOK.EXE",
        "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\"",
    ),
    (
        "powershell.exe",
        "powershell.exe -NoProfile -Command Get-Service",
    ),
    (
        "msedge.exe",
        "\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\"",
    ),
    (
        "Teams.exe",
        "\"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\"",
    ),
    ("cmd.exe", "cmd.exe /c ipconfig /all"),
    (
        "notepad.exe",
        "notepad.exe C:\\Users\\{user}\\Desktop\\notes.txt",
    ),
];
const MAC_PROCS: &[(&str, &str)] = &[
    ("Safari", "/Applications/Safari.app/Contents/MacOS/Safari"),
    ("zsh", "/bin/zsh -l"),
    ("Slack", "/Applications/Slack.app/Contents/MacOS/Slack"),
    (
        "softwareupdated",
        "/System/Library/PrivateFrameworks/SoftwareUpdate.framework/Resources/softwareupdated",
    ),
    ("curl", "curl -s https://api.github.com"),
];
const LIN_PROCS: &[(&str, &str)] = &[
    ("nginx", "nginx: worker process"),
    ("sshd", "sshd: deploy [priv]"),
    ("python3", "python3 /opt/app/worker.py --queue default"),
    ("bash", "/bin/bash -c /usr/local/bin/healthcheck.sh"),
    ("cron", "/usr/sbin/CRON -f"),
    ("java", "java -Xmx2g -jar /opt/kafka/libs/kafka.jar"),
];
const DOMAINS: &[&str] = &[
    "login.microsoftonline.com",
    "www.google.com",
    "github.com",
    "slack.com",
    "outlook.office365.com",
    "ts.falcon.crowdstrike.com",
    "updates.example.com",
    "api.segment.io",
    "s3.amazonaws.com",
];

fn ev_base(
    rng: &mut StdRng,
    cid: &str,
    h: &HostInfo,
    ts: i64,
    name: &str,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("@timestamp".into(), json!(ts));
    m.insert("@id".into(), json!(hex32(rng)));
    m.insert("#event_simpleName".into(), json!(name));
    m.insert("#repo".into(), json!("base_sensor"));
    m.insert("cid".into(), json!(cid));
    m.insert("aid".into(), json!(h.aid));
    m.insert("aip".into(), json!(h.external_ip));
    m.insert("ComputerName".into(), json!(h.hostname));
    m.insert(
        "event_platform".into(),
        json!(match h.platform {
            "Windows" => "Win",
            "Mac" => "Mac",
            _ => "Lin",
        }),
    );
    m
}

fn gen_events(
    rng: &mut StdRng,
    cid: &str,
    now: i64,
    hosts: &[HostInfo],
    alerts: &[Value],
    observed: &mut HashMap<(String, String), BTreeMap<String, Vec<String>>>,
) -> Vec<Value> {
    let mut out: Vec<(i64, Value)> = Vec::new();
    for h in hosts {
        let n = if h.online {
            rng.gen_range(14..30)
        } else {
            rng.gen_range(2..8)
        };
        let procs = match h.platform {
            "Windows" => WIN_PROCS,
            "Mac" => MAC_PROCS,
            _ => LIN_PROCS,
        };
        for _ in 0..n {
            let ts = now - rng.gen_range(MIN..7 * DAY);
            let kind = rng.gen_range(0..10);
            let pid = format!("{}", rng.gen_range(10_000_000_000u64..99_999_999_999));
            let user = if h.platform == "Windows" {
                h.user.clone()
            } else if h.server {
                "deploy".to_string()
            } else {
                h.user.clone()
            };
            let mut m;
            if kind < 5 {
                let (file, cmd) = procs[rng.gen_range(0..procs.len())];
                m = ev_base(rng, cid, h, ts, "ProcessRollup2");
                let sha = sha256_hex(&format!("falcon-sim:{file}"));
                let img = match h.platform {
                    "Windows" => format!("\\Device\\HarddiskVolume4\\Windows\\System32\\{file}"),
                    "Mac" => format!("/usr/bin/{file}"),
                    _ => format!("/usr/sbin/{file}"),
                };
                m.insert("ImageFileName".into(), json!(img));
                m.insert("FileName".into(), json!(file));
                m.insert("CommandLine".into(), json!(cmd.replace("{user}", &h.user)));
                m.insert("SHA256HashData".into(), json!(sha));
                m.insert("MD5HashData".into(), json!(md5_hex(file)));
                m.insert("UserName".into(), json!(user));
                m.insert(
                    "ParentBaseFileName".into(),
                    json!(match h.platform {
                        "Windows" => "explorer.exe",
                        "Mac" => "launchd",
                        _ => "systemd",
                    }),
                );
                m.insert("TargetProcessId".into(), json!(pid));
            } else if kind < 7 {
                m = ev_base(rng, cid, h, ts, "DnsRequest");
                m.insert(
                    "DomainName".into(),
                    json!(DOMAINS[rng.gen_range(0..DOMAINS.len())]),
                );
                m.insert("RequestType".into(), json!("1"));
                m.insert("ContextProcessId".into(), json!(pid));
            } else if kind < 9 {
                m = ev_base(rng, cid, h, ts, "NetworkConnectIP4");
                m.insert(
                    "RemoteAddressIP4".into(),
                    json!(format!(
                        "{}.{}.{}.{}",
                        rng.gen_range(13..200),
                        rng.gen_range(0..255),
                        rng.gen_range(0..255),
                        rng.gen_range(1..255)
                    )),
                );
                let port = ["443", "80", "53", "22", "3389"][rng.gen_range(0..5)];
                m.insert("RemotePort".into(), json!(port));
                m.insert("LocalAddressIP4".into(), json!(h.local_ip));
                m.insert(
                    "LocalPort".into(),
                    json!(format!("{}", rng.gen_range(49152..65535))),
                );
                m.insert("Protocol".into(), json!("6"));
                m.insert("ContextProcessId".into(), json!(pid));
            } else {
                m = ev_base(rng, cid, h, ts, "UserLogon");
                m.insert("UserName".into(), json!(user));
                m.insert("LogonType".into(), json!(if h.server { "10" } else { "2" }));
                m.insert(
                    "LogonDomain".into(),
                    json!(if h.platform == "Windows" { "CORP" } else { "" }),
                );
                m.insert(
                    "UserSid".into(),
                    json!(if h.platform == "Windows" {
                        format!(
                            "S-1-5-21-{}-1001",
                            rng.gen_range(1_000_000_000u64..4_000_000_000)
                        )
                    } else {
                        "1000".to_string()
                    }),
                );
            }
            out.push((ts, Value::Object(m)));
        }
    }
    // Events behind every alert so hunting queries find the same hashes and IPs.
    for a in alerts {
        let Some(h) = hosts.iter().find(|h| a["agent_id"] == h.aid.as_str()) else {
            continue;
        };
        let ts =
            crate::timeutil::parse_timestamp(a["timestamp"].as_str().unwrap_or("")).unwrap_or(now);
        let mut m = ev_base(rng, cid, h, ts, "ProcessRollup2");
        m.insert("ImageFileName".into(), a["filepath"].clone());
        m.insert("FileName".into(), a["filename"].clone());
        m.insert("CommandLine".into(), a["cmdline"].clone());
        m.insert("SHA256HashData".into(), a["sha256"].clone());
        m.insert("MD5HashData".into(), a["md5"].clone());
        m.insert("UserName".into(), a["user_name"].clone());
        m.insert(
            "ParentBaseFileName".into(),
            a["parent_details"]["filename"].clone(),
        );
        m.insert("TargetProcessId".into(), a["process_id"].clone());
        out.push((ts, Value::Object(m)));
        if a["network_accesses"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
        {
            let mut n = ev_base(rng, cid, h, ts + 1500, "NetworkConnectIP4");
            n.insert("RemoteAddressIP4".into(), json!(KNOWN_BAD_IP));
            n.insert(
                "RemotePort".into(),
                a["network_accesses"][0]["remote_port"].to_string().into(),
            );
            n.insert("LocalAddressIP4".into(), json!(h.local_ip));
            n.insert(
                "LocalPort".into(),
                a["network_accesses"][0]["local_port"].to_string().into(),
            );
            n.insert("Protocol".into(), json!("6"));
            n.insert("ContextProcessId".into(), a["process_id"].clone());
            out.push((ts + 1500, Value::Object(n)));
        }
        if a["cmdline"]
            .as_str()
            .is_some_and(|c| c.contains(KNOWN_BAD_DOMAIN))
            || a["parent_details"]["cmdline"]
                .as_str()
                .is_some_and(|c| c.contains(KNOWN_BAD_DOMAIN))
        {
            let mut d = ev_base(rng, cid, h, ts + 800, "DnsRequest");
            d.insert("DomainName".into(), json!(KNOWN_BAD_DOMAIN));
            d.insert("RequestType".into(), json!("1"));
            d.insert("ContextProcessId".into(), a["process_id"].clone());
            out.push((ts + 800, Value::Object(d)));
        }
    }
    for (_, e) in &out {
        let aid = e["aid"].as_str().unwrap_or("");
        let pid = e
            .get("TargetProcessId")
            .or_else(|| e.get("ContextProcessId"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(s) = e.get("SHA256HashData").and_then(Value::as_str) {
            observe(observed, "sha256", s, aid, pid);
        }
        if let Some(s) = e.get("MD5HashData").and_then(Value::as_str) {
            observe(observed, "md5", s, aid, pid);
        }
        if let Some(s) = e.get("DomainName").and_then(Value::as_str) {
            observe(observed, "domain", s, aid, pid);
        }
        if let Some(s) = e.get("RemoteAddressIP4").and_then(Value::as_str) {
            observe(observed, "ipv4", s, aid, pid);
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, e)| e).collect()
}

#[allow(
    clippy::too_many_arguments,
    reason = "a flat list of literal IOC attributes reads best at the call sites"
)]
fn ioc_obj(
    rng: &mut StdRng,
    now: i64,
    kind: &str,
    value: &str,
    action: &str,
    severity: &str,
    desc: &str,
    tags: &[&str],
) -> Value {
    let created = now - rng.gen_range(DAY..200 * DAY);
    crate::families::iocs::ioc_object(
        kind,
        value,
        &json!({"action": action, "severity": severity, "platforms": ["windows", "mac", "linux"], "applied_globally": true,
                "description": desc, "tags": tags, "source": "threat-intel-feed", "expiration": rfc3339_ms(now + 180 * DAY)}),
        "admin@example.com",
        created,
    )
    .map(|mut v| {
        let _ = rng;
        if let Some(o) = v.as_object_mut() {
            o.insert("modified_on".into(), json!(rfc3339_ms(created + 1000)));
        }
        v
    })
    .unwrap_or(Value::Null)
}

fn gen_iocs(rng: &mut StdRng, now: i64) -> Vec<Value> {
    let mut out = vec![
        ioc_obj(
            rng,
            now,
            "sha256",
            KNOWN_BAD_SHA256,
            "prevent",
            "high",
            "Loader seen in phishing campaign",
            &["case-1234"],
        ),
        ioc_obj(
            rng,
            now,
            "md5",
            KNOWN_BAD_MD5,
            "detect",
            "high",
            "Loader seen in phishing campaign (MD5)",
            &["case-1234"],
        ),
        ioc_obj(
            rng,
            now,
            "ipv4",
            KNOWN_BAD_IP,
            "detect",
            "critical",
            "Cobalt Strike team server",
            &["c2"],
        ),
        ioc_obj(
            rng,
            now,
            "domain",
            KNOWN_BAD_DOMAIN,
            "detect",
            "high",
            "Payload staging domain",
            &["c2", "phishing"],
        ),
    ];
    for i in 0..36 {
        let kind = ["sha256", "md5", "domain", "ipv4"][i % 4];
        let value = match kind {
            "sha256" => sha256_hex(&format!("falcon-sim:ioc:{i}")),
            "md5" => md5_hex(&format!("falcon-sim:ioc:{i}")),
            "domain" => format!(
                "{}.malicious-{}.example",
                ["cdn", "mail", "login", "update"][i % 4],
                i
            ),
            _ => format!("198.51.100.{}", 100 + i),
        };
        let action = if kind == "sha256" && i % 3 == 0 {
            "prevent"
        } else if i % 7 == 0 {
            "no_action"
        } else {
            "detect"
        };
        let sev = ["informational", "low", "medium", "high", "critical"][i % 5];
        out.push(ioc_obj(
            rng,
            now,
            kind,
            &value,
            action,
            sev,
            "Imported from threat intel feed",
            &["feed"],
        ));
    }
    out.retain(|v| !v.is_null());
    out
}

fn gen_scripts(rng: &mut StdRng, now: i64) -> Vec<Value> {
    let specs = [
        (
            "collect-triage.ps1",
            "Collects a triage package (processes, autoruns, network)",
            "windows",
            "public",
            "Get-Process | Out-File C:\\Windows\\Temp\\triage.txt",
        ),
        (
            "list-autoruns.ps1",
            "Lists persistence locations",
            "windows",
            "group",
            "Get-CimInstance Win32_StartupCommand",
        ),
        (
            "collect-logs.sh",
            "Archives /var/log for review",
            "linux",
            "public",
            "tar czf /tmp/logs.tgz /var/log",
        ),
    ];
    specs.iter().map(|(name, desc, platform, perm, content)| {
        let created = now - rng.gen_range(10 * DAY..300 * DAY);
        json!({"id": format!("{}_{}", hex32(rng), hex32(rng)), "name": name, "description": desc, "file_type": "script",
               "platform": [platform], "permission_type": perm, "content": content, "sha256": sha256_hex(content), "size": content.len(),
               "created_by": "admin@example.com", "created_by_uuid": uuid(rng), "created_timestamp": rfc3339_ms(created),
               "modified_by": "admin@example.com", "modified_timestamp": rfc3339_ms(created), "run_attempt_count": 0, "run_success_count": 0,
               "write_access": true})
    }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tenant() {
        let a = generate(7, 1_750_000_000_000, 60, 120);
        let b = generate(7, 1_750_000_000_000, 60, 120);
        assert_eq!(
            serde_json::to_string(&a.hosts.items).unwrap(),
            serde_json::to_string(&b.hosts.items).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&a.alerts.items).unwrap(),
            serde_json::to_string(&b.alerts.items).unwrap()
        );
        assert_eq!(a.events, b.events);
        let c = generate(8, 1_750_000_000_000, 60, 120);
        assert_ne!(a.cid, c.cid);
    }

    #[test]
    fn well_known_values_are_present() {
        let w = generate(42, 1_750_000_000_000, 520, 1200);
        assert!(w.hosts.items.len() >= 500 && w.alerts.items.len() >= 1000);
        let h0 = &w.hosts.items[0];
        assert_eq!(h0["hostname"], KNOWN_HOSTNAME);
        assert!(
            w.alerts
                .items
                .iter()
                .any(|a| a["sha256"] == KNOWN_BAD_SHA256
                    && a["device"]["hostname"] == KNOWN_HOSTNAME)
        );
        assert!(
            w.events
                .iter()
                .any(|e| e["RemoteAddressIP4"] == KNOWN_BAD_IP)
        );
        assert!(w.events.iter().any(|e| e["DomainName"] == KNOWN_BAD_DOMAIN));
        assert!(
            w.observed
                .contains_key(&("sha256".into(), KNOWN_BAD_SHA256.into()))
        );
        assert!(!w.incidents.items.is_empty() && !w.behaviors.items.is_empty());
        assert!(
            w.hosts
                .items
                .iter()
                .any(|h| h["hostname"] == KNOWN_CONTAINED_HOSTNAME && h["status"] == "contained")
        );
        assert!(
            w.hosts
                .items
                .iter()
                .all(|h| h["device_policies"]["prevention"]["policy_id"].is_string())
        );
        let platforms: BTreeSet<&str> = w
            .hosts
            .items
            .iter()
            .filter_map(|h| h["platform_name"].as_str())
            .collect();
        assert_eq!(platforms.len(), 3);
        let names: BTreeSet<&str> = w
            .hosts
            .items
            .iter()
            .filter_map(|h| h["hostname"].as_str())
            .collect();
        assert_eq!(names.len(), w.hosts.items.len(), "hostnames are unique");
    }
}
