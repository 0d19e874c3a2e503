"""Restore drills of Greenplum backups (issue #18): each segment restored into a throwaway
`postgres` of mdb-backupd's own, recovered to the backup's restore point, then pg_amcheck over
every table and B-tree index of every database. A drill of a good backup passes; one of a backup
whose repository data was damaged, or of a cluster whose table was already corrupt when it was
backed up, fails and says what; none leaves a process or a file behind."""
import pathlib
import re
import subprocess

import requests

from mdb_harness import damage_largest_pack, drill_leftovers, drills_dir, sharded_cluster, start_server, wait_operation
from pg_harness import PGBIN
from test_greenplum import Api

WRITER = {"Authorization": "Bearer writer-token-1"}
NAMES = ["coordinator", "seg0"]


def setup(workdir, pg_factory):
    shards = [pg_factory() for _ in NAMES]
    for i, pg in enumerate(shards):
        pg.sql("CREATE TABLE accounts (id int PRIMARY KEY, balance int, note text)")
        pg.sql("INSERT INTO accounts SELECT g, g * %d, repeat('x', g %% 200) FROM generate_series(1, 20000) g"
               % (i + 1))
        pg.sql("CREATE DATABASE second")
    work_dir = drills_dir(workdir)
    server = start_server(workdir, sharded_cluster("gp1", [p.address for p in shards], engine="greenplum",
                                                   names=NAMES),
                          server_extra="  drills: {work_dir: \"%s\"}\n" % work_dir)
    return shards, server, work_dir


def drill(server, backup_id):
    r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id, headers=WRITER, json={})
    assert r.status_code == 200, r.text
    return wait_operation(server, r.json()["id"])


def verification(server):
    r = requests.get(server.rest + "/mdb-backup/v1/clusters/gp1/verifications", headers=WRITER)
    assert r.status_code == 200, r.text
    return r.json()["backups"][0]["verification"]


def assert_nothing_left(work_dir):
    assert drill_leftovers(work_dir) == []


def test_a_local_drill_of_a_good_backup_passes(workdir, pg_factory):
    shards, server, work_dir = setup(workdir, pg_factory)
    try:
        b = Api(server).backup("gp1")
        op = drill(server, b.id)
        assert not op.HasField("error"), op.error
        v = verification(server)
        assert v["ok"] is True and v["target"] == "local", v
        amchecked = [line for line in v["checked"] if "pg_amcheck found every table" in line]
        assert len(amchecked) == 2, v
        # accounts, its primary key, in two databases... as listed when the backup was taken.
        for line in amchecked:
            m = re.search(r"recovered; (\d+) relations, the (\d+) the backup listed among them", line)
            assert m and int(m[1]) >= int(m[2]) >= 2, line
        assert_nothing_left(work_dir)
    finally:
        server.stop()


def test_a_drill_of_damaged_repository_data_fails_and_says_what(workdir, pg_factory):
    shards, server, work_dir = setup(workdir, pg_factory)
    try:
        b = Api(server).backup("gp1")
        damage_largest_pack(server)
        op = drill(server, b.id)
        assert op.HasField("error"), op
        v = verification(server)
        assert not v.get("ok") and "chunk" in v["message"], v
        assert_nothing_left(work_dir)
    finally:
        server.stop()


def test_a_drill_finds_a_table_that_was_corrupt_when_backed_up(workdir, pg_factory):
    """The repository holds exactly what the server had: a heap page broken on the source is
    restored broken. Only a check of the restored database (pg_amcheck) can say so."""
    shards, server, work_dir = setup(workdir, pg_factory)
    try:
        seg0 = shards[1]
        path = seg0.data / seg0.sql("SELECT pg_relation_filepath('accounts')")
        seg0.sql("CHECKPOINT")
        seg0.stop()
        raw = bytearray(path.read_bytes())
        # The first line pointer of page 0: a normal item at an offset past the page's end
        # (lp_off 32761, lp_flags 1, lp_len 100, as the bit fields lie in little-endian).
        raw[24:28] = (32761 | 1 << 15 | 100 << 17).to_bytes(4, "little")
        path.write_bytes(bytes(raw))
        seg0.start()
        b = Api(server).backup("gp1")
        op = drill(server, b.id)
        assert op.HasField("error"), op
        v = verification(server)
        assert not v.get("ok"), v
        assert "segment 'seg0': pg_amcheck" in v["message"] and "accounts" in v["message"], v
        assert "coordinator" not in v["message"], v
        assert_nothing_left(work_dir)
    finally:
        server.stop()
