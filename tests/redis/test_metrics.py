"""What operators watch (issue #16): /metrics read after real backups, a failure, a restore, a
delete and its GC, a restart and a reload, with the values checked against what the API says;
/healthz and who may read /metrics; promtool lints the exposition."""
import json
import re
import subprocess
import time
import urllib.error
import urllib.request

from yandex.cloud.mdb.redis.v1 import backup_service_pb2 as rd_bs, backup_service_pb2_grpc as rd_bsg

from mdb_harness import CLI, start_server, wait_operation
from redis_harness import fill
from test_redis import WRITER, backup, list_backups, restore

METRICS_TOKEN = "metrics-token-1"


def get(server, path, token=None):
    req = urllib.request.Request(server.rest + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def scrape(server):
    status, ctype, text = get(server, "/metrics", METRICS_TOKEN)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype, text)
    return text


def value(text, name, **labels):
    """The sample of `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def test_metrics_follow_backups_failures_restores_and_the_repository(workdir, redis_factory):
    src, target = redis_factory(), redis_factory()
    fill(src, 2000)
    clusters = ("  - {id: rd-src, folder_id: f1, engine: redis, hosts: [\"%s\"]}\n"
                "  - {id: rd-down, folder_id: f1, engine: redis, hosts: [\"127.0.0.1:1\"]}\n"
                "  - {id: rd-tgt, folder_id: f1, engine: redis, restore_target: true, hosts: [\"%s\"]}\n"
                % (src.address, target.address))
    server = start_server(workdir, clusters, start=False)
    text = server.config.read_text()
    server.config.write_text(text.replace(
        "clusters:", "  - {token: %s, subject: prometheus, read: [\"*\"]}\nclusters:" % METRICS_TOKEN, 1))
    server.start()
    try:
        # Liveness needs no token; metrics need one that reads every folder.
        assert get(server, "/healthz")[0] == 200
        assert get(server, "/metrics")[0] == 401
        status, _, body = get(server, "/metrics", "writer-token-1")
        assert status == 403 and 'read: [\\"*\\"]' in body, body
        m = scrape(server)
        assert value(m, "mdb_cluster_declared", cluster="rd-src", engine="redis") == 1
        assert value(m, "mdb_cluster_declared", cluster="rd-down") == 1
        assert value(m, "mdb_cluster_declared", cluster="rd-tgt") is None  # a target is not protected
        assert value(m, "mdb_backup_last_success_timestamp_seconds", cluster="rd-src") is None

        before = time.time()
        op = backup(server, "rd-src")
        assert not op.HasField("error"), op.error
        assert backup(server, "rd-down").error.code == 14  # UNAVAILABLE
        fill(src, 500, prefix="more")
        assert not backup(server, "rd-src").HasField("error")
        newest, oldest = list_backups(server, "rd-src")
        assert not restore(server, newest.id, "rd-tgt").HasField("error")

        m = scrape(server)
        last = value(m, "mdb_backup_last_success_timestamp_seconds", cluster="rd-src", engine="redis",
                     method="BASE")
        assert abs(last - newest.created_at.ToNanoseconds() / 1e9) < 1e-3, (last, newest.created_at)
        assert before <= last <= time.time()
        # Sizes as the repository's own listing gives them (MB with one decimal).
        listing = subprocess.run([str(CLI), "repo", "--repo", str(server.workdir / "repository"), "list"],
                                 capture_output=True, text=True, timeout=120).stdout
        row = re.search(r"^%s .* logical=([\d.]+) MB  referenced=([\d.]+) MB  added=([\d.]+) MB" % newest.id,
                        listing, re.M)
        assert row, listing
        for kind, mb in zip(("logical", "stored", "added"), row.groups()):
            got = value(m, "mdb_backup_last_size_bytes", cluster="rd-src", kind=kind)
            assert abs(got / 1e6 - float(mb)) <= 0.051, (kind, got, mb)
        assert value(m, "mdb_backup_last_size_bytes", cluster="rd-src", kind="logical") > 0
        assert value(m, "mdb_backup_last_duration_seconds", cluster="rd-src") >= 0
        assert value(m, "mdb_backups_total", cluster="rd-src", code="OK") == 2
        assert value(m, "mdb_backups_total", cluster="rd-down", code="UNAVAILABLE") == 1
        assert value(m, "mdb_backups_total", cluster="rd-down", code="OK") is None
        assert value(m, "mdb_restores_total", cluster="rd-tgt", code="OK") == 1
        assert value(m, "mdb_restorable_until_timestamp_seconds", cluster="rd-src") == last
        assert value(m, "mdb_operations_running", kind="backup") == 0
        assert value(m, "mdb_api_requests_total", rpc="yandex.cloud.mdb.redis.v1.ClusterService/Backup",
                     code="OK") == 3
        assert value(m, "mdb_api_request_duration_seconds_count",
                     rpc="yandex.cloud.mdb.redis.v1.ClusterService/Backup") == 3

        # A delete runs the GC, which reports the repository as it left it.
        op = server.client(rd_bsg.BackupServiceStub).Delete(
            rd_bs.DeleteBackupRequest(backup_id=oldest.id), metadata=WRITER)
        assert not wait_operation(server, op).HasField("error")
        m = scrape(server)
        stored = value(m, "mdb_repository_bytes", kind="stored")
        logical = value(m, "mdb_repository_bytes", kind="logical")
        assert stored > 0 and logical > 0, m
        assert abs(value(m, "mdb_repository_dedup_ratio") - logical / stored) < 1e-6
        assert value(m, "mdb_repository_objects", kind="packs") >= 1
        assert value(m, "mdb_repository_up") == 1
        assert value(m, "mdb_repository_last_gc_timestamp_seconds") >= before

        # The exposition passes Prometheus' own linter.
        lint = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        # A restart: counters start again; the last success comes back from the catalog.
        server.stop()
        server.start()
        m = scrape(server)
        assert value(m, "mdb_backup_last_success_timestamp_seconds", cluster="rd-src", method="BASE") == last
        assert value(m, "mdb_backups_total", cluster="rd-src") is None

        # /readyz asks the repository too.
        assert get(server, "/readyz")[0] == 200
        repo = server.workdir / "repository"
        repo.rename(repo.with_name("repository.away"))
        try:
            deadline = time.time() + 30
            while get(server, "/readyz")[0] == 200 and time.time() < deadline:
                time.sleep(0.2)  # probed at most once a second
            status, _, body = get(server, "/readyz")
            assert status == 503 and "repository" in body, (status, body)
            assert value(scrape(server), "mdb_repository_up") == 0
        finally:
            repo.with_name("repository.away").rename(repo)
        deadline = time.time() + 30
        while get(server, "/readyz")[0] != 200:
            assert time.time() < deadline, "/readyz did not recover"
            time.sleep(0.2)

        # A cluster removed from the config takes its series with it.
        text = server.config.read_text()
        server.config.write_text(re.sub(r"  - \{id: rd-down.*\n", "", text))
        assert "configuration reloaded" in server.reload()
        m = scrape(server)
        assert value(m, "mdb_cluster_declared", cluster="rd-down") is None
        assert value(m, "mdb_cluster_declared", cluster="rd-src") == 1
        # Tokens (used by every call above, wrong ones included) never reach the log.
        log = server.read_log()
        assert "writer-token-1" not in log and METRICS_TOKEN not in log
    finally:
        server.stop()


def test_json_log_lines_name_the_cluster_and_operation(workdir):
    """mdb-backupd --log-format json: an operation's start and end lines carry its cluster and id
    as fields of their own (the config says text; the flag wins)."""
    server = start_server(workdir, "  - {id: rd-down, folder_id: f1, engine: redis, hosts: [\"127.0.0.1:1\"]}\n",
                          start=False)
    server.start("--log-format", "json")
    try:
        op = backup(server, "rd-down")
        assert op.error.code == 14
        lines = [json.loads(l) for l in server.read_log().splitlines() if l.startswith("{")]
        mine = [l for l in lines if l.get("operation") == op.id]
        assert [l["message"].split(") ")[-1][:7] for l in mine] == ["started", "failed:"], mine
        assert all(l["cluster"] == "rd-down" and l["component"] == "operations" for l in mine), mine
        assert not [l for l in server.read_log().splitlines() if l and not l.startswith("{")]
    finally:
        server.stop()
