"""AUTOMATED backups end to end against real redis-server processes: the window's backup caught up
at start with retention after it, and a failed one tried again the same day."""
import datetime
import re
import time

from yandex.cloud.mdb.redis.v1 import backup_pb2 as rd_b

from mdb_harness import Server
from redis_harness import fill
from test_redis import list_backups


def scheduled_server(workdir, name, address, server_extra=""):
    """A server with AUTOMATED backups on, whose cluster 'daily' at `address` had its last AUTOMATED
    backup long ago and a window that began 11 minutes ago (past any jitter): the scheduler
    catches that window up at start."""
    window = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=11)).strftime("%H:%M")
    d = workdir / name
    d.mkdir()
    s = Server(d, server_extra=server_extra)
    text = s.config.read_text().replace("automated_backups: false", "automated_backups: true")
    s.config.write_text(text[:text.index("clusters:")] + "clusters:\n" +
                        '  - {id: daily, folder_id: f1, engine: redis, retention_days: 7, '
                        'backup_window_start: "%s", hosts: ["%s"]}\n' % (window, address))
    old = "2026-01-01T00:00:00Z"
    s.import_records([
        {"id": "old-auto-1", "engine": "REDIS", "folderId": "f1", "clusterId": "daily", "createdAt": old,
         "startedAt": old, "type": "AUTOMATED"},
        {"id": "old-auto-2", "engine": "REDIS", "folderId": "f1", "clusterId": "daily",
         "createdAt": "2026-01-02T00:00:00Z", "startedAt": "2026-01-02T00:00:00Z", "type": "AUTOMATED"},
        {"id": "old-manual", "engine": "REDIS", "folderId": "f1", "clusterId": "daily", "createdAt": old,
         "startedAt": old, "type": "MANUAL"},
    ])
    return s


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("%s within %d s" % (what, timeout))


def test_automated_daily_backup_with_retention(workdir, redis_factory):
    """The window passed a minute ago and the cluster has no backup for it: the scheduler catches
    up at start with an AUTOMATED backup, then retention removes the expired AUTOMATED backups and
    keeps the MANUAL one."""
    src = redis_factory()
    fill(src, 1000)
    s = scheduled_server(workdir, "sched", src.address)
    s.start()
    try:
        def done():
            ids = [(b.id, b.type) for b in list_backups(s, "daily")]
            return ids if len(ids) == 2 and "old-auto-1" not in dict(ids) else None
        ids = wait_for("retention after the AUTOMATED backup", done, 300)
        types = dict(ids)
        assert types.get("old-manual") == rd_b.Backup.MANUAL, ids
        new = [i for i, t in ids if i != "old-manual"]
        assert len(new) == 1 and types[new[0]] == rd_b.Backup.AUTOMATED, ids
        assert "automated backup of 'daily' started" in s.read_log()
    finally:
        s.stop()


def test_a_failed_automated_backup_is_tried_again_the_same_day(workdir, redis_factory, proxy_factory):
    """The source is away when the window's backup starts (its address answers and hangs up): the
    backup fails, the failure is logged with its error and when the retry is due, and the retry,
    with the source back, makes the window's AUTOMATED backup (a passing fault costs no day)."""
    src = redis_factory()
    fill(src, 1000)
    proxy = proxy_factory("127.0.0.1:1")  # nothing listens there: each connection is hung up
    s = scheduled_server(workdir, "retry", proxy.address, "  automated_retry_seconds: 1\n")
    s.start()
    try:
        line = wait_for("the failure's log line", lambda: re.search(
            r"automated backup of 'daily' \(window \S+ \S+ UTC\) failed, try 1 \(operation (\S+)\): "
            r"(.+); trying again at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(retry 1 of 3\)",
            s.read_log()), 120)
        assert line.group(2).strip(), line.group(0)  # the operation's own error, for a person
        assert not [b for b in list_backups(s, "daily") if b.id not in ("old-auto-1", "old-auto-2", "old-manual")]
        proxy.upstream = ("127.0.0.1", int(src.address.rsplit(":", 1)[1]))  # the source is back
        ids = wait_for("the retried AUTOMATED backup and its retention", lambda: (lambda ids: ids if (
            len(ids) == 2 and "old-auto-1" not in dict(ids)) else None)(
                [(b.id, b.type) for b in list_backups(s, "daily")]), 120)
        new = [i for i, t in ids if i != "old-manual"]
        assert len(new) == 1 and dict(ids)[new[0]] == rd_b.Backup.AUTOMATED, ids
        log = s.read_log()
        assert log.count("automated backup of 'daily' started") == 2, log
        assert "the next try is the next window's" not in log
    finally:
        s.stop()
