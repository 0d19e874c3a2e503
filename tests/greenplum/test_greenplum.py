"""Greenplum engine end to end through the official SDK: coordinator and segments are PostgreSQL 15
servers. BASE backups under pgbench load, page-level INCREMENTALs (only on the same history),
restores compared with their sources, point-in-time restores through the archived WAL, and the
refusals: times before a backup, malformed times, WAL not archived yet, a gap in the WAL."""
import collections
import datetime
import re
import subprocess
import time

import grpc
import pytest
from yandex.cloud.mdb.greenplum.v1 import backup_pb2 as gp_b
from yandex.cloud.mdb.greenplum.v1 import backup_service_pb2 as gp_bs, backup_service_pb2_grpc as gp_bsg
from yandex.cloud.mdb.greenplum.v1 import cluster_pb2 as gp_c
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs, cluster_service_pb2_grpc as gp_csg

from pg_harness import postgres_dir, reserve_port
from mdb_harness import (CLI, RECORDS, Server, Worker, operation_json, restore_target, sharded_cluster, start_server,
                         wait_operation, wait_running)

WRITER = [("authorization", "Bearer writer-token-1")]
# Everything pgbench writes, as counts and digests: equal only if every row is.
DIGEST = ("SELECT (SELECT count(*) || ':' || md5(string_agg(aid || ',' || abalance, ';' ORDER BY aid))"
          "        FROM pgbench_accounts),"
          "       (SELECT md5(string_agg(tid || ',' || tbalance, ';' ORDER BY tid)) FROM pgbench_tellers),"
          "       (SELECT md5(string_agg(bid || ',' || bbalance, ';' ORDER BY bid)) FROM pgbench_branches),"
          "       (SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', tid, bid, aid, delta, mtime),"
          "                                           ';' ORDER BY mtime, tid, bid, aid, delta)), '')"
          "        FROM pgbench_history)")


def gp1(coordinator, segment):
    return sharded_cluster("gp1", [coordinator.address, segment.address], engine="greenplum",
                           names=["coordinator", "seg0"])


def restored_cluster(cluster_id, dirs, names=("coordinator", "seg0", "seg1")):
    return restore_target(cluster_id, dirs, names)


def wait_op(server, op, timeout=300):
    return wait_operation(server, op, timeout=timeout)


def poll(condition, what, timeout=120):
    """Waits for `condition()` (a hang guard, not a speed limit)."""
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "%s: not within %d s" % (what, timeout)
        time.sleep(0.1)


def wait_recovered(pg, timeout=120):
    """A restored server replays WAL to its target, then promotes itself."""
    poll(lambda: pg.sql("SELECT pg_is_in_recovery()") == "f", "restored server left recovery", timeout)


def history(pg):
    """pgbench_history as a multiset of rows (pgbench only appends to it)."""
    return collections.Counter(pg.sql("SELECT tid, bid, aid, delta, mtime FROM pgbench_history").splitlines())


def assert_pgbench_consistent(pg):
    """pgbench's invariants: every transaction moved one account, teller and branch by its delta
    and logged that delta in the history, atomically; so the sums agree and each account's balance
    is the sum of its logged deltas."""
    sums = pg.sql("SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),"
                  " (SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
    assert len(set(sums.split("|"))) == 1, sums
    assert pg.sql("SELECT count(*) FROM pgbench_accounts a"
                  " LEFT JOIN (SELECT aid, sum(delta) AS s FROM pgbench_history GROUP BY aid) h USING (aid)"
                  " WHERE a.abalance <> coalesce(h.s, 0)") == "0"


def wal_object(server, cluster_id, shard, f):
    """The journal piece of WAL file `f` of a shard (docs/format.md, "Journal pieces":
    journal/<hex cluster>/<hex shard>/<start>-<end>.<system id>.<file>[.t<last transaction>]), or None
    while it is not archived."""
    shard_dir = server.workdir / "repository" / "journal" / cluster_id.encode().hex() / shard.encode().hex()
    found = [p for p in shard_dir.glob("*-*.*.%s*" % f)] if shard_dir.exists() else []
    assert len(found) <= 1, found
    return found[0] if found else None


def switch_wal_and_wait_archived(server, cluster_id, shards, names):
    """Closes the current WAL segment of every shard and waits until the archiver has committed each
    as its repository object (shards are archived independently). Returns the segments' file names."""
    files = [pg.sql("SELECT pg_walfile_name(pg_switch_wal())") for pg in shards]
    for name, f in zip(names, files):
        poll(lambda: wal_object(server, cluster_id, name, f) is not None,
             "WAL segment %s of shard %s archived" % (f, name))
    return files


class Api:
    """The cluster and backup services of one server, as the tests use them."""

    def __init__(self, server):
        self.server = server
        self.clusters = server.client(gp_csg.ClusterServiceStub)
        self.backups = server.client(gp_bsg.BackupServiceStub)

    def get(self, backup_id):
        return self.backups.Get(gp_bs.GetBackupRequest(backup_id=backup_id), metadata=WRITER)

    def backup(self, cluster_id):
        op = self.clusters.Backup(gp_cs.BackupClusterRequest(cluster_id=cluster_id), metadata=WRITER)
        meta = gp_cs.BackupClusterMetadata()
        assert op.metadata.Unpack(meta) and meta.cluster_id == cluster_id and meta.backup_id
        op = wait_op(self.server, op)
        assert op.WhichOneof("result") == "response", op.error
        return self.get(meta.backup_id)

    @staticmethod
    def restore_request(b, target, at_ns=None):
        req = gp_cs.RestoreClusterRequest(backup_id=b.id, folder_id="f1", name=target,
                                          environment=gp_c.Cluster.PRODUCTION, network_id="local")
        if at_ns is not None:
            req.time.SetInParent()
            req.time.FromNanoseconds(at_ns)
        return req

    def restore(self, b, target, at_ns=None):
        """The finished Operation of restoring `b` into the declared cluster `target`."""
        return wait_op(self.server, self.clusters.Restore(self.restore_request(b, target, at_ns), metadata=WRITER))


def test_base_backup_of_every_segment_and_restore(workdir, pg_factory):
    """A coordinator under pgbench load and an idle segment, one BASE backup of both, restored into
    fresh directories: the segment equals its source row for row; the coordinator is a consistent
    state of its source that holds every transaction committed before the backup started and none
    that its source does not have."""
    coordinator, segment = pg_factory(), pg_factory()
    for pg, scale in [(coordinator, 1), (segment, 2)]:
        pg.pgbench("-i", "-s", scale, "-q")
    segment.pgbench("-t", "200")  # balances and history, not only the initial rows
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    server = start_server(workdir, gp1(coordinator, segment) + """  - id: gp-restored
    folder_id: f1
    engine: greenplum
    shards:
      - {name: coordinator, hosts: [{address: "127.0.0.1:1", data_dir: "%s"}]}
      - {name: seg0, hosts: [{address: "127.0.0.1:2", data_dir: "%s"}]}
""" % (dirs[0], dirs[1]))
    api = Api(server)
    expected_segment = segment.sql(DIGEST)
    committed = lambda: int(coordinator.sql("SELECT count(*) FROM pgbench_history"))  # noqa: E731
    # pgbench writes on the coordinator during the backup (-n: no VACUUM and history TRUNCATE
    # before each run, so pgbench_history only grows).
    load = Worker(lambda i: coordinator.pgbench("-n", "-c", "2", "-T", "1"), "pgbench").start()
    try:
        load.wait_steps(1)
        before = committed()
        b = api.backup("gp1")
        after = committed()
    finally:
        load.stop()
    try:
        assert after > before, "the load committed nothing while the backup ran"
        assert b.method == gp_b.Backup.BASE and b.type == gp_b.Backup.MANUAL
        assert b.size > 1_000_000 and b.started_at.ToNanoseconds() < b.created_at.ToNanoseconds()
        source_history = history(coordinator)
        op = api.restore(b, "gp-restored")
        assert op.WhichOneof("result") == "response", op.error
        restored = [pg_factory(data_dir=d) for d in dirs]
        for pg in restored:
            wait_recovered(pg)  # replayed to the backup's point, promoted: a new timeline
        assert restored[1].sql(DIGEST) == expected_segment
        assert_pgbench_consistent(restored[0])
        restored_history = history(restored[0])
        assert before <= sum(restored_history.values()) <= after
        extra = restored_history - source_history
        assert not extra, "the restore has transactions its source never had: %s" % list(extra)[:3]
        # A restore never overwrites: the target directories are no longer empty.
        op = api.restore(b, "gp-restored")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "not empty" in op.error.message
    finally:
        server.stop()


def test_a_segment_that_dies_mid_backup_fails_it_and_leaves_nothing(workdir, pg_factory, proxy_factory):
    """A segment stopped while its BASE_BACKUP streams (held part-way by a proxy, so the backup
    cannot end before): the backup fails naming it, and no backup is listed or committed to the
    repository."""
    coordinator, segment = pg_factory(), pg_factory()
    segment.pgbench("-i", "-s", "5", "-q")
    held_after = 16 << 20  # of the archive, past the first file's name (backup_label)
    assert int(segment.sql("SELECT pg_database_size('postgres')")) > 3 * held_after
    proxy = proxy_factory(segment.address)
    server = start_server(workdir, gp1(coordinator, proxy))
    try:
        proxy.stall_after(b"backup_label", held_after)
        op = server.client(gp_csg.ClusterServiceStub).Backup(
            gp_cs.BackupClusterRequest(cluster_id="gp1"), metadata=WRITER)
        proxy.wait_stalled()  # the segment's archive has begun and the rest cannot reach the service
        wait_running(server, op)
        segment.stop()  # immediate shutdown: the walsender dies mid-stream
        assert not operation_json(server, op).get("done")
        proxy.release()  # the service reads what was sent, then the close
        op = wait_op(server, op)
        assert op.WhichOneof("result") == "error"
        # The segment's BASE_BACKUP failed: its errors carry this prefix (the restore points, after
        # every copy, fail otherwise: "shard 'seg0': restore point" or "postgres <address>: ...").
        assert op.error.message.startswith("shard 'seg0' (%s): " % proxy.address), op.error.message
        lst = server.client(gp_csg.ClusterServiceStub).ListBackups(
            gp_cs.ListClusterBackupsRequest(cluster_id="gp1"), metadata=WRITER)
        assert len(lst.backups) == 0
        manifests_dir = server.workdir / "repository" / "manifests"
        manifests = [p.name for p in manifests_dir.iterdir()] if manifests_dir.exists() else []
        assert manifests == [], manifests  # no backup (WAL segments are journal pieces)
    finally:
        server.stop()


def test_incremental_then_point_in_time_restore_between_two_batches(workdir, pg_factory):
    """Coordinator + 2 segments. BASE, then INCREMENTAL after pgbench writes; both restore exactly.
    Two committed batches with a moment T between them: the restore to T holds exactly the first.
    Times before the backup completed are INVALID_ARGUMENT, a time not archived yet and a gap in the
    archived WAL are refused; refusals leave the targets untouched. Deleting the newest backup hands
    its journal to the older one."""
    names = ["coordinator", "seg0", "seg1"]
    shards = [pg_factory() for _ in names]
    for pg in shards:
        pg.pgbench("-i", "-s", "2", "-q")
        pg.sql("CREATE TABLE batches (batch int, n int)")
    targets = {name: [postgres_dir(workdir, "%s-%d" % (name, i)) for i in range(3)]
               for name in ("base", "incr", "pitr", "late", "gap")}
    server = start_server(workdir, sharded_cluster("gp3", [p.address for p in shards], engine="greenplum",
                                                   names=names) +
                          "".join(restored_cluster("gp-" + n, d) for n, d in targets.items()))
    api = Api(server)

    def restored(target):
        pgs = [pg_factory(data_dir=d) for d in targets[target[3:]]]
        for pg in pgs:
            wait_recovered(pg)  # replays to its target, then promotes
        return pgs

    def untouched(target):
        return all(not any(d.iterdir()) for d in targets[target[3:]])

    try:
        base = api.backup("gp3")
        assert base.method == gp_b.Backup.BASE and base.size > 0
        expected_base = [pg.sql(DIGEST) for pg in shards]
        for pg in shards:
            pg.pgbench("-c", "2", "-t", "300")
        incr = api.backup("gp3")
        assert incr.method == gp_b.Backup.INCREMENTAL
        assert incr.size < base.size  # changed pages only
        expected_incr = [pg.sql(DIGEST) for pg in shards]
        assert expected_incr != expected_base
        # The WAL written between the two backups is the BASE backup's journal.
        poll(lambda: api.get(base.id).journal_size > 0, "the BASE backup's journal archived")

        for pg in shards:
            pg.sql("INSERT INTO batches SELECT 1, g FROM generate_series(1, 100) g")
        batch1 = switch_wal_and_wait_archived(server, "gp3", shards, names)
        time.sleep(1.0)  # clock separation: T is after batch 1 committed and before batch 2 does
        t = time.time_ns()
        time.sleep(1.0)
        for pg in shards:
            pg.sql("INSERT INTO batches SELECT 2, g FROM generate_series(1, 50) g")
        switch_wal_and_wait_archived(server, "gp3", shards, names)  # every shard's WAL passes T

        op = api.restore(base, "gp-base")
        assert op.WhichOneof("result") == "response", op.error
        assert [pg.sql(DIGEST) for pg in restored("gp-base")] == expected_base
        op = api.restore(incr, "gp-incr")
        assert op.WhichOneof("result") == "response", op.error
        pgs = restored("gp-incr")  # to the backup's cluster-wide restore point
        assert [pg.sql(DIGEST) for pg in pgs] == expected_incr
        assert [pg.sql("SELECT count(*) FROM batches") for pg in pgs] == ["0"] * 3

        # Through the CLI, as a DBA would: a time with its zone, the backup picked (the newest
        # of gp3 completed by then: the INCREMENTAL).
        at = datetime.datetime.fromtimestamp(t / 1e9, tz=datetime.timezone.utc).isoformat()
        r = subprocess.run([str(CLI), "--endpoint", server.rest, "--token", "writer-token-1", "--format", "json", "backup",
                            "restore",
                            "--engine", "greenplum", "--cluster", "gp3", "--time", at, "--to", "gp-pitr",
                            "--wait"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "restoring from backup %s" % incr.id in r.stderr, r.stderr
        assert '"done":true' in r.stdout and '"error"' not in r.stdout, r.stdout
        # Each restored server is set to start on its declared port (127.0.0.1:1 here; the
        # harness starts it with -p on another), not on its source's beside it.
        for d in targets["pitr"]:
            auto = (d / "postgresql.auto.conf").read_text()
            assert auto.rstrip().endswith("port = 1"), auto
        for pg in restored("gp-pitr"):
            assert pg.sql("SELECT batch, count(*) FROM batches GROUP BY batch ORDER BY batch") == "1|100"

        # Before the backup completed (the BASE's start, during the INCREMENTAL, the epoch):
        # INVALID_ARGUMENT from the call itself; nothing starts.
        during = (incr.started_at.ToNanoseconds() + incr.created_at.ToNanoseconds()) // 2
        for at in (base.started_at.ToNanoseconds(), during, 0):
            with pytest.raises(grpc.RpcError) as e:
                api.clusters.Restore(api.restore_request(incr, "gp-late", at), metadata=WRITER)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (at, e.value)
            assert "before backup" in e.value.details(), e.value.details()
        # Later than anything archived: refused with a message.
        op = api.restore(incr, "gp-late", at_ns=(int(time.time()) + 3600) * 10**9)
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "not archived yet" in op.error.message, op.error
        assert untouched("gp-late")

        # A gap: seg0's WAL segment holding batch 1 lost from the repository. Its WAL no longer
        # reaches T without a hole: refused, no shard touched.
        wal_object(server, "gp3", "seg0", batch1[1]).unlink()
        op = api.restore(incr, "gp-gap", at_ns=t)
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "shard 'seg0'" in op.error.message and "gap" in op.error.message, op.error
        assert untouched("gp-gap")

        # The BASE cannot go while the INCREMENTAL builds on it.
        op = wait_op(server, api.backups.Delete(gp_bs.DeleteBackupRequest(backup_id=base.id), metadata=WRITER))
        assert op.error.code == 9 and "parent of INCREMENTAL" in op.error.message, op.error  # FAILED_PRECONDITION
        # Deleting the newest backup hands its journal to the older one.
        before = [api.get(b.id).journal_size for b in (base, incr)]
        assert before[1] > 0  # the batches' segments
        op = api.backups.Delete(gp_bs.DeleteBackupRequest(backup_id=incr.id), metadata=WRITER)
        assert wait_op(server, op).WhichOneof("result") == "response"
        assert api.get(base.id).journal_size >= sum(before)  # (more WAL may have arrived meanwhile)
    finally:
        server.stop()


def source_cluster(cluster_id, servers, names, wal_archive):
    """A cluster to back up: one shard per server, its WAL archived or not."""
    opt = "" if wal_archive == "on" else ', wal_archive: "off"'
    shards = "".join('      - {name: %s, hosts: [{address: "%s"%s}]}\n' % (n, pg.address, opt)
                     for n, pg in zip(names, servers))
    return "  - id: %s\n    folder_id: f1\n    engine: greenplum\n    shards:\n%s" % (cluster_id, shards)


def increments_logged(log):
    """The shards the server logged as stored page-level ("N of M relation pages changed since")."""
    return set(re.findall(r"segment '([^']+)': \d+ of \d+ relation pages changed since", log))


@pytest.mark.parametrize("wal_archive", ["off", "on"])
def test_incremental_only_on_the_same_system_and_timeline(workdir, pg_factory, wal_archive):
    """An INCREMENTAL takes pages from its parent only on the same history. Of three shards, one
    keeps its history; one is replaced by another initdb at its address (another system id); one is
    restored in place from an older backup (a new timeline). The two replaced ones carry pages with
    LSNs below the parent's start that differ from the parent's: they are stored whole, and the
    restore of that backup equals every source row for row, with or without the WAL journal."""
    names = ["keep", "fresh", "rewound"]
    keep, fresh, rewound = shards = [pg_factory() for _ in names]
    for pg in shards:
        pg.pgbench("-i", "-s", "1", "-q")
    scratch = [postgres_dir(workdir, "scratch-%d" % i) for i in range(2)]
    out = [postgres_dir(workdir, "out-%d" % i) for i in range(3)]
    server = start_server(workdir, source_cluster("gpx", shards, names, wal_archive) +
                          restored_cluster("gpx-rewind", scratch + [rewound.data], names) +
                          restored_cluster("gpx-out", out, names))
    api = Api(server)
    try:
        b1 = api.backup("gpx")
        for pg in shards:
            pg.pgbench("-c", "2", "-t", "500")
        lsn_before_b2 = {pg: pg.lsn() for pg in shards}
        log_from = len(server.read_log())
        b2 = api.backup("gpx")
        assert b2.method == gp_b.Backup.INCREMENTAL
        assert increments_logged(server.read_log()[log_from:]) == set(names)  # pages since b1, everywhere
        # fresh: another database system at the same address, with other data.
        fresh.reinit()
        fresh.pgbench("-i", "-s", "1", "-q")
        fresh.pgbench("-t", "300")
        # rewound: b1 restored in place, then other writes on the new timeline.
        rewound.wipe()
        op = api.restore(b1, "gpx-rewind")
        assert op.WhichOneof("result") == "response", op.error
        rewound.start()
        wait_recovered(rewound)
        assert rewound.sql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") != "00000001"
        rewound.pgbench("-t", "300")
        keep.pgbench("-t", "300")
        # What makes a parent's pages wrong here: the replaced shards' pages carry LSNs below b2's
        # start, which a same-history increment would take from b2.
        for pg in (fresh, rewound):
            assert pg.lsn() < lsn_before_b2[pg]
        expected = [pg.sql(DIGEST) for pg in shards]
        log_from = len(server.read_log())
        b3 = api.backup("gpx")
        # The chain policy records it INCREMENTAL (parent b2); the engine decided per shard: only
        # the shard that kept its history was stored as changed pages, the others whole.
        assert b3.method == gp_b.Backup.INCREMENTAL
        assert increments_logged(server.read_log()[log_from:]) == {"keep"}

        op = api.restore(b3, "gpx-out")
        assert op.WhichOneof("result") == "response", op.error
        restored = [pg_factory(data_dir=d) for d in out]
        for pg in restored:
            wait_recovered(pg)
        assert [pg.sql(DIGEST) for pg in restored] == expected
    finally:
        server.stop()


def test_a_restored_cluster_backs_up_and_restores_again(workdir, pg_factory):
    """A cluster restored to a point in time is a cluster like any other: its own backup (journal
    off) restores, and holds what it held."""
    source = pg_factory()
    source.pgbench("-i", "-s", "1", "-q")
    source.sql("CREATE TABLE batches (batch int, n int)")
    at_t, again = postgres_dir(workdir, "at-t"), postgres_dir(workdir, "again")
    port = reserve_port()  # of the server started on the first restore, backed up in turn
    server = start_server(workdir, source_cluster("gpa", [source], ["seg0"], "on") +
                          restored_cluster("gpa-t", [at_t], ["seg0"]) +
                          "  - id: gpb\n    folder_id: f1\n    engine: greenplum\n    shards:\n"
                          '      - {name: seg0, hosts: [{address: "127.0.0.1:%d", wal_archive: "off"}]}\n' % port +
                          restored_cluster("gpb-out", [again], ["seg0"]))
    api = Api(server)
    try:
        b1 = api.backup("gpa")
        source.sql("INSERT INTO batches SELECT 1, g FROM generate_series(1, 100) g")
        switch_wal_and_wait_archived(server, "gpa", [source], ["seg0"])
        time.sleep(1.0)  # clock separation around T
        t = time.time_ns()
        time.sleep(1.0)
        source.sql("INSERT INTO batches SELECT 2, g FROM generate_series(1, 50) g")
        switch_wal_and_wait_archived(server, "gpa", [source], ["seg0"])
        op = api.restore(b1, "gpa-t", at_ns=t)
        assert op.WhichOneof("result") == "response", op.error
        first = pg_factory(data_dir=at_t, port=port)
        wait_recovered(first)
        expected = first.sql(DIGEST), first.sql("SELECT batch, count(*) FROM batches GROUP BY batch")
        assert expected[1] == "1|100"
        b2 = api.backup("gpb")
        op = api.restore(b2, "gpb-out")
        assert op.WhichOneof("result") == "response", op.error
        second = pg_factory(data_dir=again)
        wait_recovered(second)
        assert (second.sql(DIGEST), second.sql("SELECT batch, count(*) FROM batches GROUP BY batch")) == expected
    finally:
        server.stop()


def test_a_malformed_point_in_time_is_invalid_argument(workdir):
    """google.protobuf.Timestamp's nanos are 0..999,999,999: a time outside that is malformed and
    refused with INVALID_ARGUMENT, not read as another time (an imported Greenplum backup: the time
    is checked before anything is read)."""
    server = Server(workdir)
    server.import_records(RECORDS)
    server.start()
    api = Api(server)
    try:
        b = api.get("gp-incr")
        for nanos in (-1, 1_000_000_000):
            req = api.restore_request(b, "gp-nowhere")
            req.time.seconds = b.created_at.seconds + 86400
            req.time.nanos = nanos
            with pytest.raises(grpc.RpcError) as e:
                api.clusters.Restore(req, metadata=WRITER)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (nanos, e.value.code(), e.value.details())
    finally:
        server.stop()
