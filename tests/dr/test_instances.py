"""Three mdb-backupd instances on one PostgreSQL catalog and one S3 repository (docs/deployment.md):
backups of several clusters asked of one of them spread over all three (each claims queued
operations while it has a free worker), every instance answering for all; then kill -9
of the instance that runs a Greenplum backup and archives that cluster's WAL: the backup's
operation ends ABORTED within the lease (plus 5 s), a survivor takes the WAL archiving over from
the replication slot, and a point-in-time restore to a moment after the kill holds exactly the
rows committed before it."""
import re
import signal
import subprocess
import time

from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg
from yandex.cloud.mdb.redis.v1 import cluster_service_pb2 as rd_cs, cluster_service_pb2_grpc as rd_csg

from mdb_harness import CLI, sharded_cluster, start_server, wait_operation, wait_running
from pg_harness import postgres_dir
from redis_harness import fill
from test_disaster_recovery import done, poll, s3_url

WRITER = [("authorization", "Bearer writer-token-1")]
LEASE = 3  # seconds (renewed every second)


def journal_lease_owner(db):
    return db.sql("SELECT owner FROM mdb_leases WHERE name = 'journal/gp1' AND "
                  "until_ns > (extract(epoch from now()) * 1e9)::bigint")


def owner_of(db, op):
    return db.sql("SELECT owner FROM mdb_operations WHERE id = '%s'" % op.id)


def wait_archived(url, pg, shard):
    """Closes the shard's WAL segment and waits until some instance has stored it."""
    f = pg.sql("SELECT pg_walfile_name(pg_switch_wal())")
    probe = [str(CLI), "repo", "--repo", url, "journal", "--cluster", "gp1"]
    pattern = re.compile(r"^%s  \S+  \d+\.%s" % (shard, f), re.M)
    poll(lambda: pattern.search(subprocess.run(probe, capture_output=True, text=True).stdout),
         "WAL %s of %s archived" % (f, shard))


def test_three_instances_share_the_work_and_survive_a_kill(workdir, pg_factory, redis_factory,
                                                          proxy_factory):
    url = s3_url()
    db = pg_factory()
    catalog = "postgresql://postgres@%s/postgres" % db.address
    coordinator, segment = pg_factory(), pg_factory()
    segment.pgbench("-i", "-s", "5", "-q")  # large enough for a backup to be held half way
    for pg in (coordinator, segment):
        pg.sql("CREATE TABLE batches (batch int, n int)")
    proxy = proxy_factory(segment.address)
    sources = [redis_factory() for _ in range(3)]
    for r in sources:
        fill(r, 300)
    rd_proxies = [proxy_factory(r.address) for r in sources]
    dirs = [postgres_dir(workdir, "pitr-coordinator"), postgres_dir(workdir, "pitr-seg0")]
    clusters = ("".join('  - {id: rd%d, folder_id: f1, engine: redis, hosts: ["%s"]}\n' % (i, p.address)
                        for i, p in enumerate(rd_proxies))
                + sharded_cluster("gp1", [coordinator.address, proxy.address], engine="greenplum",
                                  names=["coordinator", "seg0"])
                + "  - id: gp-pitr\n    folder_id: f1\n    engine: greenplum\n    shards:\n"
                + "".join('      - {name: %s, hosts: [{address: "127.0.0.1:1", data_dir: "%s", '
                          'wal_archive: "off"}]}\n' % (n, d) for n, d in zip(["coordinator", "seg0"], dirs)))
    extra = '  repository: "%s"\n  lease_seconds: %d\n' % (url, LEASE)
    instances = [start_server(workdir, clusters, name="i%d" % i, catalog=catalog, server_extra=extra,
                              start=False) for i in range(3)]
    for inst in instances:
        # One worker each: a busy instance claims nothing, so where work runs is known.
        inst.config.write_text(inst.config.read_text().replace("  worker_threads: 2\n",
                                                               "  worker_threads: 1\n"))
        inst.start()
    try:
        # The base backup of gp1, run by whichever instance claims it.
        gp = instances[0].client(gp_csg.ClusterServiceStub)
        op = gp.Backup(gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
        meta = gp_cs.BackupClusterMetadata()
        op.metadata.Unpack(meta)
        base_id = meta.backup_id
        done(instances[1], op)
        # Batch 1: committed before the kill (its WAL not necessarily archived by then).
        for pg in (coordinator, segment):
            pg.sql("INSERT INTO batches SELECT 1, g FROM generate_series(1, 100) g")

        # Three Redis backups asked of one instance, their sources held: each instance claims
        # one (a busy one claims no more), so the work spreads; none runs twice.
        for p in rd_proxies:
            p.hold()
        rd = instances[0].client(rd_csg.ClusterServiceStub)
        rd_ops = [rd.Backup(rd_cs.BackupClusterRequest(cluster_id="rd%d" % i), metadata=WRITER)
                  for i in range(3)]
        poll(lambda: all(owner_of(db, op) for op in rd_ops), "every Redis backup claimed")
        owners = [owner_of(db, op) for op in rd_ops]
        assert len(set(owners)) == 3, owners

        # Exactly one instance archives gp1's WAL: the holder of its lease.
        poll(lambda: journal_lease_owner(db) != "", "gp1's journal lease taken")
        owner = journal_lease_owner(db)
        archiver = next(i for i in instances if ":%d:" % i.proc.pid in owner)
        survivors = [i for i in instances if i is not archiver]
        # Its Redis backup ends; the others keep the survivors' only workers busy.
        pid = ":%d:" % archiver.proc.pid
        mine = next(k for k, o in enumerate(owners) if pid in o)
        rd_proxies[mine].release()
        done(archiver, rd_ops[mine])

        # The archiver (the one free worker) runs another gp1 backup, held half way by the
        # proxy, when it is killed.
        proxy.stall_after(b"backup_label", 16 << 20)
        op = survivors[0].client(gp_csg.ClusterServiceStub).Backup(
            gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
        proxy.wait_stalled()
        wait_running(survivors[0], op, timeout=60)
        assert pid in owner_of(db, op)
        archiver.proc.send_signal(signal.SIGKILL)
        archiver.proc.wait()
        killed = time.time()
        proxy.release()
        for p in rd_proxies:
            p.release()
        op = wait_operation(survivors[0], op, timeout=LEASE + 30)
        ended = time.time() - killed
        assert op.error.code == 10, op  # ABORTED
        # The timeout above is a hang guard; how soon is measured, not asserted.
        print("the dead instance's backup ended %.1f s after the kill" % ended)
        # The survivors' Redis backups end well, once each, and every survivor lists them all.
        for k, rd_op in enumerate(rd_ops):
            if k != mine:
                done(survivors[k % 2], rd_op)
        for inst in survivors:
            for i in range(3):
                assert len(inst.client(rd_csg.ClusterServiceStub).ListBackups(
                    rd_cs.ListClusterBackupsRequest(cluster_id="rd%d" % i), metadata=WRITER).backups) == 1

        # A survivor holds the journal now and archives from the slot on.
        poll(lambda: journal_lease_owner(db) not in ("", owner), "gp1's journal taken over", 60)
        assert any(":%d:" % i.proc.pid in journal_lease_owner(db) for i in survivors)
        time.sleep(1.0)  # T: after the kill and batch 1, before batch 2
        t = time.time_ns()
        time.sleep(1.0)
        for pg in (coordinator, segment):
            pg.sql("INSERT INTO batches SELECT 2, g FROM generate_series(1, 50) g")
        for pg, shard in [(coordinator, "coordinator"), (segment, "seg0")]:
            wait_archived(url, pg, shard)  # every shard's WAL passes T, archived by the survivor

        req = gp_cs.RestoreClusterRequest(backup_id=base_id, folder_id="f1", name="gp-pitr",
                                          environment=gp_c.Cluster.PRODUCTION, network_id="local")
        req.time.FromNanoseconds(t)
        op = survivors[1].client(gp_csg.ClusterServiceStub).Restore(req, metadata=WRITER)
        done(survivors[1], op)
        for d in dirs:
            pg = pg_factory(data_dir=d)
            poll(lambda: pg.sql("SELECT pg_is_in_recovery()") == "f", "restored server promoted")
            assert pg.sql("SELECT batch, count(*) FROM batches GROUP BY batch ORDER BY batch") == "1|100"
    finally:
        for p in rd_proxies + [proxy]:
            p.release()  # a held source would keep its backup, and so a stop, waiting
        stopped = []
        for inst in instances:  # every one, even when one fails to stop
            try:
                inst.stop()
            except AssertionError as e:
                stopped.append(e)
        if stopped:
            raise stopped[0]
