"""The day the service host and its disk are gone and the bucket and the key remain
(docs/disaster-recovery.md): backups of a Redis and a Greenplum cluster taken through the API into
an encrypted S3 repository; every local file of the host deleted; a new host rebuilds its catalog
from the repository with `mdb-backup catalog rebuild`, its API lists the same records field by
field, and both backups restore equal to their sources."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import CLI, Server, sharded_cluster, start_server, wait_operation, write_key
from pg_harness import postgres_dir
from redis_harness import fill

WRITER = [("authorization", "Bearer writer-token-1")]
DIGEST = ("SELECT (SELECT md5(string_agg(aid || ',' || abalance, ';' ORDER BY aid)) FROM pgbench_accounts),"
          " (SELECT count(*) FROM pgbench_history)")


def s3_url():
    endpoint = os.environ.get("MDB_S3_ENDPOINT")
    if not endpoint:
        if os.environ.get("MDB_S3_REQUIRED") == "1":
            pytest.fail("MDB_S3_REQUIRED=1 but MDB_S3_ENDPOINT is not set")
        pytest.skip("no S3 peer (scripts/peers/versitygw.sh start)")
    return "s3://%s/dr-%s?endpoint=%s&region=us-east-1&path_style=true" % (
        os.environ.get("MDB_S3_BUCKET", "mdb-test"), uuid.uuid4().hex[:8], endpoint)


def poll(condition, what, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "%s: not within %d s (a hang guard)" % (what, timeout)
        time.sleep(0.1)


def done(server, op):
    op = wait_operation(server, op, timeout=600)
    assert op.WhichOneof("result") == "response", op.error
    return op


def server_at(home, clusters, extra):
    """mdb-backupd in an existing directory (start_server makes a new one)."""
    s = Server(home)
    text = s.config.read_text().replace("  automated_backups: false\n", "  automated_backups: false\n" + extra)
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" + clusters)
    s.start()
    return s


def records(server, ids):
    """Every field the API shows of each backup, by id (Redis and Greenplum services)."""
    out = {}
    for bid, engine in ids.items():
        if engine == "redis":
            out[bid] = server.client(rd_bsg.BackupServiceStub).Get(
                rd_bs.GetBackupRequest(backup_id=bid), metadata=WRITER)
        else:
            out[bid] = server.client(gp_bsg.BackupServiceStub).Get(
                gp_bs.GetBackupRequest(backup_id=bid), metadata=WRITER)
    return out


def test_the_repository_alone_brings_every_backup_back(workdir, redis_factory, pg_factory):
    url = s3_url()
    safe = pathlib.Path(tempfile.mkdtemp(prefix="mdb-dr-key-"))  # what survives: the key
    try:
        key = write_key(safe / "key")
        extra = "  repository: \"%s\"\n  repository_key_file: %s\n" % (url, key)
        src = redis_factory()
        fill(src, 3000)
        coordinator, segment = pg_factory(), pg_factory()
        for pg, scale in [(coordinator, 1), (segment, 1)]:
            pg.pgbench("-i", "-s", scale, "-q")
        dst = redis_factory()
        dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
        clusters = ("  - {id: rd-src, folder_id: f1, engine: redis, hosts: [\"%s\"]}\n"
                    "  - {id: rd-dst, folder_id: f1, engine: redis, hosts: [\"%s\"]}\n" % (src.address, dst.address)
                    + sharded_cluster("gp1", [coordinator.address, segment.address], engine="greenplum",
                                      names=["coordinator", "seg0"])
                    + "  - id: gp-restored\n    folder_id: f1\n    engine: greenplum\n    shards:\n"
                    + "".join('      - {name: %s, hosts: [{address: "127.0.0.1:1", data_dir: "%s", '
                              'wal_archive: "off"}]}\n' % (n, d) for n, d in zip(["coordinator", "seg0"], dirs)))

        # The first host: three backups through the API (Redis; Greenplum BASE, then INCREMENTAL).
        host1 = start_server(workdir, clusters, name="host1", server_extra=extra)
        try:
            rd_digest = src.digest()
            op = host1.client(rd_csg.ClusterServiceStub).Backup(
                rd_cs.BackupClusterRequest(cluster_id="rd-src"), metadata=WRITER)
            done(host1, op)
            listed = host1.client(rd_csg.ClusterServiceStub).ListBackups(
                rd_cs.ListClusterBackupsRequest(cluster_id="rd-src"), metadata=WRITER).backups
            assert len(listed) == 1, listed
            rd_id = listed[0].id
            gp_ids = []
            for writes in (False, True):
                if writes:
                    coordinator.pgbench("-t", "300")
                    segment.pgbench("-t", "300")
                op = host1.client(gp_csg.ClusterServiceStub).Backup(
                    gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
                meta = gp_cs.BackupClusterMetadata()
                op.metadata.Unpack(meta)
                gp_ids.append(meta.backup_id)
                done(host1, op)
            gp_digests = [coordinator.sql(DIGEST), segment.sql(DIGEST)]
            # The WAL of both shards up to now is archived, so no piece lands after the snapshot
            # of the records below (journal sizes included).
            for pg, shard in [(coordinator, "coordinator"), (segment, "seg0")]:
                f = pg.sql("SELECT pg_walfile_name(pg_switch_wal())")
                probe = [str(CLI), "repo", "--repo", url, "--key-file", str(key), "journal",
                         "--cluster", "gp1"]
                pattern = re.compile(r"^%s  \S+  \d+\.%s[. ]" % (shard, f), re.M)
                poll(lambda: pattern.search(subprocess.run(probe, capture_output=True, text=True).stdout),
                     "WAL %s of %s archived" % (f, shard))
            ids = {rd_id: "redis", gp_ids[0]: "greenplum", gp_ids[1]: "greenplum"}
            before = records(host1, ids)
            assert [before[b].method for b in gp_ids] == [1, 2]  # BASE, then INCREMENTAL
            assert sum(before[b].journal_size for b in gp_ids) > 0  # archived WAL is accounted
        finally:
            host1.stop()
        # The host is gone: config, catalog, logs, everything local.
        shutil.rmtree(workdir / "host1")

        # A new host: rebuild the catalog from the bucket, then start the service on it.
        home = workdir / "host2"
        home.mkdir()
        rebuilt = subprocess.run([str(CLI), "catalog", "rebuild", "--catalog", str(home / "catalog.db"),
                                  "--repo", url, "--key-file", str(key)], capture_output=True, text=True)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "3 backups added" in rebuilt.stdout, rebuilt.stdout
        host2 = server_at(home, clusters, extra)
        try:
            after = records(host2, ids)
            for bid in ids:
                assert after[bid] == before[bid], "%s\nwas\n%s" % (after[bid], before[bid])
            op = host2.client(rd_csg.ClusterServiceStub).Restore(
                rd_cs.RestoreClusterRequest(backup_id=rd_id, name="rd-dst", environment=1, folder_id="f1",
                                            config_spec=rd_cs.ConfigSpec(version="7.0")), metadata=WRITER)
            done(host2, op)
            assert dst.digest() == rd_digest
            op = host2.client(gp_csg.ClusterServiceStub).Restore(
                gp_cs.RestoreClusterRequest(backup_id=gp_ids[1], folder_id="f1", name="gp-restored",
                                            environment=gp_c.Cluster.PRODUCTION, network_id="local"),
                metadata=WRITER)
            done(host2, op)
            restored = [pg_factory(data_dir=d) for d in dirs]
            for pg in restored:
                poll(lambda: pg.sql("SELECT pg_is_in_recovery()") == "f", "restored server promoted")
            assert [pg.sql(DIGEST) for pg in restored] == gp_digests
        finally:
            host2.stop()
    finally:
        shutil.rmtree(safe, ignore_errors=True)
