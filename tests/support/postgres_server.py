"""A PostgreSQL server of one's own, never the machine's: `initdb` into a temporary folder, served on a free port of
127.0.0.1. Used by `tests/test_load_and_faults.py` (which stops and starts it) and `bench/run.py`.

The server binaries are on these machines under /usr/lib/postgresql/<major>/bin. PostgreSQL refuses to run as root,
so as root (CI) every tool runs as the `postgres` OS user, which owns the folder.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.databases import MAINTENANCE_DATABASE, Database
from tests.support.network import free_port

USER = "appuser"


def server_binaries() -> Path:
    """The newest PostgreSQL server binaries (Debian keeps them off PATH, under /usr/lib/postgresql/<major>/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(re.sub(r"\D", "", p.parts[-3]) or 0)
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise RuntimeError("initdb not found: a PostgreSQL server of one's own needs the server package (postgresql)")
    return Path(on_path).parent


class ThrowawayPostgres:
    """A new cluster whose superuser is `appuser`.

    With a `password`, TCP connections authenticate with it (scram-sha-256), as a production server's do; without
    one, they are trusted. Unless `durable`, fsync and its kin are off: the data dies with the server anyway.
    """

    def __init__(self, password: str | None = None, durable: bool = False) -> None:
        self.bin = server_binaries()
        self.password = password
        self.durable = durable
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            if shutil.which("runuser") is None:
                raise RuntimeError("runuser not found: as root, PostgreSQL must be started as the postgres user")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("no `postgres` OS user to run a PostgreSQL server of one's own as") from None
        self.folder = Path(tempfile.mkdtemp(prefix="throwaway-postgres-"))
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self._tool("initdb", "-D", str(self.data), "-U", USER, "-E", "UTF8", "--locale=C", "-N", *self._auth())

    def _auth(self) -> list[str]:
        if self.password is None:
            return ["-A", "trust"]
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        if self.as_postgres:
            shutil.chown(password_file, "postgres", "postgres")
        return ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"]

    def _tool(self, name: str, *args: str) -> None:
        command = [str(self.bin / name), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._tool("pg_ctl", "start", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-o", options)

    def stop(self) -> None:
        """Shut down as an operator would for a restart: sessions are ended, the port closes."""
        self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.is_running():
            self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)

    def database(self, name: str = MAINTENANCE_DATABASE) -> Database:
        return Database("127.0.0.1", self.port, USER, self.password or "", name)
