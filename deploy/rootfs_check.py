#!/usr/bin/env python3
"""Run the static aerie binary the way the Containerfile's final stage does, without a container
runtime: in an empty root (chroot) that holds only the binary, the CA bundle and the cache, run
and home directories, as uid 65532, with the cache warmed as the build stage warms it. Then talk
MCP to it over stdio against a falcon-sim on loopback: first tools/list, one search, idle RSS.

    python3 deploy/rootfs_check.py [AERIE_MUSL_BINARY] [FALCON_SIM_BINARY]

Needs root (chroot, chown). Defaults: target/x86_64-unknown-linux-musl/release/aerie and
target/debug/falcon-sim. Exits non-zero, saying why, if anything is not as the image needs.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

UID = 65532


def main() -> int:
    aerie = sys.argv[1] if len(sys.argv) > 1 else "target/x86_64-unknown-linux-musl/release/aerie"
    sim_bin = sys.argv[2] if len(sys.argv) > 2 else "target/debug/falcon-sim"
    ldd = subprocess.run(["ldd", aerie], capture_output=True, text=True)
    if "not a dynamic executable" not in ldd.stdout + ldd.stderr and "statically linked" not in ldd.stdout:
        return fail(f"{aerie} is not static: {ldd.stdout.strip()}")
    root = tempfile.mkdtemp(prefix="aerie-rootfs-")
    try:
        return check(aerie, sim_bin, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check(aerie: str, sim_bin: str, root: str) -> int:
    # The final stage: /aerie, the CA bundle, and three private directories.
    os.chmod(root, 0o755)
    shutil.copy(aerie, f"{root}/aerie")
    os.makedirs(f"{root}/etc/ssl/certs")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", f"{root}/etc/ssl/certs/")
    for d in ("var/cache/aerie", "run/aerie", "home"):
        os.makedirs(f"{root}/{d}", mode=0o700)
    # The build stage's warm-up, then the hand-over to the runtime user.
    started = time.monotonic()
    subprocess.run([f"{root}/aerie", "plugins", "compile", "--cache-dir", f"{root}/var/cache/aerie"],
                   check=True, capture_output=True, env={"HOME": f"{root}/home"})
    warm_up = time.monotonic() - started
    for d in ("var/cache/aerie", "run/aerie", "home"):
        subprocess.run(["chown", "-R", f"{UID}:{UID}", f"{root}/{d}"], check=True)
    entries = os.listdir(f"{root}/var/cache/aerie")
    print(f"image cache: {len(entries)} files, warmed in {warm_up:.1f} s")

    sim = subprocess.Popen([sim_bin, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        env = dict(line.strip().split("=", 1) for line in [sim.stdout.readline() for _ in range(4)][1:])
        env.update(HOME="/home", SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt", XDG_RUNTIME_DIR="/run")
        return serve(root, env)
    finally:
        sim.kill()


def serve(root: str, env: dict) -> int:
    cmd = [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={UID}:{UID}", root, "/aerie", "serve", "--cache-dir", "/var/cache/aerie"]
    started = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ask(p, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "rootfs-check", "version": "0"}}, 1)
        p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        tools = ask(p, "tools/list", {}, 2)["tools"]
        first_list = time.monotonic() - started
        found = ask(p, "tools/call", {"name": "hosts_search", "arguments": {"limit": 10}}, 3)
        if found.get("isError"):
            return fail(f"hosts_search failed: {found}")
        hosts = found["structuredContent"]["results"]
        time.sleep(1)
        rss = next(line.split()[1] for line in open(f"/proc/{p.pid}/status") if line.startswith("VmRSS"))
        print(f"in the empty root as uid {UID}: {len(tools)} tools listed {first_list * 1000:.0f} ms after "
              f"start; hosts_search returned {len(hosts)} hosts; RSS {int(rss) / 1024:.1f} MiB")
        if len(tools) < 80 or len(hosts) != 10:
            return fail("fewer tools or hosts than expected")
        return 0
    finally:
        p.kill()
        err = p.stderr.read().decode(errors="replace")
        if "rejected" in err or "compile cache disabled" in err:
            print(err, file=sys.stderr)
            sys.exit(fail("the image's cache was not used as built"))


def ask(p, method: str, params: dict, rid: int) -> dict:
    try:
        p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}) + "\n").encode())
        p.stdin.flush()
    except BrokenPipeError:
        pass  # it exited; the read below says why
    while True:
        line = p.stdout.readline()
        if not line:
            p.wait(timeout=5)
            err = p.stderr.read().decode(errors="replace")
            raise SystemExit(fail(f"the server closed its output during {method}: {err}"))
        msg = json.loads(line)
        if msg.get("id") == rid:
            if "error" in msg:
                raise SystemExit(fail(f"{method}: {msg['error']}"))
            return msg["result"]


def fail(why: str) -> int:
    print(f"rootfs check FAILED: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
