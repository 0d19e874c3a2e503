"""Users and roles (issue #19): admin.system.roles and admin.system.users are backed up with the
data (what mongodump --dumpDbUsersAndRoles takes) and restored after it, roles first; a user the
target already has is kept as it is, never taken over; `users: "false"` on a source's host leaves
them out of its backups, on a target's host out of restores into it. FerretDB keeps these as
ordinary collections (it has no createUser without its new auth), which is what the service reads
and writes through; the documents are shaped as mongod stores them."""
from mdb_harness import start_server
from mongo_harness import fill
from test_mongodb import backup, restore

ALICE = {"_id": "shop.alice", "userId": b"\x01" * 16, "user": "alice", "db": "shop",
         "credentials": {"SCRAM-SHA-256": {"iterationCount": 15000, "salt": "c2FsdA==",
                                           "storedKey": "c3RvcmVk", "serverKey": "c2VydmVy"}},
         "roles": [{"role": "shopReader", "db": "shop"}]}
BOB = {"_id": "shop.bob", "user": "bob", "db": "shop", "credentials": {}, "roles": []}
ROLE = {"_id": "shop.shopReader", "role": "shopReader", "db": "shop",
        "privileges": [{"resource": {"db": "shop", "collection": ""}, "actions": ["find"]}],
        "roles": []}


def cluster(cluster_id, m, users=None):
    opt = ', users: "%s"' % users if users else ""
    return ('  - id: %s\n    folder_id: f1\n    engine: mongodb\n    hosts: [{address: "%s"%s}]\n'
            % (cluster_id, m.address, opt))


def auth(m):
    return {name: sorted(m.client.admin[name].find(), key=lambda d: d["_id"])
            for name in ("system.roles", "system.users")}


def test_users_and_roles_come_back_and_never_take_over_the_targets(workdir, mongo_factory):
    src, dst, bare, skipped = (mongo_factory() for _ in range(4))
    fill(src, 100, "shop")
    src.client.admin["system.roles"].insert_one(ROLE)
    src.client.admin["system.users"].insert_many([ALICE, BOB])
    own_bob = {"_id": "shop.bob", "user": "bob", "db": "shop", "credentials": {"theirs": True}, "roles": []}
    dst.client.admin["system.users"].insert_one(own_bob)
    server = start_server(workdir, cluster("src", src) + cluster("src-nousers", src, "false") +
                          cluster("dst", dst) + cluster("bare", bare, "false") + cluster("skipped", skipped))
    try:
        op, with_users = backup(server, "src")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, with_users, "dst")
        assert op.WhichOneof("result") == "response", op.error
        got = auth(dst)
        assert got["system.roles"] == [ROLE]
        assert got["system.users"] == [ALICE, own_bob]  # the target's own bob stays
        assert "admin.system.users: 1 restored, 1 already on the target kept" in server.read_log()
        assert dst.snapshot() == src.snapshot()
        # A target declared users: "false" gets the data only.
        op = restore(server, with_users, "bare")
        assert op.WhichOneof("result") == "response", op.error
        assert auth(bare) == {"system.roles": [], "system.users": []}
        assert bare.snapshot() == src.snapshot()
        # A source declared users: "false" backs up none.
        op, without = backup(server, "src-nousers")
        assert op.WhichOneof("result") == "response", op.error
        op = restore(server, without, "skipped")
        assert op.WhichOneof("result") == "response", op.error
        assert auth(skipped) == {"system.roles": [], "system.users": []}
        assert skipped.snapshot() == src.snapshot()
    finally:
        server.stop()
