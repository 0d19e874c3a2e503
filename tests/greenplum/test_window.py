"""The restorable window of a Greenplum cluster (issue #18): GetRecoveryWindow and `mdb-backup
cluster window` after a BASE backup and archived WAL; a time past the window is refused naming how
far the backup reaches; a piece of WAL lost from the repository shows as a gap with its reason,
and a later backup starts a new span."""
import datetime
import json
import re
import subprocess
import time

import grpc
import requests

from mdb_harness import CLI, restore_target, sharded_cluster, start_server
from pg_harness import postgres_dir
from test_greenplum import Api, switch_wal_and_wait_archived, wait_recovered, wal_object

READER = {"Authorization": "Bearer reader-token-1"}


def window(server, cluster="gp1"):
    r = requests.get(server.rest + "/mdb-backup/v1/clusters/%s/recoveryWindow" % cluster, headers=READER)
    assert r.status_code == 200, r.text
    return r.json()


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ns(text):
    """An RFC 3339 time with up to 9 fractional digits, as nanoseconds since the epoch, exactly."""
    m = re.fullmatch(r"(.*?)(?:\.(\d{1,9}))?Z", text)
    whole = datetime.datetime.fromisoformat(m[1] + "+00:00")
    return int(whole.timestamp()) * 10**9 + int((m[2] or "").ljust(9, "0"))


def test_window_gap_and_refusal(workdir, pg_factory):
    names = ["coordinator", "seg0"]
    shards = [pg_factory() for _ in names]
    for pg in shards:
        pg.sql("CREATE TABLE batches (batch int, n int)")
    dirs = [postgres_dir(workdir, "late-%d" % i) for i in range(2)]
    server = start_server(workdir, sharded_cluster("gp1", [p.address for p in shards], engine="greenplum",
                                                   names=names) + restore_target("gp-late", dirs, names))
    api = Api(server)
    try:
        empty = window(server)
        assert empty["pointInTime"] is True and "spans" not in empty and "earliest" not in empty, empty
        b1 = api.backup("gp1")
        for batch in (1, 2):
            for pg in shards:
                pg.sql("INSERT INTO batches SELECT %d, g FROM generate_series(1, 10) g" % batch)
            files = switch_wal_and_wait_archived(server, "gp1", shards, names)
            if batch == 1:
                lost = files[1]  # seg0's segment holding batch 1
        w = window(server)
        [span] = w["spans"]
        assert span["backupIds"] == [b1.id] and "gaps" not in w, w
        assert ts(span["from"]) == ts(w["earliest"]) == b1.created_at.ToDatetime(datetime.timezone.utc)
        assert ts(w["latest"]) > ts(w["earliest"]) and "last transaction in the archived WAL" in w["latestReason"], w
        # The CLI's view of it.
        r = subprocess.run([str(CLI), "--endpoint", server.rest, "--token", "reader-token-1", "--utc", "cluster",
                            "window", "gp1"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "point in time" in r.stdout and b1.id in r.stdout and "GAP" not in r.stdout, r.stdout
        # Past the window: refused before anything is written, saying how far this backup reaches.
        # (An hour past it: the archiver may commit more WAL meanwhile.)
        late = ts(w["latest"]) + datetime.timedelta(hours=1)
        op = api.restore(b1, "gp-late", at_ns=int(late.timestamp()) * 10**9)
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "this backup restores to times up to" in op.error.message, op.error.message
        assert all(not any(d.iterdir()) for d in dirs)

        # A piece of seg0's WAL lost from the repository: b1 reaches no further than before it.
        wal_object(server, "gp1", "seg0", lost).unlink()
        b2 = api.backup("gp1")
        for pg in shards:
            pg.sql("INSERT INTO batches SELECT 3, g FROM generate_series(1, 10) g")
        switch_wal_and_wait_archived(server, "gp1", shards, names)
        w = window(server)
        assert [s["backupIds"] for s in w["spans"]] == [[b1.id], [b2.id]], w
        [gap] = w["gaps"]
        assert "shard 'seg0'" in gap["reason"] and "gap after" in gap["reason"], gap
        assert ts(gap["from"]) == ts(w["spans"][0]["to"]) and ts(gap["to"]) == ts(w["spans"][1]["from"])
        assert ts(w["spans"][1]["to"]) > ts(w["spans"][1]["from"])
        r = subprocess.run([str(CLI), "--endpoint", server.rest, "--token", "reader-token-1", "--format", "json",
                            "cluster", "window", "gp1"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and json.loads(r.stdout)["gaps"][0]["reason"] == gap["reason"], r.stdout + r.stderr
        # A token of another folder sees no such cluster.
        r = requests.get(server.rest + "/mdb-backup/v1/clusters/gp1/recoveryWindow",
                         headers={"Authorization": "Bearer other-token-01"})
        assert r.status_code == 404, r.text
    finally:
        server.stop()


def test_a_restore_to_the_window_end_has_the_last_commit(workdir, pg_factory):
    """The window ends at the last archived commit, not when its WAL was stored: WAL without a
    transaction (a checkpoint) archived well after the commit does not move it. A restore to that
    end starts (PostgreSQL 13+ would stop with FATAL waiting for a commit after the target) and
    holds the last committed rows."""
    pg = pg_factory()
    pg.sql("CREATE TABLE batches (batch int, n int)")
    dirs = [postgres_dir(workdir, "end-0")]
    idle_dirs = [postgres_dir(workdir, "idle-0")]
    server = start_server(workdir, sharded_cluster("gp1", [pg.address], engine="greenplum",
                                                   names=["coordinator"]) +
                          restore_target("gp-end", dirs, ["coordinator"]) +
                          restore_target("gp-idle", idle_dirs, ["coordinator"]))
    api = Api(server)
    try:
        b1 = api.backup("gp1")
        # Idle since the backup (WAL archived, no transaction): the window ends at the backup,
        # and a restore to that end is the backup's state.
        pg.sql("CHECKPOINT")
        switch_wal_and_wait_archived(server, "gp1", [pg], ["coordinator"])
        w = window(server)
        assert ts(w["latest"]) == b1.created_at.ToDatetime(datetime.timezone.utc), (w, b1.created_at)
        op = api.restore(b1, "gp-idle", at_ns=ns(w["latest"]))
        assert op.WhichOneof("result") == "response", op.error
        idle = pg_factory(data_dir=idle_dirs[0])
        wait_recovered(idle)
        assert idle.sql("SELECT count(*) FROM batches") == "0"

        before = time.time_ns()
        pg.sql("INSERT INTO batches SELECT 1, g FROM generate_series(1, 10) g")
        pg.sql("INSERT INTO batches SELECT 2, g FROM generate_series(1, 5) g")
        committed_by = time.time_ns()
        switch_wal_and_wait_archived(server, "gp1", [pg], ["coordinator"])
        time.sleep(1.5)
        pg.sql("CHECKPOINT")  # WAL, but no transaction
        switch_wal_and_wait_archived(server, "gp1", [pg], ["coordinator"])
        w = window(server)
        latest = ns(w["latest"])
        assert before < latest <= committed_by, (before, w["latest"], committed_by)
        assert "last transaction in the archived WAL" in w["latestReason"], w
        # As a DBA would say it: the CLI asks the window for `latest`, and picks the backup.
        r = subprocess.run([str(CLI), "--endpoint", server.rest, "--token", "writer-token-1", "backup", "restore",
                            "--engine", "greenplum", "--cluster", "gp1", "--time", "latest", "--to", "gp-end",
                            "--wait"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "restoring from backup %s" % b1.id in r.stderr, r.stderr
        restored = pg_factory(data_dir=dirs[0])
        wait_recovered(restored)
        assert restored.sql("SELECT batch, count(*) FROM batches GROUP BY batch ORDER BY batch") == "1|10\n2|5"
    finally:
        server.stop()
