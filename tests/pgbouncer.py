"""Debian's PgBouncer in transaction mode in front of a tests/pg.py cluster, on 127.0.0.1 and a free port.

Clients sign in to PgBouncer with a password (SCRAM-SHA-256) checked against the secret the
cluster itself keeps for the role (read from ``pg_authid`` into PgBouncer's ``auth_file``), and
PgBouncer hands each transaction to one of a few server connections (``default_pool_size``,
fewer than the clients, so they share). As root it runs as the ``postgres`` user, as the cluster does.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from tests.pg import free_port

BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
ROLE, PASSWORD = "pp_app", "pp-app-password-for-tests"


def create_role_and_database(cluster, database: str) -> None:
    """A login role with a password, and a database it owns."""
    import psycopg
    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        c.execute(f'CREATE DATABASE "{database}" OWNER {ROLE}')


class Bouncer:
    def __init__(self, cluster, pool_size: int = 4):
        if BINARY is None:
            raise FileNotFoundError("no pgbouncer binary")
        self.cluster = cluster
        self.root = tempfile.mkdtemp(prefix="pp-pgb-")
        self.port = free_port()
        self.pool_size = pool_size
        self.proc: subprocess.Popen | None = None

    def _secret(self) -> str:
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.cluster.port} user=postgres dbname=postgres") as c:
            return c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (ROLE,)).fetchone()[0]

    def start(self) -> "Bouncer":
        ini = os.path.join(self.root, "pgbouncer.ini")
        users = os.path.join(self.root, "userlist.txt")
        with open(users, "w") as f:
            f.write(f'"{ROLE}" "{self._secret()}"\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={self.cluster.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {users}
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {os.path.join(self.root, 'pgbouncer.log')}
pidfile = {os.path.join(self.root, 'pgbouncer.pid')}
""")
        cmd = [BINARY, ini]
        if os.geteuid() == 0:          # PgBouncer will not run as root
            for path in (self.root, ini, users):
                shutil.chown(path, "postgres", "postgres")
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.proc.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("pgbouncer did not listen in time")

    def url(self, database: str) -> str:
        """The store URL through PgBouncer, telling the store it is behind a transaction pooler."""
        return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{database}?pooler=transaction"

    def direct_url(self, database: str) -> str:
        return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{self.cluster.port}/{database}"

    def log(self) -> str:
        try:
            with open(os.path.join(self.root, "pgbouncer.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        try:                               # PgBouncer itself (under runuser as root): its own pid file
            with open(os.path.join(self.root, "pgbouncer.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGINT)
        except (OSError, ValueError):
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)        # runuser passes it on
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
