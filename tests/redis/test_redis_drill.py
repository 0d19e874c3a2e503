"""Restore drills of Redis backups (issue #18): mdb-backupd restores a backup into throwaway
redis-servers of its own (`local`) or into a declared scratch cluster, checks the keys of every
database against what the backup counted from the RDB, and records the result on the backup.
Every test also checks that a drill leaves no process and no file behind."""
import os
import pathlib
import subprocess
import time

import requests

from mdb_harness import damage_largest_pack, drill_leftovers, drills_dir, CLI, start_server, wait_operation
from redis_harness import fill

WRITER = {"Authorization": "Bearer writer-token-1"}


def server_with(workdir, clusters, work_dir):
    server = start_server(workdir, clusters, start=False, server_extra=(
        "  drills: {work_dir: \"%s\", memory_mb: 2048}\n" % work_dir))
    text = server.config.read_text()
    server.config.write_text(text.replace(
        "clusters:", "  - {token: metrics-token-1, subject: prometheus, read: [\"*\"]}\nclusters:", 1))
    server.start()
    return server


def backup(server, cluster_id):
    r = requests.post(server.rest + "/managed-redis/v1/clusters/%s:backup" % cluster_id, headers=WRITER)
    assert r.status_code == 200, r.text
    op = wait_operation(server, r.json()["id"])
    assert not op.HasField("error"), op.error
    r = requests.get(server.rest + "/managed-redis/v1/clusters/%s/backups" % cluster_id, headers=WRITER)
    return r.json()["backups"][0]["id"]


def drill(server, backup_id, target="", token=WRITER):
    r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id, headers=token,
                      json={"target": target} if target else {})
    assert r.status_code == 200, r.text
    return wait_operation(server, r.json()["id"])


def verifications(server, cluster_id):
    r = requests.get(server.rest + "/mdb-backup/v1/clusters/%s/verifications" % cluster_id, headers=WRITER)
    assert r.status_code == 200, r.text
    return r.json()



def assert_nothing_left(work_dir):
    assert drill_leftovers(work_dir) == []


def test_a_local_drill_of_a_good_backup_passes_and_is_recorded(workdir, redis_factory):
    src = redis_factory()
    fill(src, 3000)  # every type, a fifth of the strings with a time to live
    src.pipe([["SELECT", "3"]] + [["SET", "other-db:%d" % i, "v"] for i in range(250)])
    work_dir = drills_dir(workdir)
    server = server_with(workdir, '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n'
                         % src.address, work_dir)
    try:
        backup_id = backup(server, "src")
        op = drill(server, backup_id)
        assert not op.HasField("error"), op.error
        got = verifications(server, "src")
        v = got["backups"][0]["verification"]
        assert got["backups"][0]["backupId"] == backup_id and v["ok"] is True, got
        assert v["target"] == "local" and "lastVerifiedAt" in got, got
        keyspace = src.info("keyspace")
        assert keyspace["db3"].startswith("keys=250,"), keyspace
        keys = int(keyspace["db0"].split(",")[0].split("=")[1])
        assert any("2 databases, %d keys" % (keys + 250) in line for line in v["checked"]), v
        assert_nothing_left(work_dir)
        # Seen where people look: the CLI's backup list and drills, and the metrics.
        env = dict(os.environ, MDB_BACKUP_ENDPOINT=server.rest, MDB_BACKUP_TOKEN="writer-token-1")
        listed = subprocess.run([str(CLI), "backup", "list", "--cluster", "src"], env=env,
                                capture_output=True, text=True)
        assert listed.returncode == 0 and "VERIFIED" in listed.stdout, listed.stdout + listed.stderr
        assert "passed" in listed.stdout, listed.stdout
        shown = subprocess.run([str(CLI), "cluster", "drills", "src"], env=env, capture_output=True,
                               text=True)
        assert shown.returncode == 0 and "passed" in shown.stdout and "keys" in shown.stdout, shown
        metrics = requests.get(server.rest + "/metrics",
                               headers={"Authorization": "Bearer metrics-token-1"}).text
        assert 'mdb_backup_last_verified_timestamp_seconds{cluster="src",engine="redis"}' in metrics
        assert 'mdb_drills_total{cluster="src",engine="redis",result="passed"} 1' in metrics
        # The catalog lost (disaster recovery): the one rebuilt from the repository at the next
        # start still knows what the drill proved.
        server.stop()
        for f in server.workdir.glob("catalog.db*"):
            f.unlink()
        server.start()
        again = verifications(server, "src")["backups"]
        assert again[0]["backupId"] == backup_id and again[0]["verification"] == v, again
    finally:
        server.stop()


def test_a_drill_of_a_damaged_backup_fails_and_says_what(workdir, redis_factory):
    src = redis_factory()
    fill(src, 4000)
    work_dir = drills_dir(workdir)
    server = server_with(workdir, '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n'
                         % src.address, work_dir)
    try:
        backup_id = backup(server, "src")
        damage_largest_pack(server)
        op = drill(server, backup_id)
        assert op.HasField("error") and "drill of backup" in op.error.message, op
        v = verifications(server, "src")["backups"][0]["verification"]
        assert not v.get("ok") and "chunk" in v["message"], v
        assert_nothing_left(work_dir)
    finally:
        server.stop()


def test_drills_run_by_themselves_after_every_backup(workdir, redis_factory):
    src = redis_factory()
    fill(src, 500)
    work_dir = drills_dir(workdir)
    server = server_with(workdir, "  - {id: src, folder_id: f1, engine: redis, hosts: [\"%s\"],"
                         " drill: {every_backups: 1}}\n" % src.address, work_dir)
    try:
        backup_id = backup(server, "src")
        deadline = time.time() + 120
        while time.time() < deadline:
            got = verifications(server, "src")["backups"][0]
            if "verification" in got:
                break
            time.sleep(0.5)
        assert got["backupId"] == backup_id and got["verification"]["ok"] is True, got
    finally:
        server.stop()
    assert_nothing_left(work_dir)


def test_a_drill_into_a_scratch_cluster_empties_it_before_and_after(workdir, redis_factory):
    src, scratch, other = redis_factory(), redis_factory(), redis_factory()
    fill(src, 800)
    # Restored besides keys, and not to stay on the scratch cluster either: a user of the
    # backup's folder (its password is theirs) and a function library.
    src.cli("ACL", "SETUSER", "alice", "on", ">alice-secret", "~*", "+get")
    src.cli("FUNCTION", "LOAD", "#!lua name=drilllib\nredis.register_function('f', function() return 1 end)")
    scratch.cli("SET", "left-over", "from before")  # would make the restore refuse the target
    other.cli("SET", "precious", "1")
    work_dir = drills_dir(workdir)
    server = server_with(workdir, (
        '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n'
        '  - {id: scratch, folder_id: f1, engine: redis, scratch: true, hosts: ["%s"]}\n'
        '  - {id: other, folder_id: f1, engine: redis, restore_target: true, hosts: ["%s"]}\n')
        % (src.address, scratch.address, other.address), work_dir)
    try:
        backup_id = backup(server, "src")
        op = drill(server, backup_id, target="scratch")
        assert not op.HasField("error"), op.error
        v = verifications(server, "src")["backups"][0]["verification"]
        assert v["ok"] is True and v["target"] == "scratch", v
        assert scratch.cli("DBSIZE") == "0"  # the restored data does not stay there
        assert scratch.cli("ACL", "USERS") == "default" and scratch.cli("FUNCTION", "LIST") == ""
        op = drill(server, backup_id, target="scratch")  # again: nothing of the first is in the way
        assert not op.HasField("error"), op.error
        # A cluster not declared scratch is never a drill's target, whatever the token may do.
        r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id,
                          headers=WRITER, json={"target": "other"})
        assert r.status_code == 400 and "scratch: true" in r.json()["message"], r.text
        assert other.cli("GET", "precious") == "1"
        # Nor is a scratch cluster a restore target: the next drill would empty what it got.
        r = requests.post(server.rest + "/managed-redis/v1/clusters:restore", headers=WRITER,
                          json={"backupId": backup_id, "folderId": "f1", "name": "scratch",
                                "environment": "PRODUCTION", "configSpec": {"version": "7.0"}})
        assert r.status_code == 400 and "scratch: true" in r.json()["message"], r.text
        # Reading a folder is not taking its data out: a reader may not drill.
        r = requests.post(server.rest + "/mdb-backup/v1/backups/%s:drill" % backup_id,
                          headers={"Authorization": "Bearer reader-token-1"}, json={})
        assert r.status_code == 403, r.text
    finally:
        server.stop()


def test_a_scratch_cluster_that_is_another_clusters_server_by_another_name_is_not_emptied(
        workdir, redis_factory):
    src = redis_factory()
    fill(src, 300)
    port = src.address.rsplit(":", 1)[1]
    # The load compares addresses as written: `localhost` passes it; the drill resolves them.
    server = server_with(workdir, (
        '  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}\n'
        '  - {id: scratch, folder_id: f1, engine: redis, scratch: true, hosts: ["localhost:%s"]}\n')
        % (src.address, port), drills_dir(workdir))
    try:
        backup_id = backup(server, "src")
        keys = src.cli("DBSIZE")
        op = drill(server, backup_id, target="scratch")
        assert op.HasField("error") and "may be the scratch host localhost:%s" % port in \
            op.error.message, op
        assert src.cli("DBSIZE") == keys and keys != "0"
    finally:
        server.stop()
