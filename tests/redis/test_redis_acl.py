"""What a Redis server keeps outside its RDB comes back with a restore (issue #19): ACL users
(ACL LIST at backup, ACL SETUSER on every server of the target), and function libraries, which a
full resync carries in the RDB and a key-by-key (cluster) restore brings by FUNCTION RESTORE.
The target's own access (its default user, the service's user) is left as it was."""
from mdb_harness import sharded_cluster, start_server
from redis_harness import fill
from test_redis import backup, make_cluster, only_backup, restore

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


def add_users_and_functions(node):
    for u in USERS:
        node.cli("ACL", "SETUSER", *u)
    node.cli("FUNCTION", "LOAD", LIBRARY)


def test_standalone_restore_brings_acl_users_and_functions(workdir, redis_factory):
    src, dst = redis_factory(), redis_factory()
    fill(src, 500)
    add_users_and_functions(src)
    dst.cli("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all")  # the target's own
    server = start_server(workdir, """
  - {id: src, folder_id: f1, engine: redis, hosts: ["%s"]}
  - {id: dst, folder_id: f1, engine: redis, hosts: ["%s"]}
""" % (src.address, dst.address))
    try:
        op = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, only_backup(server, "src").id, "dst")
        assert op.WhichOneof("result") == "response", op.error
        want, got = users(src), users(dst)
        assert got["alice"] == want["alice"] and got["bob"] == want["bob"], got
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
