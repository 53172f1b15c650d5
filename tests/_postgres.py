"""A throwaway Postgres cluster for the tests: ``initdb`` + ``pg_ctl`` in a temporary dir.

The server listens on 127.0.0.1 only, on a free port, with its socket in the same
temporary directory, ``fsync`` on and trust authentication for the one test user.
Postgres refuses to run as root: as root, the cluster belongs to the ``postgres``
user (created by Debian's package) and every command runs through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

USER = "tether"


def _bin_dir() -> Path:
    """Where ``pg_ctl`` lives: Debian's versioned dir (newest), else ``$PATH``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "Postgres is not installed (no pg_ctl): apt-get install postgresql, "
        "or leave postgres out of TETHER_TEST_STORES"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A running cluster; :meth:`new_database` hands each test an empty database."""

    root: Path
    port: int
    bin: Path
    as_user: list[str] = field(default_factory=list)
    _names: count[int] = field(default_factory=count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _pg(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            log = (
                (self.root / "server.log").read_text()
                if (self.root / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"{args[0]} failed: {proc.stdout}{proc.stderr}\n{log[-2000:]}")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=on "
            "-c max_connections=300 -c shared_buffers=32MB"
        )
        self._pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port."""
        self.stop()
        self.start()

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster() -> Cluster:
    """initdb and start a fresh cluster; the caller stops it with :func:`stop_cluster`."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="tether-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(root=root, port=_free_port(), bin=bin_dir, as_user=as_user)
    cluster._pg(
        str(bin_dir / "initdb"),
        "-D",
        str(cluster.data),
        "-U",
        USER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-instructions",
        timeout=120,
    )
    cluster.start()
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
