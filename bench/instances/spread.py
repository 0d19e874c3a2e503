"""100 small backups on 3 mdb-backupd instances against 1 (issue #15): one PostgreSQL catalog,
one repository directory, Redis sources on 127.0.0.1. All 100 are asked of ONE instance (the
worst case for a load balancer); the others get work only by claiming it from the catalog.
Reports the wall time of each run, the ratio, how many operations each instance ran, and checks
that every operation ran exactly once (one backup listed per cluster, no errors).

On a machine with fewer cores than instances the wall-time ratio measures the machine, not the
design: the instances share its cores. What the 2-core run shows is the spread and "never
twice"; the speed-up needs each instance on its own cores.

Usage: MDB_BUILD=build python3 bench/instances/spread.py [BACKUPS] [SOURCES] [KEYS]"""
import collections
import os
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))
sys.path.insert(0, str(ROOT / "tests"))

from mdb_harness import Server, md, wait_operation  # noqa: E402
from pg_harness import Postgres  # noqa: E402
from redis_harness import Redis, fill  # noqa: E402
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg  # noqa: E402

BACKUPS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
SOURCES = int(sys.argv[2]) if len(sys.argv) > 2 else 10
KEYS = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
WRITER = md("writer-token-1")


def run(workdir, pg, sources, instances):
    """BACKUPS backups (one per cluster) asked of the first of `instances` new servers."""
    db = "bench_%d" % instances
    pg.sql("CREATE DATABASE %s" % db)
    url = "postgresql://postgres@%s/%s" % (pg.address, db)
    repo = workdir / ("repo-%d" % instances)
    clusters = "".join('  - {id: c%d, folder_id: f1, engine: redis, hosts: ["%s"]}\n'
                       % (i, sources[i % len(sources)].address) for i in range(BACKUPS))
    servers = []
    for n in range(instances):
        d = workdir / ("i%d-%d" % (instances, n))
        d.mkdir()
        s = Server(d, catalog=url, server_extra='  repository: "%s"\n' % repo)
        text = s.config.read_text()
        s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" + clusters)
        s.start()
        servers.append(s)
    try:
        stub = servers[0].client(rd_csg.ClusterServiceStub)
        start = time.monotonic()
        ops = [stub.Backup(rd_cs.BackupClusterRequest(cluster_id="c%d" % i), metadata=WRITER)
               for i in range(BACKUPS)]
        results = [wait_operation(servers[0], op, timeout=3600) for op in ops]
        wall = time.monotonic() - start
        errors = [r.error.message for r in results if r.WhichOneof("result") != "response"]
        assert not errors, errors[:3]
        owners = collections.Counter(_owners(pg, db))
        listed = int(_sql(pg, db, "SELECT count(*) FROM mdb_backups"))
        assert listed == BACKUPS, "%d backups listed for %d operations" % (listed, BACKUPS)
        assert sum(owners.values()) == BACKUPS
        return wall, owners
    finally:
        for s in servers:
            s.stop()


def _sql(pg, db, query):
    import subprocess
    from pg_harness import PGBIN
    r = subprocess.run([str(PGBIN / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                        "-d", db, "-AtX", "-c", query], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def _owners(pg, db):
    # Each operation row names the one instance that claimed it (a claim is one row update).
    return _sql(pg, db, "SELECT owner FROM mdb_operations WHERE done").splitlines()


def main():
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="mdb-bench-instances-"))
    os.chmod(workdir, 0o755)
    pg, sources = None, []
    try:
        pg = Postgres(workdir)
        sources = [Redis(workdir) for _ in range(SOURCES)]
        for i, r in enumerate(sources):
            fill(r, KEYS, prefix="s%d" % i)
        print("%d backups of %d Redis sources (%d keys each), asked of one instance; "
              "PostgreSQL catalog, one repository directory; %d cores"
              % (BACKUPS, SOURCES, KEYS, os.cpu_count()))
        one, owners1 = run(workdir, pg, sources, 1)
        print("1 instance:  %.1f s  (%.0f ms per backup)" % (one, 1000 * one / BACKUPS))
        three, owners3 = run(workdir, pg, sources, 3)
        print("3 instances: %.1f s  (%.0f ms per backup)  ran per instance: %s"
              % (three, 1000 * three / BACKUPS, sorted(owners3.values(), reverse=True)))
        print("speed-up 3 vs 1: %.2fx; every operation ran once (%d operations, %d backups listed)"
              % (one / three, BACKUPS, BACKUPS))
    finally:
        for r in sources:
            r.stop()
        if pg:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
