"""A throwaway PostgreSQL server on loopback, for the service's tests (and by hand).

    .venv/bin/python tools/postgres.py start FOLDER   # prints the database URL once it accepts connections
    .venv/bin/python tools/postgres.py stop FOLDER

`start` installs Debian's `postgresql` when its programs are missing and this runs as root with apt-get,
creates a cluster in FOLDER (trust authentication, listening on 127.0.0.1 only, a free port), starts it and
prints `postgresql://pairrank@127.0.0.1:PORT/postgres`. PostgreSQL refuses to run as root, so as root the
cluster belongs to, and runs as, the `postgres` system user the package creates. Exit code 3 and one line
on stderr say why it could not start. `stop` stops the cluster (fast shutdown); the tests call it.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "pairrank"
CANNOT_START = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("PostgreSQL is not installed, and installing it needs root and apt-get")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, **quiet)
    done = subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, **quiet)
    if done.returncode != 0:
        raise SystemExit(f"apt-get install postgresql failed (exit {done.returncode})")


def as_owner(command: list[str]) -> list[str]:
    """The command as the cluster's owner: the `postgres` user when this runs as root."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SystemExit("running as root, and there is no postgres user to run the server as") from None
    return ["runuser", "-u", "postgres", "--", *command]


def start(folder: Path) -> str:
    programs = bin_dir()
    if programs is None:
        install()
        programs = bin_dir()
        if programs is None:
            raise SystemExit("PostgreSQL installed, but initdb was not found")
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    run = subprocess.run  # output kept for the error message
    made = run(as_owner([str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", USER]), capture_output=True)
    if made.returncode != 0:
        raise SystemExit(f"initdb failed: {made.stderr.decode()[-500:]}")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=on -c synchronous_commit=on"
    started = run(
        as_owner([str(programs / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]),
        capture_output=True,
    )
    if started.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        raise SystemExit(f"pg_ctl start failed: {started.stderr.decode()[-300:]} {log[-500:]}")
    return f"postgresql://{USER}@127.0.0.1:{port}/postgres"


def stop(folder: Path) -> None:
    programs = bin_dir()
    if programs is not None and (folder / "data" / "postmaster.pid").exists():
        command = [str(programs / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"]
        subprocess.run(as_owner(command), capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    folder = args.folder.resolve()
    if args.action == "stop":
        stop(folder)
        return
    try:
        print(start(folder), flush=True)
    except SystemExit as reason:
        print(f"postgres: {reason}", file=sys.stderr)
        raise SystemExit(CANNOT_START) from None


if __name__ == "__main__":
    main()
