"""A Greenplum cluster declared by its coordinator (issue #19): the segments are what the
coordinator's gp_segment_configuration lists at each backup and at the journal's periodic look,
and the cut across them is one gp_create_restore_point on the coordinator. The peers are
PostgreSQL 15: the coordinator holds a gp_segment_configuration table and a
gp_create_restore_point function, as Greenplum's catalog has them, that makes the named point on
every listed server through dblink and logs where (what Greenplum does inside the server)."""
import grpc

from pg_harness import postgres_dir
from mdb_harness import restore_target, start_server
from test_greenplum import DIGEST, WRITER, Api, switch_wal_and_wait_archived, wait_op, wait_recovered
from yandex.cloud.mdb.greenplum.v1 import cluster_service_pb2 as gp_cs

CATALOG = """
CREATE EXTENSION dblink;
CREATE TABLE gp_segment_configuration (dbid smallint, content smallint, role "char",
    preferred_role "char", mode "char", status "char", port int, hostname text, address text,
    datadir text);
CREATE TABLE cut_log (name text, content smallint, lsn pg_lsn);
CREATE FUNCTION gp_create_restore_point(point text)
RETURNS TABLE (segment_id smallint, restore_lsn pg_lsn) LANGUAGE plpgsql AS $$
DECLARE s record;
BEGIN
  FOR s IN SELECT content, address, port FROM gp_segment_configuration WHERE role = 'p'
           ORDER BY content LOOP
    SELECT l INTO restore_lsn FROM dblink(
        format('host=%s port=%s dbname=postgres user=postgres', s.address, s.port),
        format('SELECT pg_create_restore_point(%L)', point)) AS t(l pg_lsn);
    segment_id := s.content;
    INSERT INTO cut_log VALUES (point, s.content, restore_lsn);
    RETURN NEXT;
  END LOOP;
END $$;
"""


def add_segment(coordinator, content, pg, role="p", status="u"):
    host, port = pg.address.rsplit(":", 1)
    coordinator.sql("INSERT INTO gp_segment_configuration VALUES (%d, %d, '%s', '%s', 's', '%s', %s, "
                    "'%s', '%s', '/data')" % (content + 2, content, role, role, status, port, host, host))


def declared_by_coordinator(cluster_id, coordinator):
    return ("  - id: %s\n    folder_id: f1\n    engine: greenplum\n    hosts:\n"
            '      - {address: "%s", discover_segments: "true", segments_refresh_seconds: "1"}\n'
            % (cluster_id, coordinator.address))


def test_segments_come_from_the_coordinator_and_the_cut_from_gp_create_restore_point(workdir, pg_factory):
    coordinator, seg0, seg1 = pg_factory(), pg_factory(), pg_factory()
    coordinator.sql(CATALOG)
    for content, pg in [(-1, coordinator), (0, seg0)]:
        add_segment(coordinator, content, pg)
    for scale, pg in [(1, seg0), (2, seg1)]:
        pg.pgbench("-i", "-s", scale, "-q")
    names = ["coordinator", "seg0", "seg1"]
    out = [postgres_dir(workdir, "out-%s" % n) for n in names]
    server = start_server(workdir, declared_by_coordinator("gpc", coordinator) +
                          restore_target("gpc-out", out, names) +
                          restore_target("gpc-misnamed", out, ["coordinator", "seg1", "seg0"]))
    api = Api(server)
    try:
        # A function of that name that a role without superuser owns is not Greenplum's: it is
        # not called (it could hand back positions of its choosing).
        coordinator.sql("CREATE ROLE mallory; "
                        "ALTER FUNCTION gp_create_restore_point(text) OWNER TO mallory")
        api.backup("gpc")
        assert coordinator.sql("SELECT count(*) FROM cut_log") == "0"
        coordinator.sql("ALTER FUNCTION gp_create_restore_point(text) OWNER TO postgres")
        b1 = api.backup("gpc")
        # (Greenplum's Backup message has no shard names: the layout shows in a refused restore.)
        op = api.restore(b1, "gpc-out")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "segments coordinator, seg0 as the coordinator listed" in op.error.message, op.error
        cut = coordinator.sql("SELECT string_agg(content::text, ',' ORDER BY content) FROM cut_log")
        assert cut == "-1,0", cut
        # A segment added: the next backup, and the journal within its refresh, take it too.
        add_segment(coordinator, 1, seg1)
        seg1.pgbench("-t", "50")
        expected = [seg0.sql(DIGEST), seg1.sql(DIGEST)]
        switch_wal_and_wait_archived(server, "gpc", [seg1], ["seg1"])
        b2 = api.backup("gpc")
        assert coordinator.sql("SELECT count(DISTINCT name) || ':' || string_agg(content::text, ',' "
                               "ORDER BY content) FROM cut_log WHERE content = 1") == "1:1"
        # Restored into servers declared by the same names: each segment's data where it was.
        op = api.restore(b2, "gpc-misnamed")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        assert "coordinator, seg0, seg1" in op.error.message, op.error.message
        op = api.restore(b2, "gpc-out")
        assert op.WhichOneof("result") == "response", op.error
        restored = [pg_factory(data_dir=d) for d in out]
        for pg in restored:
            wait_recovered(pg)  # to the named point, which each segment's WAL holds
        assert [restored[1].sql(DIGEST), restored[2].sql(DIGEST)] == expected
        # A primary marked down before its mirror took over: the backup fails naming it.
        coordinator.sql("UPDATE gp_segment_configuration SET status = 'd' WHERE content = 1")
        op = wait_op(server, api.clusters.Backup(gp_cs.BackupClusterRequest(cluster_id="gpc"),
                                                 metadata=WRITER))
        assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0], op.error
        assert "seg1 (127.0.0.1:%s)" % seg1.address.rsplit(":", 1)[1] in op.error.message
    finally:
        server.stop()
