"""A DBA's first hour with the Greenplum engine, through the CLI only (issue #21): a PostgreSQL 15
server laid out as Debian's pg_createcluster does (configuration outside the data directory,
password authentication over TCP) is prepared with the commands docs/engines/greenplum.md gives,
checked with `mdb-backup cluster check` at each step (each missing piece named with its fix),
backed up (BASE, then INCREMENTAL), restored to a time between two batches without naming a
backup, and the restored server started on its declared port beside its source. Removing the
source from the config warns about the replication slot left on it."""
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

from pg_harness import PGBIN, as_postgres, postgres_dir, reserve_port
from mdb_harness import CLI, start_server

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs/engines/greenplum.md"


def doc_blocks(lang):
    """The ```lang blocks of the docs' "Preparing the database" section: the commands a DBA runs."""
    text = DOC.read_text()
    section = text[text.index("## Preparing the database"):text.index("## Point-in-time restore, from the CLI")]
    return re.findall(r"```%s\n(.*?)```" % lang, section, re.S)


class DebianStylePostgres:
    """initdb, then postgresql.conf, pg_hba.conf and pg_ident.conf moved to an etc directory the
    server is pointed at (config_file): the backup of such a server holds none of them. Only the
    superuser's local socket is trusted; nothing may connect over TCP until pg_hba.conf says so."""

    def __init__(self, workdir):
        self.port = reserve_port()
        self.root = postgres_dir(workdir, "source")
        self.data, self.etc = self.root / "data", postgres_dir(self.root, "etc")
        r = as_postgres(PGBIN / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256")
        assert r.returncode == 0, r.stderr
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            shutil.move(str(self.data / name), str(self.etc / name))
        (self.etc / "pg_hba.conf").write_text("local all postgres trust\n")
        with open(self.etc / "postgresql.conf", "a") as f:
            f.write("data_directory = '%s'\nhba_file = '%s/pg_hba.conf'\nident_file = '%s/pg_ident.conf'\n"
                    "port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    % (self.data, self.etc, self.etc, self.port, self.root))
        for p in self.etc.iterdir():
            shutil.chown(p, "postgres", "postgres") if os.geteuid() == 0 else None
        self.pg_ctl("start", "-o", "-c config_file=%s/postgresql.conf" % self.etc)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def pg_ctl(self, *args):
        r = as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", self.root / "log", *args)
        assert r.returncode == 0, r.stdout + r.stderr

    def psql(self, script):
        """Runs `script` as the superuser over the local socket, statement by statement."""
        r = as_postgres(PGBIN / "psql", "-h", self.root, "-p", self.port, "-U", "postgres", "-AtX",
                        "-v", "ON_ERROR_STOP=1", "-f", "-", input=script)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def stop(self):
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")


def cli(server, *args, timeout=600):
    env = dict(os.environ, MDB_BACKUP_ENDPOINT=server.rest, MDB_BACKUP_TOKEN="writer-token-1")
    return subprocess.run([str(CLI), "--format", "json", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def check(config):
    return subprocess.run([str(CLI), "cluster", "check", "pg-src", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)


def poll(condition, what, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "%s: not within %d s" % (what, timeout)
        time.sleep(0.2)


def test_the_dba_path_from_the_docs_to_a_restored_server_beside_its_source(workdir):
    src = DebianStylePostgres(workdir)
    # As /var/lib/postgresql/15/<name>: in a directory of the database's OS user, who can then
    # remove the staged WAL beside it at the end of recovery.
    target_dir = postgres_dir(postgres_dir(workdir, "postgresql"), "restored")
    socket_dir = postgres_dir(workdir, "sockets")
    target_port = reserve_port()
    password = "dba-first-hour-pw"
    password_file = workdir / "pg-src.pw"
    password_file.write_text(password + "\n")
    os.chmod(password_file, 0o600)
    clusters = ("  - id: pg-src\n    folder_id: f1\n    engine: greenplum\n    hosts:\n"
                '      - {address: "%s", user: mdb_backup, password_file: "%s"}\n'
                "  - id: pg-restored\n    folder_id: f1\n    engine: greenplum\n    restore_target: true\n"
                '    hosts:\n      - {address: "127.0.0.1:%d", data_dir: "%s", socket_dir: "%s"}\n'
                % (src.address, password_file, target_port, target_dir, socket_dir))
    server = start_server(workdir, clusters, start=False)
    restored_started = False
    try:
        # 1. Nothing prepared: the server refuses the connection; the fix is the exact pg_hba line.
        r = check(server.config)
        assert r.returncode == 1, r.stdout + r.stderr
        assert re.search(r"FAIL\s+pg-src 127\.0\.0\.1:\d+\s+connection", r.stdout), r.stdout
        assert "host postgres mdb_backup 127.0.0.1/32 scram-sha-256" in r.stdout, r.stdout

        # 2. The docs' pg_hba.conf lines (for this host's address) and their role, without grants.
        [hba] = doc_blocks("conf")
        hba = hba.replace("10.0.0.5", "127.0.0.1")
        hba_file = src.etc / "pg_hba.conf"
        hba_file.write_text(hba + hba_file.read_text())
        [sql] = doc_blocks("sql")
        statements = [s.strip() + ";" for s in sql.split(";") if s.strip()]
        assert statements[0].startswith("CREATE ROLE mdb_backup"), statements
        src.psql(statements[0].replace("change-me", password) + "\nSELECT pg_reload_conf();")
        r = check(server.config)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "fix: GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO mdb_backup;" in r.stdout, r.stdout
        assert "fix: GRANT EXECUTE ON FUNCTION pg_switch_wal() TO mdb_backup;" in r.stdout, r.stdout
        assert re.search(r"WARN\s+pg-src \S+\s+archive_timeout", r.stdout), r.stdout
        assert re.search(r"ok\s+pg-src \S+\s+replication connection", r.stdout), r.stdout

        # The service runs; a backup now is refused before anything streams, naming the fix.
        server.start()
        r = cli(server, "backup", "create", "--engine", "greenplum", "--cluster", "pg-src", "--wait")
        assert r.returncode == 1, r.stdout + r.stderr
        error = json.loads(r.stdout)["error"]
        assert error["code"] == 9 and "GRANT EXECUTE ON FUNCTION pg_switch_wal()" in error["message"], error
        r = cli(server, "backup", "list", "--engine", "greenplum", "--cluster", "pg-src")
        assert r.returncode == 0 and "backups" not in json.loads(r.stdout), r.stdout

        # 3. The rest of the docs' commands: ready, no warning left.
        src.psql("\n".join(statements[1:]))
        r = check(server.config)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "FAIL" not in r.stdout and "WARN" not in r.stdout and "ready for a backup" in r.stdout, r.stdout
        # The journal streams from its slot (a retry at most 30 s after the role could log in).
        poll(lambda: src.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'mdb_backup' "
                              "AND active") == "1", "the journal's slot", timeout=120)

        # 4. BASE, a batch, INCREMENTAL, the moment T, another batch.
        src.psql("CREATE TABLE batches (batch int, n int);")
        r = cli(server, "backup", "create", "--engine", "greenplum", "--cluster", "pg-src", "--wait")
        assert r.returncode == 0, r.stdout + r.stderr
        src.psql("INSERT INTO batches SELECT 1, n FROM generate_series(1, 1000) n;")
        r = cli(server, "backup", "create", "--engine", "greenplum", "--cluster", "pg-src", "--wait")
        assert r.returncode == 0, r.stdout + r.stderr
        backup_id = json.loads(r.stdout)["metadata"]["backupId"]  # the response is the Cluster
        r = cli(server, "backup", "get", "--engine", "greenplum", backup_id)
        incremental = json.loads(r.stdout)
        assert incremental["method"] == "INCREMENTAL", incremental
        time.sleep(1.1)
        t = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.1)
        src.psql("INSERT INTO batches SELECT 2, n FROM generate_series(1, 500) n; SELECT pg_switch_wal();")

        # 5. Restore to T, the backup picked by the CLI; retried while T's WAL is still on its way.
        at = t.strftime("%Y-%m-%d %H:%M:%S.%f +00:00")
        deadline = time.time() + 120
        while True:
            r = cli(server, "backup", "restore", "--engine", "greenplum", "--cluster", "pg-src",
                    "--time", at, "--to", "pg-restored", "--wait")
            if r.returncode == 0 or "not archived yet" not in r.stdout or time.time() > deadline:
                break
            time.sleep(1)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "restoring from backup %s" % incremental["id"] in r.stderr, r.stderr

        # 6. The restored server starts by its own configuration, on its declared port and socket
        # directory, beside its source; it holds exactly the first batch.
        r = as_postgres(PGBIN / "pg_ctl", "-D", target_dir, "-w", "-t", "120", "-l", socket_dir / "restored.log",
                        "start")
        restored_started = r.returncode == 0
        assert restored_started, r.stdout + r.stderr + (socket_dir / "restored.log").read_text()

        def restored(query, must=True):
            r = as_postgres(PGBIN / "psql", "-h", socket_dir, "-p", target_port, "-U", "postgres", "-AtX",
                            "-c", query)
            assert r.returncode == 0 or not must, r.stderr
            return r.stdout.strip()
        poll(lambda: restored("SELECT pg_is_in_recovery()", must=False) == "f", "promotion")
        assert restored("SHOW port") == str(target_port)
        assert restored("SELECT batch, count(*) FROM batches GROUP BY batch ORDER BY batch") == "1|1000"
        assert src.psql("SELECT count(*) FROM batches") == "1500"  # the source runs on, beside it
        # The staged WAL was removed by the server at the end of recovery.
        poll(lambda: not list(target_dir.parent.glob(target_dir.name + ".wal.*")), "staged WAL removed", 30)

        # The repository's summary counts WAL segments as journal, not as backups.
        r = subprocess.run([str(CLI), "repo", "--repo", str(server.workdir / "repository"), "stats"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert re.search(r": 2 backups, .*journal: [1-9]\d* pieces", r.stdout), r.stdout

        # 7. The source removed from the config: its slot is left on the database host, said so.
        text = server.config.read_text()
        start = text.index("  - id: pg-src")
        server.config.write_text(text[:start] + text[text.index("  - id: pg-restored"):])
        assert "configuration reloaded" in server.reload()
        assert "pg_drop_replication_slot('mdb_backup')" in server.read_log()
        assert password not in server.read_log()  # the database password is never logged
    finally:
        if restored_started:
            as_postgres(PGBIN / "pg_ctl", "-D", target_dir, "-m", "immediate", "stop")
        if server.proc:
            server.stop()
        src.stop()
