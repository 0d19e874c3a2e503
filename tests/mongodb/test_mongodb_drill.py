"""Restore drills of MongoDB backups (issue #18): `local` drills into throwaway FerretDB servers
(the configured MongoDB-protocol binary) and drills into a declared scratch cluster, which is
emptied before and after. A good backup passes; damaged repository data fails and says what; no
process and no file is left behind."""
import os
import pathlib
import shutil
import subprocess

import requests

from mdb_harness import damage_largest_pack, drill_leftovers, drills_dir, sharded_cluster, start_server, wait_operation
from mongo_harness import fill
from test_mongodb import backup

WRITER = {"Authorization": "Bearer writer-token-1"}
FERRETDB = pathlib.Path(os.environ.get("MDB_CACHE", pathlib.Path.home() / ".cache/mdb-backup")) / "bin/ferretdb"


def drills_dir_and_ferretdb(workdir):
    """The drills' work_dir, and a copy of the FerretDB binary beside it: the drill user (nobody,
    when tests run as root) cannot reach the one in root's cache."""
    d = drills_dir(workdir)
    binary = pathlib.Path(workdir) / "bin" / "ferretdb"
    binary.parent.mkdir(mode=0o755)
    shutil.copy(FERRETDB, binary)
    binary.chmod(0o755)
    return d, binary


def drill(server, backup_id, target=""):
    r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id, headers=WRITER,
                      json={"target": target} if target else {})
    assert r.status_code == 200, r.text
    return wait_operation(server, r.json()["id"])


def verification(server, cluster_id="mg"):
    r = requests.get(server.rest + "/mdb-backup/v1/clusters/%s/verifications" % cluster_id, headers=WRITER)
    assert r.status_code == 200, r.text
    return r.json()["backups"][0]["verification"]


def assert_nothing_left(work_dir):
    assert drill_leftovers(work_dir) == []


def test_local_drills_pass_for_a_good_backup_and_fail_for_damaged_data(workdir, mongo_factory):
    a, b = mongo_factory(), mongo_factory()
    fill(a, 2000, "shop")
    fill(b, 800, "crm")
    work_dir, binary = drills_dir_and_ferretdb(workdir)
    server = start_server(workdir, sharded_cluster("mg", [a.address, b.address], "mongodb", ["rs01", "rs02"]),
                          server_extra="  drills: {work_dir: \"%s\", binaries: {mongodb: \"%s\"}}\n"
                          % (work_dir, binary))
    try:
        op, backup_id = backup(server, "mg")
        assert op.WhichOneof("result") == "response", op.error
        op = drill(server, backup_id)
        assert not op.HasField("error"), op.error.message
        v = verification(server)
        assert v["ok"] is True and v["target"] == "local", v
        shard = [line for line in v["checked"] if line.startswith("shard 'rs01'")]
        assert shard and "4 collections and views present; 4200 documents" in shard[0], v
        assert_nothing_left(work_dir)
        damage_largest_pack(server)
        op = drill(server, backup_id)
        assert op.HasField("error"), op
        v = verification(server)
        assert not v.get("ok") and "chunk" in v["message"], v
        assert_nothing_left(work_dir)
    finally:
        server.stop()


def test_a_drill_into_a_scratch_cluster_empties_it_before_and_after(workdir, mongo_factory):
    src, scratch = mongo_factory(), mongo_factory()
    fill(src, 500, "shop")
    src.client.admin["system.users"].insert_one({"_id": "shop.app", "user": "app", "db": "shop",
                                                 "credentials": {"SCRAM-SHA-256": {"storedKey": "k"}},
                                                 "roles": []})
    scratch.client.leftover.things.insert_one({"from": "before"})  # a restore would refuse it
    work_dir, _ = drills_dir_and_ferretdb(workdir)
    server = start_server(workdir, sharded_cluster("mg", [src.address], "mongodb", ["rs01"]) +
                          "  - {id: mg-scratch, folder_id: f1, engine: mongodb, scratch: true,"
                          " shards: [{name: rs01, hosts: [\"%s\"]}]}\n" % scratch.address,
                          server_extra="  drills: {work_dir: \"%s\"}\n" % work_dir)
    try:
        op, backup_id = backup(server, "mg")
        assert op.WhichOneof("result") == "response", op.error
        op = drill(server, backup_id, target="mg-scratch")
        assert not op.HasField("error"), op.error.message
        v = verification(server)
        assert v["ok"] is True and v["target"] == "mg-scratch", v
        assert scratch.user_dbs() == []  # the restored data does not stay there
        assert "admin.system.users: 1 restored" in server.read_log()
        assert list(scratch.client.admin["system.users"].find()) == []  # nor its users
    finally:
        server.stop()
