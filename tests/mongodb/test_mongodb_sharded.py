"""Sharded clusters declared by their router (issue #19). No registry ships mongos, so what the
router answers (listShards, the balancer) is unit-tested against recorded replies
(src/engine/mongodb/sharded_test.cc); what a peer can show is that a server which is not a
router, declared as one, is refused before anything is read or paused."""
import grpc

from mdb_harness import start_server
from mongo_harness import fill
from test_mongodb import backup, list_backups


def test_a_server_that_is_not_a_mongos_is_refused_as_a_router(workdir, mongo_factory):
    m = mongo_factory("rs0")
    fill(m, 50, "shop")
    server = start_server(workdir, '  - id: sh\n    folder_id: f1\n    engine: mongodb\n'
                                   '    hosts: [{address: "%s", discover_shards: "true"}]\n' % m.address)
    try:
        op, _ = backup(server, "sh")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op.error
        # (the pre-flight check before every backup finds it first)
        assert "not a router" in op.error.message and m.address in op.error.message, op.error
        assert list_backups(server, "sh") == []
    finally:
        server.stop()
