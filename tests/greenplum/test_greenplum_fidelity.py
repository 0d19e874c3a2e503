"""Greenplum as deployments run it (issue #19). Append-optimized tables keep rows in blocks
without a page LSN, so an INCREMENTAL cannot tell changed blocks by LSN: their files are taken
whole. The test peers are PostgreSQL 15: a table access method named `ao_row` (heap underneath)
makes tables that Greenplum 7's catalog would call append-optimized, which is what the backup
reads (pg_class.relam -> pg_am.amname; Greenplum 6: pg_class.relstorage)."""
import re

from pg_harness import postgres_dir
from mdb_harness import start_server
from test_greenplum import DIGEST, Api, restored_cluster, source_cluster, wait_recovered
from yandex.cloud.mdb.greenplum.v1 import backup_pb2 as gp_b

WHOLE = re.compile(r"segment 'seg0': \d+ of \d+ relation pages changed since \S+; (\d+) "
                   r"append-optimized relation files taken whole")


def test_append_optimized_tables_are_taken_whole_by_an_incremental(workdir, pg_factory):
    pg = pg_factory()
    pg.pgbench("-i", "-s", "1", "-q")
    pg.sql("CREATE ACCESS METHOD ao_row TYPE TABLE HANDLER heap_tableam_handler")
    pg.sql("CREATE TABLE facts (id int, v text) USING ao_row")
    pg.sql("INSERT INTO facts SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    out = postgres_dir(workdir, "out")
    server = start_server(workdir, source_cluster("gpa", [pg], ["seg0"], "off") +
                          restored_cluster("gpa-out", [out], ["seg0"]))
    api = Api(server)
    try:
        api.backup("gpa")
        pg.pgbench("-t", "200")
        pg.sql("INSERT INTO facts SELECT g, 'late' FROM generate_series(20001, 20100) g")
        facts = pg.sql("SELECT count(*) || ':' || md5(string_agg(id || v, ',' ORDER BY id)) FROM facts")
        expected = pg.sql(DIGEST)
        log_from = len(server.read_log())
        b2 = api.backup("gpa")
        assert b2.method == gp_b.Backup.INCREMENTAL
        taken = WHOLE.search(server.read_log()[log_from:])
        assert taken and int(taken.group(1)) >= 1, server.read_log()[log_from:]
        op = api.restore(b2, "gpa-out")
        assert op.WhichOneof("result") == "response", op.error
        restored = pg_factory(data_dir=out)
        wait_recovered(restored)
        assert restored.sql(DIGEST) == expected
        assert restored.sql("SELECT count(*) || ':' || md5(string_agg(id || v, ',' ORDER BY id)) "
                            "FROM facts") == facts
    finally:
        server.stop()
