"""Find a headless-capable Chromium for the demo page's end-to-end test, installing Debian's if missing.

    .venv/bin/python tools/browser.py    # prints the browser's path

Installs the Debian package `chromium` when no browser is found and this runs as root with apt-get. Exit code
3 and one line on stderr say why no browser is available.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

NAMES = ("chromium", "chromium-browser", "google-chrome")
CANNOT = 3


def find() -> str | None:
    return next((path for path in map(shutil.which, NAMES) if path), None)


def main() -> None:
    path = find()
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        subprocess.run(["apt-get", "update", "-q"], check=False, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, **quiet)
        path = find()
    if path is None:
        print("no Chromium found, and installing it needs root and apt-get (Debian package chromium)", file=sys.stderr)
        raise SystemExit(CANNOT)
    print(path)


if __name__ == "__main__":
    main()
