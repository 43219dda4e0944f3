"""``python3 -m aerie_plugin build APP_DIR [-o OUT.wasm]``: build a plugin into a component.

Runs componentize-py against the WIT of the aerie checkout the kit sits in, with the app directory
and the kit on the module path, so an author never types the long command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

KIT = Path(__file__).resolve().parent.parent
INSTALL = "python3 -m pip install componentize-py==0.25.1"


def find_wit() -> Optional[Path]:
    """The ``wit`` directory holding ``aerie.wit``: ``$AERIE_WIT``, else above the kit."""
    if os.environ.get("AERIE_WIT"):
        return Path(os.environ["AERIE_WIT"])
    return next((a / "wit" for a in KIT.parents if (a / "wit" / "aerie.wit").is_file()), None)


def build(app_dir: Path, out: Path, module: str = "app", world: str = "tool-group") -> int:
    """Build ``app_dir/<module>.py`` into ``out``; returns the exit status."""
    if not (app_dir / f"{module}.py").is_file():
        print(f"error: no {module}.py in {app_dir} (name the module with --module)", file=sys.stderr)
        return 2
    wit = find_wit()
    if wit is None or not (wit / "aerie.wit").is_file():
        print(f"error: no wit/aerie.wit above {KIT}; set AERIE_WIT to aerie's wit directory",
              file=sys.stderr)
        return 2
    tool = os.environ.get("COMPONENTIZE_PY") or shutil.which("componentize-py")
    if tool is None:
        print(f"error: componentize-py is not installed; install it with: {INSTALL}",
              file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [tool, "-d", str(wit), "-w", world, "componentize", module,
           "-p", str(app_dir), "-p", str(KIT), "-o", str(out)]
    done = subprocess.run(cmd)
    if done.returncode != 0:
        print(f"error: componentize-py failed ({' '.join(cmd)})", file=sys.stderr)
        return done.returncode
    print(f"built {out} ({out.stat().st_size // 1024} KiB)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m aerie_plugin",
                                description="Build an aerie plugin written in Python.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build APP_DIR/app.py into a component")
    b.add_argument("app_dir", type=Path, help="directory holding the app module")
    b.add_argument("-o", "--out", type=Path, help="output file (default: APP_DIR/<dir name>.wasm)")
    b.add_argument("--module", default="app", help="the app module's name (default: app)")
    b.add_argument("--world", default="tool-group", help="WIT world (default: tool-group)")
    a = p.parse_args(argv)
    app_dir = a.app_dir.resolve()
    out = a.out or app_dir / f"{app_dir.name}.wasm"
    return build(app_dir, out.resolve(), a.module, a.world)


if __name__ == "__main__":
    sys.exit(main())
