"""The CLI's output against a real server (issue #16): tables for people by default, the API's
JSON or YAML on request, a list across all four engines when --engine is left out."""
import json
import os
import subprocess

import requests

from mdb_harness import CLI, RECORDS, WRITER, wait_operation


def cli(server, *args):
    env = dict(os.environ, MDB_BACKUP_ENDPOINT=server.rest, MDB_BACKUP_TOKEN="reader-token-1", TZ="UTC")
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=120)


def test_backup_list_is_a_table_across_engines_and_json_on_request(server):
    r = cli(server, "--utc", "backup", "list", "--folder", "f1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "ENGINE", "CLUSTER", "TYPE", "METHOD", "CREATED", "AGE", "SIZE"], lines[0]
    rows = {l.split()[0]: l for l in lines[1:]}
    want = {rec["id"] for rec in RECORDS if rec["folderId"] == "f1"}
    assert set(rows) == want, (set(rows), want)
    # Newest first across engines; sizes for people; the Greenplum INCREMENTAL's method.
    created = [rec["createdAt"] for rec in sorted((r for r in RECORDS if r["folderId"] == "f1"),
                                                  key=lambda r: r["createdAt"], reverse=True)]
    assert [l.split()[0] for l in lines[1:]][0] == next(r["id"] for r in RECORDS if r["createdAt"] == created[0])
    assert "greenplum" in rows["gp-incr"] and "INCREMENTAL" in rows["gp-incr"] and "8.0 PiB" in rows["gp-incr"]
    assert "1.5 GiB" in rows["gp-base"] and "2026-11-20 01:10:00 +00:00" in rows["gp-base"]
    # JSON: the engine's list as the API returns it.
    r = cli(server, "--format", "json", "backup", "list", "--engine", "redis", "--cluster", "rd1")
    assert r.returncode == 0, r.stderr
    assert [b["id"] for b in json.loads(r.stdout)["backups"]] == ["rd-2", "rd-1"]
    r = cli(server, "--format", "yaml", "backup", "get", "--engine", "redis", "rd-1")
    assert r.returncode == 0 and 'id: "rd-1"\n' in r.stdout and 'sourceClusterId: "rd1"\n' in r.stdout, r.stdout
    r = cli(server, "backup", "get", "--engine", "greenplum", "gp-base")
    assert r.returncode == 0, r.stderr
    assert any(l.split()[:2] == ["size:", "1.5"] for l in r.stdout.splitlines()), r.stdout
    # A cluster of one engine, listed without --engine: the other engines' NOT_FOUND is skipped.
    r = cli(server, "backup", "list", "--cluster", "mg1")
    assert r.returncode == 0 and "mg-1" in r.stdout and "ENGINE" not in r.stdout.splitlines()[0], r.stdout
    # An error reads as the server's message, not raw JSON.
    r = cli(server, "backup", "get", "--engine", "redis", "nope")
    assert r.returncode == 1 and "not found" in r.stderr and "(HTTP 404)" in r.stderr and "{" not in r.stderr


def test_cluster_list_and_status(server):
    r = cli(server, "cluster", "list", "--folder", "f1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "ENGINE", "NAME", "FOLDER", "STATUS", "ROLE"], lines
    ids = [l.split()[0] for l in lines[1:]]
    assert ids == sorted(["gp1", "mg1", "rd1", "os1"]), ids  # f1's clusters of every engine, by id
    assert "rd2" not in r.stdout  # another folder's
    r = cli(server, "--utc", "cluster", "status", "gp1")
    assert r.returncode == 0, r.stderr
    status = dict(l.split(":", 1) for l in r.stdout.splitlines() if not l.startswith(" "))
    assert status["cluster"].strip() == "gp1 (greenplum)" and status["role"].strip() == "protected"
    assert status["backups"].strip().startswith("2, 8.0 PiB referenced"), status
    assert status["last INCREMENTAL"].strip().endswith("gp-incr") and status["last BASE"].strip().endswith("gp-base")
    assert status["schedule"].strip() == "AUTOMATED daily at 22:00 UTC (+ up to 10 min), kept 7 days", status
    assert status["next AUTOMATED"].strip().endswith(":00 +00:00 (in %s" % status["next AUTOMATED"].split("(in ")[1]), status
    assert status["restorable"].strip().startswith("2026-11-20 01:10:00 +00:00 to 2026-11-21 01:02:00"), status
    r = cli(server, "--format", "json", "cluster", "status", "rd1")
    doc = json.loads(r.stdout)
    assert doc["cluster"]["id"] == "rd1" and [b["id"] for b in doc["backups"]] == ["rd-2", "rd-1"]
    r = cli(server, "cluster", "status", "nope")
    assert r.returncode == 1 and "no engine knows cluster 'nope'" in r.stderr, r.stderr
    # The cluster's operations: a backup that failed (its servers are unreachable here) is the
    # newest that ended, with the server's reason; JSON carries them as ListOperations does.
    r = requests.post(server.rest + "/managed-opensearch/v1/clusters/os1:backup",
                      headers={"Authorization": "Bearer " + WRITER})
    assert r.status_code == 200, r.text
    op = wait_operation(server, r.json()["id"])
    r = cli(server, "--utc", "cluster", "status", "os1")
    assert r.returncode == 0, r.stderr
    ended = [l for l in r.stdout.splitlines() if l.startswith("last operations:")]
    assert len(ended) == 1 and op.id in ended[0] and "FAILED: " in ended[0], r.stdout
    assert "127.0.0.1:1" in ended[0] and "running:" not in r.stdout, r.stdout
    r = cli(server, "--format", "json", "cluster", "status", "os1")
    assert json.loads(r.stdout)["operations"][0]["id"] == op.id
