"""Redis as deployments run it (issue #19). What a server keeps outside its RDB comes back with
a restore: ACL users (ACL LIST at backup, ACL SETUSER on every server of the target), and
function libraries, which a full resync carries in the RDB and a key-by-key (cluster) restore
brings by FUNCTION RESTORE; the target's own access (its default user, the service's user) is
left as it was. A replica that lags behind its master is passed over for the master."""
import shutil

import grpc
from mdb_harness import sharded_cluster, start_server, wait_operation
from redis_harness import fill
from test_redis import (WRITER, backup, make_cluster, only_backup, rd_cs, rd_csg, restore,
                        start_src_dst, wait_caught_up)

LIBRARY = "#!lua name=mdblib\nredis.register_function('echo_first', function(keys, args) return args[1] end)"
USERS = [
    ["alice", "on", ">alice-secret", "~cache:*", "resetchannels", "&news", "-@all", "+get", "+set"],
    ["bob", "off", "nopass", "~a*", "(~b* +@read)"],  # a Redis 7 selector
]


def users(node):
    """The rules of every user of `node` (ACL LIST), as sets: Redis may list a user's commands
    in another order than it was given them."""
    out = {}
    for line in node.cli("ACL", "LIST").splitlines():
        words = line.split(" ")
        out[words[1]] = sorted(words[2:])
    return out


def backed_up_and_restored(workdir, sources, dst):
    """A server with cluster `src` (the `sources` servers) and `dst`, after a backup of src and
    its restore into dst (both asserted to succeed)."""
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: [%s]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (", ".join('"%s"' % x.address for x in sources), dst.address))
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, only_backup(server, "src").id, "dst")
        assert op.WhichOneof("result") == "response", op.error
    except BaseException:
        server.stop()
        raise
    return server


def add_users_and_functions(node):
    for u in USERS:
        node.cli("ACL", "SETUSER", *u)
    node.cli("FUNCTION", "LOAD", LIBRARY)


def test_standalone_restore_brings_acl_users_and_functions(workdir, redis_factory):
    src, dst = redis_factory(), redis_factory()
    fill(src, 500)
    add_users_and_functions(src)
    # The target's own users stay as they are: its default user, and a user the backup has too
    # (a source may not take over a user the target's operators log in as).
    dst.cli("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all", "-flushall")
    dst.cli("ACL", "SETUSER", "ops", "on", ">target-ops", "~*", "+@read")
    src.cli("ACL", "SETUSER", "ops", "on", "nopass", "~*", "&*", "+@all")
    target_own = {u: users(dst)[u] for u in ("default", "ops")}
    server = backed_up_and_restored(workdir, [src], dst)
    try:
        want, got = users(src), users(dst)
        assert got["alice"] == want["alice"] and got["bob"] == want["bob"], got
        assert {u: got[u] for u in ("default", "ops")} == target_own, got
        assert dst.cli("--user", "alice", "--pass", "alice-secret", "SET", "cache:x", "1") == "OK"
        assert dst.cli("FCALL", "echo_first", "0", "hello") == "hello"
    finally:
        server.stop()


def test_cluster_restore_key_by_key_brings_functions_and_users_to_every_node(workdir, redis_factory):
    nodes, targets = make_cluster(redis_factory), make_cluster(redis_factory)
    for n in nodes:  # libraries and users are per node
        add_users_and_functions(n)
        n.cli("SET", "{%s}k" % n.port, "v")
    server = start_server(workdir, sharded_cluster("rc", [n.address for n in nodes]) +
                          sharded_cluster("rc2", [t.address for t in targets]))
    try:
        op = backup(server, "rc")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, only_backup(server, "rc").id, "rc2")
        assert op.WhichOneof("result") == "response", op.error
        for t in targets:
            assert t.cli("FCALL", "echo_first", "0", "hi") == "hi", t.address
            assert users(t)["alice"] == users(nodes[0])["alice"], t.address
            assert "bob" in users(t)
    finally:
        server.stop()


def test_a_replica_that_lags_is_passed_over_for_the_master(workdir, redis_factory, proxy_factory):
    """The replica reaches its master through a proxy that stops passing data: its link stays up
    while the master takes 2 MB of writes it never sees. A backup asked for now must hold them:
    it comes from the master, not from the replica (max_lag_bytes, default 1 MiB)."""
    primary = redis_factory()
    proxy = proxy_factory(primary.address)
    replica = redis_factory("--replicaof", "127.0.0.1", proxy.address.rsplit(":", 1)[1])
    dst = redis_factory()
    fill(primary, 200)
    wait_caught_up(primary, replica)
    proxy.hold()
    primary.pipe([["SET", "late:%d" % i, "x" * 10000] for i in range(200)])
    assert replica.info("replication")["master_link_status"] == "up"
    assert replica.cli("EXISTS", "late:0") == "0"
    server = backed_up_and_restored(workdir, [replica, primary], dst)
    try:
        assert dst.cli("EXISTS", "late:199") == "1" and dst.cli("DBSIZE") == primary.cli("DBSIZE")
        assert "bytes behind the master" in server.read_log()
    finally:
        proxy.release()
        server.stop()


def test_a_restore_sets_its_own_masterauth_and_puts_the_old_one_back(workdir, redis_factory):
    """A restore sets the target's masterauth to a token of its own (its listener sends the
    snapshot only to a connection that authenticates with it: a real Redis does, or this restore
    would never finish; strangers are refused in `SnapshotServer.*`) and puts the old one back,
    here with ACL users restored first (their save may CONFIG REWRITE, which must not write the
    token to redis.conf: these servers have no config file to show it). A restore user the target does not allow CONFIG is refused before
    anything is written."""
    src, dst, locked = redis_factory(), redis_factory(), redis_factory()
    fill(src, 300)
    src.cli("ACL", "SETUSER", *USERS[0])
    dst.cli("CONFIG", "SET", "masterauth", "operators-own")
    locked.cli("ACL", "SETUSER", "restorer", "on", ">restorer-secret", "~*", "&*", "+@all", "-config")
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: locked, folder_id: f1, engine: redis,
     hosts: [{address: "%s", user: restorer, password: restorer-secret}]}
""" % (src.address, dst.address, locked.address))
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        b = only_backup(server, "src")
        op = restore(server, b.id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        assert dst.digest() == src.digest()
        assert dst.cli("CONFIG", "GET", "masterauth").splitlines()[1] == "operators-own"
        assert "alice" in users(dst)
        op = restore(server, b.id, "locked")
        assert op.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], op
        assert "refused to have its masterauth set" in op.error.message, op.error.message
        assert locked.cli("DBSIZE") == "0"
    finally:
        server.stop()


def backed_up_beside_a_target_with_masterauth(workdir, redis_factory, keys):
    """A server, an empty target whose masterauth is the operators' own, and a backup of `keys`
    keys of another server to restore into it."""
    src, dst = redis_factory(), redis_factory()
    fill(src, keys)
    dst.cli("CONFIG", "SET", "masterauth", "operators-own")
    server = start_src_dst(workdir, src, dst)
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        return server, dst, only_backup(server, "src")
    except BaseException:
        server.stop()
        raise


def assert_a_master_with_its_masterauth(dst):
    """What a failed restore leaves: the target a master again, its masterauth back, empty."""
    assert dst.cli("ROLE").splitlines()[0] == "master"
    assert dst.cli("CONFIG", "GET", "masterauth").splitlines()[1] == "operators-own"
    assert dst.cli("DBSIZE") == "0"


def test_a_restore_that_fails_mid_stream_leaves_the_target_a_master_with_its_masterauth(
        workdir, redis_factory):
    """The snapshot's packs are gone (someone emptied the bucket): the restore fails after the
    target authenticated and began to load. The target is detached (REPLICAOF NO ONE, retried
    while it is LOADING) and its masterauth put back, over a new connection."""
    server, dst, b = backed_up_beside_a_target_with_masterauth(workdir, redis_factory, 3000)
    try:
        packs = list((server.workdir / "repository").rglob("packs/**/*"))
        assert any(p.is_file() for p in packs), packs
        for p in packs:
            if p.is_file():
                p.unlink()
        op = restore(server, b.id, "dst")
        assert op.WhichOneof("result") == "error", op
        assert op.error.code == grpc.StatusCode.DATA_LOSS.value[0], op.error
        assert_a_master_with_its_masterauth(dst)
    finally:
        server.stop()


def test_a_target_that_drops_the_link_before_it_loaded_fails_the_restore_at_once(
        workdir, redis_factory):
    """The target cannot take the snapshot: its working directory is gone, so it cannot open the
    temporary file it would load from, and it closes the replication link before loading (and
    asks for the snapshot again of a listener nobody accepts on). The restore fails then, not
    after its 30 minutes' wait for the load, and leaves the target a master with its masterauth."""
    # A snapshot that fits in the socket's buffers: sent whole before the target closes.
    server, dst, b = backed_up_beside_a_target_with_masterauth(workdir, redis_factory, 300)
    try:
        shutil.rmtree(dst.dir)
        op = server.client(rd_csg.ClusterServiceStub).Restore(
            rd_cs.RestoreClusterRequest(backup_id=b.id, name="dst", environment=1, folder_id="f1",
                                        config_spec=rd_cs.ConfigSpec(version="7.0")),
            metadata=WRITER)
        op = wait_operation(server, op, timeout=120)
        assert op.WhichOneof("result") == "error", op
        assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0], op.error
        assert "closed the replication link" in op.error.message, op.error.message
        assert_a_master_with_its_masterauth(dst)
    finally:
        dst.dir.mkdir(exist_ok=True)
        server.stop()
