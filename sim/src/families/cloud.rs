//! Cloud security (reference §8): CSPM account registrations (AWS, Azure, GCP) and policy
//! settings, the cloud asset inventory, IOMs (failed configuration evaluations with their
//! remediation), cloud risks with scores, and compliance by account, region and resource type.
//!
//! The tenant's cloud is linked to its hosts: the AWS accounts are those of its EC2 hosts
//! (`service_provider_account_id`), and each such host is an EC2 instance asset carrying its
//! AID. Which evaluations fail is a pure function of an asset (its exposure, then a stable hash
//! of asset and rule), so assets, IOMs, risks and compliance rows — each seeded on its own —
//! always agree: an asset's detection counts are its IOMs, a compliance row's non-compliant
//! count is the failing assets of that rule.
//!
//! Quirks kept: registration GETs answer 207 when some requested ids are unknown; their records
//! mix Go-style `ID`/`CreatedAt` keys with snake_case; `limit` on the cloud-security queries is
//! clamped (0 → default, over the maximum → maximum) rather than refused; their filters and sorts
//! use flat field names (`severity`, `account_id`) over nested objects.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{Endpoint, Family, Ids, Kind, Paging, Seed, Store};
use crate::envelope::{ApiError, ApiResult, Envelope, Req, error_item_id};
use crate::timeutil::rfc3339_s;
use crate::world::{Ctx, Window, page_from_query, take_page};

const DAY: i64 = 86_400_000;
const REG_PB: &str = "cspm-registration";
const SEC_PB: &str = "cloud-security";
const REG_READ: &str = "cspm-registration:read";
const ASSETS_READ: &str = "cloud-security-assets:read";
const DETECTIONS_READ: &str = "cloud-security-detections:read";
const RISKS_READ: &str = "cloud-security:read";

/// A CSPM registration family: accounts of one cloud behind one GET by optional ids.
macro_rules! registration {
    ($name:expr, $id:expr, $seed:expr, $op:expr, $path:expr, $handler:expr) => {
        Family {
            name: $name,
            id_field: $id,
            noun: "Account",
            powered_by: REG_PB,
            default_sort: "",
            extra_fields: &[],
            text_fields: &[],
            store: Store::Seeded($seed),
            endpoints: &[Endpoint {
                op: $op,
                method: "GET",
                path: $path,
                scope: REG_READ,
                kind: Kind::Custom($handler),
            }],
        }
    };
}

/// The cloud collections and their endpoints.
pub(crate) static FAMILIES: &[Family] = &[
    registration!(
        "cloud_aws_accounts",
        "account_id",
        seed_aws,
        "GetCSPMAwsAccount",
        "/cloud-connect-cspm-aws/entities/account/v1",
        aws_accounts
    ),
    registration!(
        "cloud_azure_accounts",
        "subscription_id",
        seed_azure,
        "GetCSPMAzureAccount",
        "/cloud-connect-cspm-azure/entities/account/v1",
        azure_accounts
    ),
    registration!(
        "cloud_gcp_accounts",
        "parent_id",
        seed_gcp,
        "GetCSPMGCPAccount",
        "/cloud-connect-cspm-gcp/entities/account/v1",
        gcp_accounts
    ),
    Family {
        name: "cloud_policies",
        id_field: "id",
        noun: "Policy",
        powered_by: REG_PB,
        default_sort: "",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_policies),
        endpoints: &[Endpoint {
            op: "GetCSPMPolicySettings",
            method: "GET",
            path: "/settings/entities/policy/v1",
            scope: REG_READ,
            kind: Kind::Custom(policy_settings),
        }],
    },
    Family {
        name: "cloud_assets",
        id_field: "id",
        noun: "Resource",
        powered_by: SEC_PB,
        default_sort: "resource_name|asc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_assets),
        endpoints: &[
            Endpoint {
                op: "cloud_security_assets_queries",
                method: "GET",
                path: "/cloud-security-assets/queries/resources/v1",
                scope: ASSETS_READ,
                kind: Kind::Custom(assets_query),
            },
            Endpoint {
                op: "cloud_security_assets_entities_get",
                method: "GET",
                path: "/cloud-security-assets/entities/resources/v1",
                scope: ASSETS_READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 100,
                },
            },
        ],
    },
    Family {
        name: "cloud_ioms",
        id_field: "id",
        noun: "Evaluation",
        powered_by: SEC_PB,
        default_sort: "evaluation.last_detected|desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_ioms),
        endpoints: &[
            Endpoint {
                op: "cspm_evaluations_iom_queries",
                method: "GET",
                path: "/cloud-security-evaluations/queries/ioms/v1",
                scope: DETECTIONS_READ,
                kind: Kind::Custom(ioms_query),
            },
            Endpoint {
                op: "cspm_evaluations_iom_entities",
                method: "GET",
                path: "/cloud-security-evaluations/entities/ioms/v1",
                scope: DETECTIONS_READ,
                kind: Kind::Entities {
                    ids: Ids::Query("ids"),
                    max: 100,
                },
            },
        ],
    },
    Family {
        name: "cloud_risks",
        id_field: "id",
        noun: "Risk",
        powered_by: SEC_PB,
        default_sort: "first_seen|desc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_risks),
        endpoints: &[Endpoint {
            op: "combined_cloud_risks",
            method: "GET",
            path: "/cloud-security-risks/combined/cloud-risks/v1",
            scope: RISKS_READ,
            kind: Kind::Custom(risks_combined),
        }],
    },
    Family {
        name: "cloud_compliance",
        id_field: "assessment_id",
        noun: "Assessment",
        powered_by: SEC_PB,
        default_sort: "account_id|asc",
        extra_fields: &[],
        text_fields: &[],
        store: Store::Seeded(seed_compliance),
        endpoints: &[Endpoint {
            op: "cloud_security_assets_combined_compliance_by_account",
            method: "GET",
            path: "/cloud-security-assets/combined/compliance-controls/by-account-region-and-resource-type/v1",
            scope: ASSETS_READ,
            kind: Kind::Custom(compliance_combined),
        }],
    },
];

fn family(name: &str) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.name == name)
        .expect("a family of this module")
}

// ---------------------------------------------------------------------------------------------
// What the tenant's cloud is made of.

/// One kind of cloud resource.
struct AssetKind {
    provider: &'static str,
    resource_type: &'static str,
    type_name: &'static str,
    service: &'static str,
    category: &'static str,
    /// Name prefix of generated resources.
    prefix: &'static str,
    /// Generated per account (EC2 hosts of the tenant come on top).
    per_account: usize,
}

const KINDS: &[AssetKind] = &[
    kind(
        "aws",
        "AWS::EC2::Instance",
        "EC2 Instance",
        "EC2",
        "Compute",
        "i-",
        2,
    ),
    kind(
        "aws",
        "AWS::S3::Bucket",
        "S3 Bucket",
        "S3",
        "Storage",
        "bucket",
        4,
    ),
    kind(
        "aws",
        "AWS::EC2::SecurityGroup",
        "Security Group",
        "EC2",
        "Networking",
        "sg",
        3,
    ),
    kind(
        "aws",
        "AWS::IAM::Role",
        "IAM Role",
        "IAM",
        "Identity",
        "role",
        3,
    ),
    kind(
        "aws",
        "AWS::RDS::DBInstance",
        "RDS DB Instance",
        "RDS",
        "Database",
        "db",
        1,
    ),
    kind(
        "aws",
        "AWS::Lambda::Function",
        "Lambda Function",
        "Lambda",
        "Serverless",
        "fn",
        2,
    ),
    kind(
        "azure",
        "Microsoft.Compute/virtualMachines",
        "Virtual Machine",
        "VirtualMachine",
        "Compute",
        "vm",
        3,
    ),
    kind(
        "azure",
        "Microsoft.Storage/storageAccounts",
        "Storage Account",
        "StorageAccount",
        "Storage",
        "st",
        2,
    ),
    kind(
        "azure",
        "Microsoft.KeyVault/vaults",
        "Key Vault",
        "KeyVault",
        "Security",
        "kv",
        1,
    ),
    kind(
        "azure",
        "Microsoft.Network/networkSecurityGroups",
        "Network Security Group",
        "Network",
        "Networking",
        "nsg",
        2,
    ),
    kind(
        "gcp",
        "compute.googleapis.com/Instance",
        "Compute Instance",
        "Compute Engine",
        "Compute",
        "gce",
        3,
    ),
    kind(
        "gcp",
        "storage.googleapis.com/Bucket",
        "Cloud Storage Bucket",
        "Cloud Storage",
        "Storage",
        "gcs",
        2,
    ),
];

const fn kind(
    provider: &'static str,
    resource_type: &'static str,
    type_name: &'static str,
    service: &'static str,
    category: &'static str,
    prefix: &'static str,
    per_account: usize,
) -> AssetKind {
    AssetKind {
        provider,
        resource_type,
        type_name,
        service,
        category,
        prefix,
        per_account,
    }
}

/// When a rule fails on a resource of its type.
#[derive(Clone, Copy)]
enum Fails {
    /// When the resource is publicly exposed.
    Exposed,
    /// On this percentage of resources (a stable hash of resource and rule decides).
    Sampled(u8),
}

/// One configuration rule (a CSPM policy): what it checks, how bad a failure is, the benchmark
/// control it maps to and how to fix it.
struct Rule {
    policy_id: u32,
    resource_type: &'static str,
    name: &'static str,
    severity: &'static str,
    fails: Fails,
    framework: &'static str,
    code: &'static str,
    section: &'static str,
    attack_types: &'static [&'static str],
    remediation: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        policy_id: 1001,
        resource_type: "AWS::S3::Bucket",
        name: "S3 bucket allows public read access",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS AWS Foundations",
        code: "2.1.5",
        section: "Storage",
        attack_types: &["Data exfiltration"],
        remediation: "Step 1. Open the S3 console and select the bucket. Step 2. Under Permissions, turn on Block all public access. Step 3. Remove bucket policy statements granting Principal \"*\".",
    },
    Rule {
        policy_id: 1002,
        resource_type: "AWS::S3::Bucket",
        name: "S3 bucket default encryption is disabled",
        severity: "Medium",
        fails: Fails::Sampled(40),
        framework: "CIS AWS Foundations",
        code: "2.1.1",
        section: "Storage",
        attack_types: &["Data exposure"],
        remediation: "Step 1. Select the bucket in the S3 console. Step 2. Under Properties > Default encryption, choose SSE-KMS with a customer managed key and save.",
    },
    Rule {
        policy_id: 1003,
        resource_type: "AWS::EC2::SecurityGroup",
        name: "Security group allows ingress from 0.0.0.0/0 to port 22",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS AWS Foundations",
        code: "5.2",
        section: "Networking",
        attack_types: &["Initial access", "Brute force"],
        remediation: "Step 1. Open the EC2 console > Security Groups and select the group. Step 2. Edit inbound rules and remove the rule allowing 0.0.0.0/0 on port 22. Step 3. Allow SSH only from a bastion or VPN range, or use Session Manager.",
    },
    Rule {
        policy_id: 1004,
        resource_type: "AWS::EC2::Instance",
        name: "EC2 instance allows IMDSv1",
        severity: "Medium",
        fails: Fails::Sampled(50),
        framework: "CIS AWS Foundations",
        code: "5.6",
        section: "Compute",
        attack_types: &["Credential access"],
        remediation: "Step 1. Run aws ec2 modify-instance-metadata-options --instance-id <id> --http-tokens required --http-endpoint enabled. Step 2. Update launch templates to require IMDSv2.",
    },
    Rule {
        policy_id: 1005,
        resource_type: "AWS::IAM::Role",
        name: "IAM role with administrator access trusts another account",
        severity: "Critical",
        fails: Fails::Sampled(25),
        framework: "CIS AWS Foundations",
        code: "1.16",
        section: "Identity and Access Management",
        attack_types: &["Privilege escalation", "Persistence"],
        remediation: "Step 1. Open IAM > Roles and select the role. Step 2. Replace AdministratorAccess with a least-privilege policy. Step 3. Restrict the trust policy to named principals and require an external id.",
    },
    Rule {
        policy_id: 1006,
        resource_type: "AWS::RDS::DBInstance",
        name: "RDS instance is publicly accessible",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS AWS Foundations",
        code: "2.3.3",
        section: "Database",
        attack_types: &["Data exfiltration"],
        remediation: "Step 1. Open RDS > Databases and modify the instance. Step 2. Under Connectivity set Public access to No and apply immediately. Step 3. Reach the database through private subnets only.",
    },
    Rule {
        policy_id: 1007,
        resource_type: "AWS::Lambda::Function",
        name: "Lambda function URL allows unauthenticated access",
        severity: "Medium",
        fails: Fails::Exposed,
        framework: "AWS Foundational Security Best Practices",
        code: "Lambda.1",
        section: "Serverless",
        attack_types: &["Initial access"],
        remediation: "Step 1. Open the function's Configuration > Function URL. Step 2. Set the auth type to AWS_IAM, or delete the URL if it is not needed.",
    },
    Rule {
        policy_id: 2001,
        resource_type: "Microsoft.Storage/storageAccounts",
        name: "Storage account allows public blob access",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS Microsoft Azure Foundations",
        code: "3.7",
        section: "Storage Accounts",
        attack_types: &["Data exfiltration"],
        remediation: "Step 1. Open the storage account > Configuration. Step 2. Set Allow Blob anonymous access to Disabled and save.",
    },
    Rule {
        policy_id: 2002,
        resource_type: "Microsoft.Network/networkSecurityGroups",
        name: "Network security group allows RDP from the internet",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS Microsoft Azure Foundations",
        code: "6.1",
        section: "Networking",
        attack_types: &["Initial access", "Brute force"],
        remediation: "Step 1. Open the NSG > Inbound security rules. Step 2. Delete rules allowing port 3389 from Any or Internet. Step 3. Use Azure Bastion or just-in-time VM access.",
    },
    Rule {
        policy_id: 2003,
        resource_type: "Microsoft.KeyVault/vaults",
        name: "Key Vault purge protection is disabled",
        severity: "Medium",
        fails: Fails::Sampled(60),
        framework: "CIS Microsoft Azure Foundations",
        code: "8.5",
        section: "Key Vault",
        attack_types: &["Impact"],
        remediation: "Step 1. Run az keyvault update --name <vault> --enable-purge-protection true. Purge protection cannot be turned off afterwards.",
    },
    Rule {
        policy_id: 2004,
        resource_type: "Microsoft.Compute/virtualMachines",
        name: "Virtual machine disks are not encrypted with customer-managed keys",
        severity: "Low",
        fails: Fails::Sampled(50),
        framework: "CIS Microsoft Azure Foundations",
        code: "7.3",
        section: "Virtual Machines",
        attack_types: &["Data exposure"],
        remediation: "Step 1. Create a disk encryption set with a Key Vault key. Step 2. Stop the VM, assign the encryption set to its disks and start it again.",
    },
    Rule {
        policy_id: 3001,
        resource_type: "storage.googleapis.com/Bucket",
        name: "Cloud Storage bucket is publicly accessible",
        severity: "High",
        fails: Fails::Exposed,
        framework: "CIS Google Cloud Platform Foundation",
        code: "5.1",
        section: "Storage",
        attack_types: &["Data exfiltration"],
        remediation: "Step 1. Run gcloud storage buckets remove-iam-policy-binding gs://<bucket> --member=allUsers --role=<role> (and again for allAuthenticatedUsers). Step 2. Enforce public access prevention on the bucket.",
    },
    Rule {
        policy_id: 3002,
        resource_type: "compute.googleapis.com/Instance",
        name: "Compute instance uses the default service account with full API access",
        severity: "Medium",
        fails: Fails::Sampled(40),
        framework: "CIS Google Cloud Platform Foundation",
        code: "4.2",
        section: "Virtual Machines",
        attack_types: &["Privilege escalation"],
        remediation: "Step 1. Stop the instance. Step 2. Edit it to use a dedicated service account with only the scopes it needs. Step 3. Start it again.",
    },
    Rule {
        policy_id: 3003,
        resource_type: "compute.googleapis.com/Instance",
        name: "Compute instance has a public IP address",
        severity: "Low",
        fails: Fails::Exposed,
        framework: "CIS Google Cloud Platform Foundation",
        code: "4.9",
        section: "Virtual Machines",
        attack_types: &["Initial access"],
        remediation: "Step 1. Edit the instance's network interface and set External IPv4 address to None. Step 2. Reach it through Cloud NAT or IAP instead.",
    },
];

const AWS_REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];
const AZURE_REGIONS: &[&str] = &["eastus", "westeurope"];
const GCP_REGIONS: &[&str] = &["us-central1", "europe-west1"];
const AWS_NAMES: &[&str] = &["prod-web", "prod-payments", "staging"];

/// The first 32 hex characters of SHA-256(`s`): stable ids without drawing from an RNG.
fn hex_id(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..32].to_string()
}

/// A stable UUID-shaped id for `s`.
fn uuid_id(s: &str) -> String {
    let h = hex_id(s);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A stable number in `0..100` for `s`.
fn percent(s: &str) -> u8 {
    Sha256::digest(s.as_bytes())[0] % 100
}

/// The rules that fail on `asset` (a pure function of it: see the module docs).
fn failing(asset: &Value) -> Vec<&'static Rule> {
    let exposed = asset["publicly_exposed"].as_bool().unwrap_or(false);
    let id = asset["id"].as_str().unwrap_or_default();
    RULES
        .iter()
        .filter(|r| asset["resource_type"] == r.resource_type)
        .filter(|r| match r.fails {
            Fails::Exposed => exposed,
            Fails::Sampled(p) => percent(&format!("{id}:{}", r.policy_id)) < p,
        })
        .collect()
}

/// Whether an IOM is suppressed (an accepted risk) rather than open.
fn suppressed(asset_id: &str, rule: &Rule) -> bool {
    percent(&format!("suppress:{asset_id}:{}", rule.policy_id)) < 10
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "Critical" => 4,
        "High" => 3,
        "Medium" => 2,
        "Low" => 1,
        _ => 0,
    }
}

/// The open risk of an asset, when its failures make one: (rule name, severity, score, factors).
fn risk_of(
    asset: &Value,
    alerted: &HashSet<&str>,
) -> Option<(&'static str, &'static str, u64, Vec<&'static str>)> {
    let fails = failing(asset);
    let id = asset["id"].as_str().unwrap_or_default();
    let worst = fails.iter().map(|r| severity_rank(r.severity)).max()?;
    let exposed = asset["publicly_exposed"].as_bool().unwrap_or(false);
    let detected = asset["cloud_context"]["host"]["aid"]
        .as_str()
        .is_some_and(|aid| alerted.contains(aid));
    if worst < 3 && !(exposed && detected) {
        return None;
    }
    let mut factors = vec!["Misconfiguration"];
    if exposed {
        factors.push("PubliclyExposed");
    }
    if detected {
        factors.push("ActiveDetection");
    }
    let name = match (
        detected,
        asset["service_category"].as_str().unwrap_or_default(),
    ) {
        (true, _) => "Internet-exposed instance with an active endpoint detection",
        (_, "Storage") => "Publicly readable storage can expose sensitive data",
        (_, "Identity") => "Over-privileged role can be assumed from outside the organization",
        (_, "Database") => "Database is reachable from the internet",
        (_, "Networking") => "Management port is exposed to the internet",
        _ => "Exposed workload has a critical misconfiguration",
    };
    let base = if detected {
        88
    } else if worst == 4 {
        80
    } else {
        60
    };
    let score = base + u64::from(percent(&format!("score:{id}")) % 10) + 2 * factors.len() as u64;
    let severity = if score >= 85 { "Critical" } else { "High" };
    Some((name, severity, score.min(100), factors))
}

// ---------------------------------------------------------------------------------------------
// Seeds.

/// AIDs of the hosts with alerts (an instance with one is an active-detection risk).
fn alerted_hosts(w: &crate::world::World) -> HashSet<&str> {
    w.alerts
        .items
        .iter()
        .filter_map(|a| a["agent_id"].as_str())
        .collect()
}

/// The tenant's EC2 hosts: (host, account id).
fn ec2_hosts<'a>(s: &'a Seed<'_>) -> impl Iterator<Item = (&'a Value, &'a str)> {
    s.w.hosts
        .items
        .iter()
        .filter(|h| h["service_provider"] == "AWS_EC2_V2")
        .filter_map(|h| Some((h, h["service_provider_account_id"].as_str()?)))
}

/// The registered AWS account ids: those of the first EC2 hosts, topped up to two.
fn aws_account_ids(s: &Seed<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (_, a) in ec2_hosts(s) {
        if ids.len() < AWS_NAMES.len() && !ids.iter().any(|x| x == a) {
            ids.push(a.to_string());
        }
    }
    let mut n = 0;
    while ids.len() < 2 {
        n += 1;
        let h = hex_id(&format!("{}:aws:{n}", s.w.cid));
        let digits: String = h
            .bytes()
            .map(|b| char::from(b'0' + b % 10))
            .take(12)
            .collect();
        ids.push(digits);
    }
    ids
}

fn registered(s: &Seed<'_>, days: i64) -> (String, String) {
    let created = s.now - days * DAY;
    (rfc3339_s(created), rfc3339_s(s.now - 2 * DAY))
}

fn seed_aws(s: &mut Seed<'_>) -> Vec<Value> {
    let ids = aws_account_ids(s);
    let cid = s.w.cid.clone();
    let org = format!("o-{}", &hex_id(&cid)[..10]);
    let n = ids.len();
    ids.into_iter()
        .enumerate()
        .map(|(i, account)| {
            let (created, updated) = registered(s, 200 - 30 * i as i64);
            // The last account lost its role: registered, not operational.
            let broken = i + 1 == n;
            let conditions = if broken {
                json!([{"type": "IAMRoleValid", "status": "False", "reason": "AccessDenied", "message": format!("CrowdStrike could not assume arn:aws:iam::{account}:role/CrowdStrikeCSPMReader; check the role's trust policy and external id"), "feature": "cspm", "is_visible": true, "last_transition": updated}])
            } else {
                json!([])
            };
            json!({
                "ID": 1800 + i, "CreatedAt": created, "UpdatedAt": updated, "DeletedAt": "0001-01-01T00:00:00Z",
                "cid": cid, "account_id": account, "account_name": AWS_NAMES[i % AWS_NAMES.len()],
                "account_type": "commercial", "organization_id": org, "is_master": i == 0,
                "status": if broken { "Event_DiscoveryFailed" } else { "Event_DiscoverySuccessful" },
                "valid": !broken, "iam_role_arn": format!("arn:aws:iam::{account}:role/CrowdStrikeCSPMReader"),
                "external_id": &hex_id(&format!("ext:{account}"))[..16],
                "cspm_enabled": true, "behavior_assessment_enabled": !broken, "sensor_management_enabled": i == 0,
                "is_cspm_lite": false, "active_regions": AWS_REGIONS,
                "aws_permissions_status": [{"name": "ReadOnlyAccess", "status": if broken { "failed" } else { "enabled" }}],
                "conditions": conditions, "inventory_filter": [],
                "environment": if AWS_NAMES[i % AWS_NAMES.len()] == "staging" { "stage" } else { "prod" },
            })
        })
        .collect()
}

fn seed_azure(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    let tenant = uuid_id(&format!("{cid}:azure-tenant"));
    ["corp-prod", "corp-dev"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (created, updated) = registered(s, 150 - 40 * i as i64);
            json!({
                "ID": 2400 + i, "CreatedAt": created, "UpdatedAt": updated, "cid": cid,
                "subscription_id": uuid_id(&format!("{cid}:azure:{name}")), "subscription_name": name,
                "tenant_id": tenant, "client_id": uuid_id(&format!("{cid}:azure-app")),
                "account_type": "commercial", "status": "Subscription_Registered",
                "ioa_status": if i == 0 { "provisioned" } else { "not_provisioned" }, "iom_status": "provisioned",
                "is_cspm_lite": i == 1, "credentials_type": "certificate",
                "credentials_end_date": rfc3339_s(s.now + 300 * DAY), "years_valid": 1,
                "azure_permissions_status": [{"name": "Reader", "status": "enabled"}],
                "environment": if i == 0 { "prod" } else { "dev" }, "conditions": [],
            })
        })
        .collect()
}

fn seed_gcp(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    ["analytics-prod", "ml-sandbox"]
        .iter()
        .enumerate()
        .map(|(i, project)| {
            let (created, updated) = registered(s, 120 - 50 * i as i64);
            json!({
                "ID": 3100 + i, "CreatedAt": created, "UpdatedAt": updated, "cid": cid,
                "parent_id": project, "parent_type": "Project", "project_id": project, "display_name": project,
                "organization_id": format!("{}", 400_000_000_000u64 + u64::from(percent(&cid)) * 1_000_000),
                "service_account_client_email": format!("crowdstrike-cspm@{project}.iam.gserviceaccount.com"),
                "service_account_project_id": project, "cspm_enabled": true, "cloud_registration_enabled": true,
                "status": if i == 0 { "operational" } else { "provisioned" },
                "gcp_permissions_status": [{"name": "roles/viewer", "status": "enabled"}], "conditions": [],
            })
        })
        .collect()
}

fn seed_policies(s: &mut Seed<'_>) -> Vec<Value> {
    let accounts = |family: &str, key: &str| -> Vec<String> {
        s.family(family)
            .iter()
            .filter_map(|a| a[key].as_str().map(str::to_string))
            .collect()
    };
    let by_provider = [
        ("aws", accounts("cloud_aws_accounts", "account_id")),
        ("azure", accounts("cloud_azure_accounts", "subscription_id")),
        ("gcp", accounts("cloud_gcp_accounts", "parent_id")),
    ];
    let created = rfc3339_s(s.now - 400 * DAY);
    RULES
        .iter()
        .map(|r| {
            let k = asset_kind(r.resource_type);
            let settings: Vec<Value> = by_provider
                .iter()
                .filter(|(p, _)| *p == k.provider)
                .flat_map(|(_, ids)| ids.iter())
                .map(|a| {
                    // Staging relaxes the encryption rules; everything else keeps the default.
                    let relaxed = percent(&format!("{a}:{}", r.policy_id)) < 15;
                    json!({"account_id": a, "enabled": !relaxed, "severity": r.severity, "regions": [], "tag_excluded": false})
                })
                .collect();
            json!({
                "id": r.policy_id.to_string(), "policy_id": r.policy_id, "name": r.name, "cloud_provider": k.provider,
                "cloud_service": k.service, "cloud_service_friendly": k.service, "cloud_asset_type": k.type_name,
                "default_severity": r.severity.to_lowercase(), "policy_type": "Configuration",
                "attack_types": r.attack_types, "is_global": true, "is_remediable": true,
                "remediation_summary": r.remediation, "account_scope": "all",
                "policy_settings": settings,
                "cis_benchmark": [{"id": r.policy_id * 10, "benchmark_short": r.framework, "recommendation_number": r.code}],
                "created_at": created, "updated_at": created,
            })
        })
        .collect()
}

fn asset_kind(resource_type: &str) -> &'static AssetKind {
    KINDS
        .iter()
        .find(|k| k.resource_type == resource_type)
        .expect("every rule names a known resource type")
}

/// The registered accounts as (provider, id, name).
fn accounts(s: &Seed<'_>) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for (provider, family, id, name) in [
        ("aws", "cloud_aws_accounts", "account_id", "account_name"),
        (
            "azure",
            "cloud_azure_accounts",
            "subscription_id",
            "subscription_name",
        ),
        ("gcp", "cloud_gcp_accounts", "parent_id", "display_name"),
    ] {
        for a in s.family(family) {
            out.push((
                provider,
                a[id].as_str().unwrap_or_default().to_string(),
                a[name].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

fn seed_assets(s: &mut Seed<'_>) -> Vec<Value> {
    let alerted: std::collections::HashSet<&str> =
        s.w.alerts
            .items
            .iter()
            .filter_map(|a| a["agent_id"].as_str())
            .collect();
    let mut out = Vec::new();
    // The tenant's EC2 hosts in registered accounts are instances with a sensor.
    let registered = aws_account_ids(s);
    let names: Vec<(&str, String, String)> = accounts(s);
    let account_name = |id: &str| {
        names
            .iter()
            .find(|(_, a, _)| a == id)
            .map(|(_, _, n)| n.clone())
            .unwrap_or_default()
    };
    let hosts: Vec<(Value, String)> = ec2_hosts(s)
        .filter(|(_, a)| registered.iter().any(|r| r == a))
        .map(|(h, a)| (h.clone(), a.to_string()))
        .collect();
    for (h, account) in hosts {
        let instance = h["instance_id"].as_str().unwrap_or_default();
        let aid = h["device_id"].as_str().unwrap_or_default();
        let exposed = s.rng.gen_bool(0.5);
        let mut a = asset(
            s,
            &KINDS[0],
            &account,
            &account_name(&account),
            "us-east-1",
            instance,
            h["hostname"].as_str().unwrap_or_default(),
            exposed,
        );
        a["zone"] = json!("us-east-1a");
        a["cloud_context"]["has_falcon_sensor"] = json!(true);
        a["cloud_context"]["host"] = json!({
            "aid": aid, "platform_name": h["platform_name"], "os_version": h["os_version"],
            "managed_by": "Falcon sensor",
        });
        out.push(a);
    }
    for (provider, account, name) in names.clone() {
        for k in KINDS.iter().filter(|k| k.provider == provider) {
            for n in 0..k.per_account {
                let regions = match provider {
                    "aws" => AWS_REGIONS,
                    "azure" => AZURE_REGIONS,
                    _ => GCP_REGIONS,
                };
                let region = if k.resource_type == "AWS::IAM::Role" {
                    "global"
                } else {
                    regions.choose(s.rng).copied().unwrap_or(regions[0])
                };
                let resource = match provider {
                    "aws" if k.prefix == "i-" => {
                        format!("i-0{}", &hex_id(&format!("{account}:{n}:vm"))[..16])
                    }
                    _ => format!("{}-{}-{}", k.prefix, name, n + 1),
                };
                let exposed = s.rng.gen_bool(0.3);
                out.push(asset(
                    s, k, &account, &name, region, &resource, &resource, exposed,
                ));
            }
        }
    }
    // An asset's detections and risks are its failing rules (see the module docs).
    for a in &mut out {
        let fails = failing(a);
        let open: Vec<&&Rule> = fails
            .iter()
            .filter(|r| !suppressed(a["id"].as_str().unwrap_or_default(), r))
            .collect();
        let worst = open.iter().max_by_key(|r| severity_rank(r.severity));
        let count = |sev: &str| open.iter().filter(|r| r.severity == sev).count();
        a["cloud_context"]["detections"] = json!({
            "iom_counts": open.len(), "ioa_counts": 0,
            "highest_severity": worst.map_or("", |r| r.severity),
            "severities": open.iter().map(|r| r.severity).collect::<Vec<_>>(),
            "iom_counts_by_severity": {"critical": count("Critical"), "high": count("High"), "medium": count("Medium"), "low": count("Low")},
            "compliant": RULES.iter().filter(|r| a["resource_type"] == r.resource_type).count() - fails.len(),
            "non_compliant": fails.len(),
        });
        let risk = risk_of(a, &alerted);
        a["cloud_context"]["cloud_risks"] = match &risk {
            Some((rule, sev, _, factors)) => json!({
                "openRiskCount": 1, "riskIds": [hex_id(&format!("risk:{}:{rule}", a["id"]))],
                "riskFactors": factors, "severities": [sev], "statuses": ["open"],
            }),
            None => {
                json!({"openRiskCount": 0, "riskIds": [], "riskFactors": [], "severities": [], "statuses": []})
            }
        };
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn asset(
    s: &mut Seed<'_>,
    k: &AssetKind,
    account: &str,
    account_name: &str,
    region: &str,
    resource_id: &str,
    resource_name: &str,
    exposed: bool,
) -> Value {
    let gcrn = format!(
        "crn:{}:{}:{region}:{account}:{}/{resource_id}",
        k.provider,
        k.service.to_lowercase().replace(' ', ""),
        k.type_name.to_lowercase().replace(' ', "-")
    );
    let first = s.now - s.rng.gen_range(20..300) * DAY;
    let owner = ["platform", "data", "payments", "web"][s.rng.gen_range(0..4)];
    let env = if account_name.contains("stag")
        || account_name.contains("dev")
        || account_name.contains("sandbox")
    {
        "staging"
    } else {
        "production"
    };
    let mut v = json!({
        "id": hex_id(&gcrn), "cid": s.w.cid, "gcrn": gcrn, "resource_id": resource_id, "resource_name": resource_name,
        "resource_type": k.resource_type, "resource_type_name": k.type_name, "cloud_provider": k.provider,
        "account_id": account, "account_name": account_name, "region": region, "service": k.service,
        "service_category": k.category, "status": "active", "active": true, "publicly_exposed": exposed,
        "tags": {"environment": env, "owner": owner},
        "first_seen": rfc3339_s(first), "creation_time": rfc3339_s(first - DAY),
        "updated_at": rfc3339_s(s.now - s.rng.gen_range(1..48) * 3_600_000),
        "configuration": {"publicly_accessible": exposed},
        "cloud_context": {"account_name": account_name, "allows_public_access": exposed, "has_falcon_sensor": false, "has_tags": true},
    });
    if k.category == "Compute" {
        v["instance_id"] = json!(resource_id);
        v["instance_state"] = json!("running");
    }
    v
}

fn seed_ioms(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    let now = s.now;
    s.family("cloud_assets")
        .iter()
        .flat_map(|a| failing(a).into_iter().map(move |r| (a, r)))
        .map(|(a, r)| {
            let aid = a["id"].as_str().unwrap_or_default();
            let first = now - i64::from(percent(&format!("first:{aid}:{}", r.policy_id)) % 60 + 2) * DAY;
            let last = now - i64::from(percent(&format!("last:{aid}:{}", r.policy_id)) % 20 + 1) * 3_600_000;
            let off = suppressed(aid, r);
            let over = if off {
                json!({"suppressed": true, "suppressed_by": "cloud-team@corp.example", "suppression_reason": "accepted-risk"})
            } else {
                json!({"suppressed": false, "suppressed_by": "", "suppression_reason": ""})
            };
            json!({
                "id": uuid_id(&format!("iom:{aid}:{}", r.policy_id)), "cid": cid,
                "cloud": {"provider": a["cloud_provider"], "account_id": a["account_id"], "account_name": a["account_name"], "region": a["region"]},
                "evaluation": {
                    "status": if off { "suppressed" } else { "failed" }, "severity": r.severity,
                    "first_detected": rfc3339_s(first), "last_detected": rfc3339_s(last),
                    "created": rfc3339_s(first), "crn": a["gcrn"], "attack_types": r.attack_types,
                    "rule": {
                        "id": uuid_id(&format!("rule:{}", r.policy_id)), "name": r.name, "description": r.name,
                        "origin": "Default", "remediation": r.remediation, "policy_id": r.policy_id,
                        "policy": {"uuid": uuid_id(&format!("policy:{}", r.policy_id)), "name": r.name},
                        "controls": [{"framework": r.framework, "name": format!("{} {}", r.code, r.section), "code": r.code, "requirement": r.code, "section_name": r.section, "version": "2.0.0"}],
                        "override": over,
                    },
                },
                "resource": {
                    "id": a["id"], "resource_id": a["resource_id"], "resource_name": a["resource_name"],
                    "resource_type": a["resource_type"], "resource_type_name": a["resource_type_name"],
                    "gcrn": a["gcrn"], "service": a["service"], "service_category": a["service_category"],
                    "status": "active", "tags": a["tags"],
                },
                "environment": [a["tags"]["environment"]],
            })
        })
        .collect()
}

fn seed_risks(s: &mut Seed<'_>) -> Vec<Value> {
    let cid = s.w.cid.clone();
    let now = s.now;
    let alerted = alerted_hosts(s.w);
    s.family("cloud_assets")
        .iter()
        .filter_map(|a| {
            let (rule, severity, score, factors) = risk_of(a, &alerted)?;
            let aid = a["id"].as_str().unwrap_or_default();
            let first = now - i64::from(percent(&format!("rfirst:{aid}")) % 30 + 1) * DAY;
            Some(json!({
                "id": hex_id(&format!("risk:{}:{rule}", a["id"])), "cid": cid,
                "rule_id": hex_id(rule), "rule_name": rule,
                "rule_description": format!("{rule}: {}", failing(a).iter().map(|r| r.name).collect::<Vec<_>>().join("; ")),
                "severity": severity, "score": score, "status": "open", "disabled": false,
                "provider": a["cloud_provider"], "account_id": a["account_id"], "account_name": a["account_name"],
                "asset_id": a["id"], "asset_gcrn": a["gcrn"], "crn": a["gcrn"], "asset_name": a["resource_name"],
                "asset_type": a["resource_type_name"], "asset_region": a["region"], "asset_tags": [format!("environment:{}", a["tags"]["environment"].as_str().unwrap_or_default())],
                "service_category": a["service_category"], "cloud_groups": [], "adversaries": [],
                "first_seen": rfc3339_s(first), "last_seen": rfc3339_s(now - 3_600_000), "resolved_at": "",
                "risk_factors": factors.iter().map(|f| json!({"type": f})).collect::<Vec<_>>(),
                "insight_categories": [],
            }))
        })
        .collect()
}

fn seed_compliance(s: &mut Seed<'_>) -> Vec<Value> {
    let assets = s.family("cloud_assets");
    let mut groups: std::collections::BTreeMap<(String, String, &'static str), Vec<&Value>> =
        Default::default();
    for a in assets {
        let key = (
            a["account_id"].as_str().unwrap_or_default().to_string(),
            a["region"].as_str().unwrap_or_default().to_string(),
            asset_kind(a["resource_type"].as_str().unwrap_or_default()).resource_type,
        );
        groups.entry(key).or_default().push(a);
    }
    let evaluated = rfc3339_s(s.now - 6 * 3_600_000);
    let mut out = Vec::new();
    for ((account, region, rtype), members) in groups {
        let k = asset_kind(rtype);
        for r in RULES.iter().filter(|r| r.resource_type == rtype) {
            let failing_ids: Vec<&Value> = members
                .iter()
                .copied()
                .filter(|a| failing(a).iter().any(|f| f.policy_id == r.policy_id))
                .collect();
            let bad = failing_ids.len();
            out.push(json!({
                "assessment_id": uuid_id(&format!("assess:{account}:{region}:{}", r.policy_id)),
                "account_id": account, "account_name": members[0]["account_name"], "region": region,
                "cloud_provider": k.provider, "resource_provider": k.provider, "resource_type": rtype,
                "resource_type_name": k.type_name, "service": k.service, "service_category": k.category,
                "last_evaluated": evaluated,
                "control": {"name": format!("{} {}", r.code, r.section), "framework": r.framework, "type": "Benchmark", "version": "2.0.0", "benchmark": {"name": r.framework, "version": "2.0.0"}},
                "resource_counts": {"compliant": members.len() - bad, "non_compliant": bad, "total": members.len(),
                                    "non_compliant_by_severity": {r.severity.to_lowercase(): bad}},
                "rules": [{"id": uuid_id(&format!("rule:{}", r.policy_id)), "name": r.name, "origin": "Default", "policy_id": r.policy_id}],
                "severities": if bad > 0 { json!([r.severity]) } else { json!([]) },
            }));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// The registration GETs: every account, or those `ids` names (207 when some are unknown);
/// `status` (`operational` = valid, `provisioned` = registered but not yet working) and
/// `scan-type` as the API takes them, offset/limit paging.
fn registration_get(cx: &Ctx<'_>, req: &Req, f: &Family) -> ApiResult {
    if let Some(t) = req
        .q("scan-type")
        .filter(|t| !["dry", "full", ""].contains(t))
    {
        return Err(ApiError::bad_request(format!(
            "invalid scan-type '{t}'; use dry or full"
        )));
    }
    let status = match req.q("status") {
        None | Some("") => None,
        Some(st @ ("operational" | "provisioned")) => Some(st == "operational"),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid status '{other}'; use operational or provisioned"
            )));
        }
    };
    let page = page_from_query(req, 100, 500, 1, Window::None)?;
    let c = crate::engine::collection(cx.w, f);
    let ids = req.q_list("ids");
    let (found, missing) = if ids.is_empty() {
        (c.items.clone(), Vec::new())
    } else {
        c.lookup(&ids)
    };
    let working = |a: &Value| {
        a.get("valid")
            .and_then(Value::as_bool)
            .unwrap_or(a["status"] != "provisioned")
    };
    let found: Vec<Value> = found
        .into_iter()
        .filter(|a| status.is_none_or(|want| working(a) == want))
        .collect();
    let total = found.len();
    let items = take_page(&found, page);
    let errors = missing
        .iter()
        .map(|id| error_item_id(404, &format!("Account {id} not found"), id))
        .collect();
    let code = if missing.is_empty() { 200 } else { 207 };
    Ok(Envelope::new(code, REG_PB)
        .resources(items)
        .errors(errors)
        .pagination(json!({"offset": page.offset, "limit": page.limit, "total": total}))
        .into_resp())
}

fn aws_accounts(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    registration_get(cx, req, family("cloud_aws_accounts"))
}

fn azure_accounts(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    registration_get(cx, req, family("cloud_azure_accounts"))
}

fn gcp_accounts(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    registration_get(cx, req, family("cloud_gcp_accounts"))
}

/// `GetCSPMPolicySettings`: policies narrowed by `service`, `policy-id` and `cloud-platform`.
fn policy_settings(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let service = req.q("service").filter(|s| !s.is_empty());
    if let Some(sv) = service
        && sv != "Any"
        && !KINDS.iter().any(|k| k.service.eq_ignore_ascii_case(sv))
    {
        return Err(ApiError::bad_request(format!("invalid service '{sv}'")));
    }
    let platform = req.q("cloud-platform").filter(|s| !s.is_empty());
    if let Some(p) = platform.filter(|p| !["aws", "azure", "gcp"].contains(p)) {
        return Err(ApiError::bad_request(format!(
            "invalid cloud-platform '{p}'; use aws, azure or gcp"
        )));
    }
    let policy = match req.q("policy-id").filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid policy-id '{p}': must be an integer"))
        })?),
    };
    let items: Vec<Value> = crate::engine::collection(cx.w, family("cloud_policies"))
        .items
        .iter()
        .filter(|p| {
            service.is_none_or(|sv| {
                sv == "Any"
                    || p["cloud_service"]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(sv))
            })
        })
        .filter(|p| platform.is_none_or(|pl| p["cloud_provider"] == pl))
        .filter(|p| policy.is_none_or(|id| p["policy_id"] == id))
        .map(|p| {
            let mut p = p.clone();
            if let Some(o) = p.as_object_mut() {
                o.remove("id");
            }
            p
        })
        .collect();
    if let (Some(id), true) = (policy, items.is_empty()) {
        return Err(ApiError::not_found(format!("Policy {id} not found")));
    }
    Ok(Envelope::new(200, REG_PB).resources(items).into_resp())
}

/// A cloud-security query served by the engine after Falcon's own rules: `limit` clamped to
/// `default` (0 or absent) and `max`, flat filter and sort names mapped onto the object.
struct Flat {
    family: &'static str,
    endpoint: &'static Endpoint,
    default_limit: usize,
    max_limit: usize,
    aliases: &'static [(&'static str, &'static str)],
}

fn serve_flat(spec: &Flat, cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    let limit = match req.q("limit") {
        None | Some("") => spec.default_limit,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n <= 0 => spec.default_limit,
            Ok(n) => (n as usize).min(spec.max_limit),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid limit '{l}': must be an integer"
                )));
            }
        },
    };
    let query = req
        .query
        .iter()
        .filter(|(k, _)| k != "limit")
        .map(|(k, v)| match k.as_str() {
            "filter" | "sort" => (k.clone(), rename_fields(v, spec.aliases)),
            _ => (k.clone(), v.clone()),
        })
        .chain([("limit".to_string(), limit.to_string())])
        .collect();
    let inner = Req {
        method: req.method.clone(),
        path: req.path.clone(),
        query,
        body: req.body.clone(),
        content_type: req.content_type.clone(),
        params: req.params.clone(),
    };
    crate::engine::serve(family(spec.family), spec.endpoint, cx, &inner)
}

/// `filter`/`sort` with each flat field name the API documents replaced by the object's path:
/// a field is a word outside quotes that a `:` (filter), `|` or `.asc`/`.desc` (sort) follows.
fn rename_fields(src: &str, aliases: &[(&str, &str)]) -> String {
    let rename = |field: &str| {
        aliases
            .iter()
            .find(|(flat, _)| *flat == field)
            .map_or(field.to_string(), |(_, path)| path.to_string())
    };
    let end_word = |word: &mut String, next: Option<char>, out: &mut String| {
        let sorted = [".asc", ".desc"]
            .iter()
            .find_map(|d| word.strip_suffix(d).map(|f| (f.to_string(), *d)));
        match (sorted, next) {
            (Some((field, dir)), _) => {
                out.push_str(&rename(&field));
                out.push_str(dir);
            }
            (None, Some(':' | '|')) => out.push_str(&rename(word)),
            _ => out.push_str(word),
        }
        word.clear();
    };
    let mut out = String::with_capacity(src.len());
    let mut word = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in src.chars() {
        if quoted {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '\'') => quoted = false,
                _ => {}
            }
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
        } else {
            end_word(&mut word, Some(c), &mut out);
            quoted = c == '\'';
            out.push(c);
        }
    }
    end_word(&mut word, None, &mut out);
    out
}

static ASSET_PAGE: Endpoint = Endpoint {
    op: "cloud_security_assets_queries",
    method: "GET",
    path: "",
    scope: ASSETS_READ,
    kind: Kind::Query(Paging::offset(500, 1000)),
};

static IOM_PAGE: Endpoint = Endpoint {
    op: "cspm_evaluations_iom_queries",
    method: "GET",
    path: "",
    scope: DETECTIONS_READ,
    kind: Kind::Query(Paging::offset(500, 1000)),
};

static RISK_PAGE: Endpoint = Endpoint {
    op: "combined_cloud_risks",
    method: "GET",
    path: "",
    scope: RISKS_READ,
    kind: Kind::Combined(Paging::offset(500, 1000)),
};

static COMPLIANCE_PAGE: Endpoint = Endpoint {
    op: "cloud_security_assets_combined_compliance_by_account",
    method: "GET",
    path: "",
    scope: ASSETS_READ,
    kind: Kind::Combined(Paging::offset(20, 10_000)),
};

fn assets_query(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    serve_flat(
        &Flat {
            family: "cloud_assets",
            endpoint: &ASSET_PAGE,
            default_limit: 500,
            max_limit: 1000,
            aliases: &[
                (
                    "highest_severity",
                    "cloud_context.detections.highest_severity",
                ),
                ("iom_count", "cloud_context.detections.iom_counts"),
                ("managed_by", "cloud_context.host.managed_by"),
                (
                    "cloud_risks.severity",
                    "cloud_context.cloud_risks.severities",
                ),
                ("cloud_risks.status", "cloud_context.cloud_risks.statuses"),
            ],
        },
        cx,
        req,
    )
}

fn ioms_query(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    serve_flat(
        &Flat {
            family: "cloud_ioms",
            endpoint: &IOM_PAGE,
            default_limit: 500,
            max_limit: 1000,
            aliases: &[
                ("account_id", "cloud.account_id"),
                ("account_name", "cloud.account_name"),
                ("cloud_provider", "cloud.provider"),
                ("region", "cloud.region"),
                ("severity", "evaluation.severity"),
                ("status", "evaluation.status"),
                ("first_detected", "evaluation.first_detected"),
                ("last_detected", "evaluation.last_detected"),
                ("rule_id", "evaluation.rule.id"),
                ("rule_name", "evaluation.rule.name"),
                ("policy_id", "evaluation.rule.policy_id"),
                ("framework", "evaluation.rule.controls.framework"),
                ("resource_id", "resource.resource_id"),
                ("resource_gcrn", "resource.gcrn"),
                ("resource_type", "resource.resource_type"),
                ("resource_type_name", "resource.resource_type_name"),
                ("service", "resource.service"),
                ("service_category", "resource.service_category"),
            ],
        },
        cx,
        req,
    )
}

fn risks_combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    serve_flat(
        &Flat {
            family: "cloud_risks",
            endpoint: &RISK_PAGE,
            default_limit: 500,
            max_limit: 1000,
            aliases: &[
                ("cloud_provider", "provider"),
                ("risk_factor", "risk_factors.type"),
            ],
        },
        cx,
        req,
    )
}

fn compliance_combined(cx: &mut Ctx<'_>, req: &Req) -> ApiResult {
    req.q_bool("include_failing_iom_severity_counts", false)?;
    serve_flat(
        &Flat {
            family: "cloud_compliance",
            endpoint: &COMPLIANCE_PAGE,
            default_limit: 20,
            max_limit: 10_000,
            aliases: &[],
        },
        cx,
        req,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::envelope::Body;
    use crate::world::World;

    fn world() -> World {
        crate::tenant::generate(42, 1_750_000_000_000, 120, 200)
    }

    fn call(w: &mut World, op: &str, q: &[(&str, &str)]) -> (u16, Value) {
        let (f, ep) = FAMILIES
            .iter()
            .find_map(|f| f.endpoints.iter().find(|e| e.op == op).map(|e| (f, e)))
            .unwrap();
        let cfg = SimConfig::default();
        let req = Req {
            method: "GET".into(),
            query: q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Req::default()
        };
        let mut cx = Ctx {
            w,
            cfg: &cfg,
            now: 0,
            client_id: "c".into(),
        };
        match crate::engine::serve(f, ep, &mut cx, &req) {
            Ok(r) => match r.body {
                Body::Json(v) => (r.status, v),
                _ => panic!("json"),
            },
            Err(e) => (e.status, json!({"error": e.message})),
        }
    }

    #[test]
    fn flat_names_map_onto_paths_outside_quotes_only() {
        let a = &[
            ("severity", "evaluation.severity"),
            ("region", "cloud.region"),
        ];
        assert_eq!(
            rename_fields("severity:'High'+region:['us-east-1','severity:x']", a),
            "evaluation.severity:'High'+cloud.region:['us-east-1','severity:x']"
        );
        assert_eq!(
            rename_fields("severity|desc,region.asc", a),
            "evaluation.severity|desc,cloud.region.asc"
        );
        assert_eq!(
            rename_fields(r"name:'a\'severity:'", a),
            r"name:'a\'severity:'"
        );
    }

    #[test]
    fn ec2_hosts_are_instances_and_counts_agree_everywhere() {
        let mut w = world();
        let assets = crate::engine::collection(&w, family("cloud_assets"))
            .items
            .clone();
        let ioms = crate::engine::collection(&w, family("cloud_ioms"))
            .items
            .clone();
        let risks = crate::engine::collection(&w, family("cloud_risks"))
            .items
            .clone();
        let with_host: Vec<&Value> = assets
            .iter()
            .filter(|a| a["cloud_context"]["host"]["aid"].is_string())
            .collect();
        assert!(!with_host.is_empty());
        for a in &with_host {
            let h = w
                .hosts
                .get(a["cloud_context"]["host"]["aid"].as_str().unwrap())
                .unwrap();
            assert_eq!(h["instance_id"], a["resource_id"]);
            assert_eq!(h["service_provider_account_id"], a["account_id"]);
        }
        for a in &assets {
            let open = ioms
                .iter()
                .filter(|i| i["resource"]["id"] == a["id"] && i["evaluation"]["status"] == "failed")
                .count();
            assert_eq!(a["cloud_context"]["detections"]["iom_counts"], open, "{a}");
            let risk = risks.iter().filter(|r| r["asset_id"] == a["id"]).count();
            assert_eq!(a["cloud_context"]["cloud_risks"]["openRiskCount"], risk);
        }
        // Compliance rows count the failing evaluations of their rule.
        let (_, rows) = call(
            &mut w,
            "cloud_security_assets_combined_compliance_by_account",
            &[("limit", "10000")],
        );
        let non: u64 = rows["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["resource_counts"]["non_compliant"].as_u64().unwrap())
            .sum();
        assert_eq!(non as usize, ioms.len());
        // Limit 0 is the default (20), not a refusal.
        let (st, rows) = call(
            &mut w,
            "cloud_security_assets_combined_compliance_by_account",
            &[("limit", "0")],
        );
        assert_eq!((st, rows["resources"].as_array().unwrap().len()), (200, 20));
    }

    #[test]
    fn iom_queries_take_flat_fields_and_clamp_limits() {
        let mut w = world();
        let (st, r) = call(
            &mut w,
            "cspm_evaluations_iom_queries",
            &[
                ("filter", "severity:'High'+cloud_provider:'aws'"),
                ("sort", "last_detected|desc"),
                ("limit", "5000"),
            ],
        );
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["meta"]["pagination"]["limit"], 1000);
        let ids: Vec<&str> = r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!ids.is_empty());
        let c = crate::engine::collection(&w, family("cloud_ioms"));
        assert!(ids.iter().all(|id| {
            let i = c.get(id).unwrap();
            i["evaluation"]["severity"] == "High" && i["cloud"]["provider"] == "aws"
        }));
        let (st, r) = call(
            &mut w,
            "cspm_evaluations_iom_entities",
            &[("ids", ids[0]), ("ids", "nope")],
        );
        assert_eq!(st, 200);
        assert!(
            r["resources"][0]["evaluation"]["rule"]["remediation"]
                .as_str()
                .unwrap()
                .starts_with("Step 1.")
        );
        assert_eq!(r["errors"][0]["id"], "nope");
        let (st, _) = call(
            &mut w,
            "cspm_evaluations_iom_queries",
            &[("filter", "nonsense:'x'")],
        );
        assert_eq!(st, 400);
    }

    #[test]
    fn registrations_answer_207_for_unknown_ids_and_filter_status() {
        let mut w = world();
        let (st, all) = call(&mut w, "GetCSPMAwsAccount", &[]);
        assert_eq!(st, 200);
        let accounts = all["resources"].as_array().unwrap().clone();
        assert!(accounts.len() >= 2);
        assert!(accounts[0]["ID"].is_number() && accounts[0]["CreatedAt"].is_string());
        let id = accounts[0]["account_id"].as_str().unwrap();
        let (st, r) = call(
            &mut w,
            "GetCSPMAwsAccount",
            &[("ids", id), ("ids", "000000000000")],
        );
        assert_eq!(st, 207);
        assert_eq!(r["resources"].as_array().unwrap().len(), 1);
        assert_eq!(r["errors"][0]["id"], "000000000000");
        let (_, r) = call(&mut w, "GetCSPMAwsAccount", &[("status", "provisioned")]);
        assert!(
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["valid"] == false)
        );
        assert_eq!(call(&mut w, "GetCSPMAwsAccount", &[("status", "x")]).0, 400);
        let (_, r) = call(
            &mut w,
            "GetCSPMPolicySettings",
            &[("cloud-platform", "azure"), ("service", "KeyVault")],
        );
        let p = &r["resources"][0];
        assert_eq!(
            (p["cloud_provider"].clone(), p["policy_id"].clone()),
            (json!("azure"), json!(2003))
        );
        assert_eq!(
            call(&mut w, "GetCSPMPolicySettings", &[("policy-id", "9")]).0,
            404
        );
        assert_eq!(
            call(&mut w, "GetCSPMPolicySettings", &[("service", "Nope")]).0,
            400
        );
    }

    #[test]
    fn risks_rank_by_score_with_the_detected_instance_first() {
        let mut w = world();
        let (_, r) = call(
            &mut w,
            "combined_cloud_risks",
            &[("filter", "status:'open'")],
        );
        let risks = r["resources"].as_array().unwrap();
        assert!(!risks.is_empty());
        assert!(
            risks
                .iter()
                .all(|x| (0..=100).contains(&x["score"].as_u64().unwrap()))
        );
        let top = risks.iter().max_by_key(|x| x["score"].as_u64()).unwrap();
        if risks.iter().any(|x| {
            x["risk_factors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["type"] == "ActiveDetection")
        }) {
            assert!(
                top["risk_factors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["type"] == "ActiveDetection"),
                "{top}"
            );
        }
        let (_, r) = call(
            &mut w,
            "combined_cloud_risks",
            &[("filter", "cloud_provider:'gcp'")],
        );
        assert!(
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["provider"] == "gcp")
        );
    }
}
