"""MongoDB-protocol servers for the live tests: FerretDB (SQLite handler) processes on 127.0.0.1,
started through scripts/peers/ferretdb.sh; pymongo as the client that fills and compares them."""
import hashlib
import os
import pathlib
import subprocess

import bson
import pymongo

from mdb_harness import free_port

ROOT = pathlib.Path(__file__).parents[2]
PEER = ROOT / "scripts/peers/ferretdb.sh"
# Below the ephemeral range, apart from the Redis and PostgreSQL test ports.
_next_port = [int(os.environ.get("MDB_MONGO_BASE_PORT", "23017"))]


class Mongo:
    """One FerretDB server; `replset` gives it an oplog (local.oplog.rs), capped at `oplog_max`
    entries if given (FerretDB drops the oldest surplus entries on its periodic cleanup, or at
    once on `compact`: see roll_oplog)."""

    def __init__(self, workdir, replset=None, oplog_max=None):
        self.port = free_port(_next_port)
        self.dir = pathlib.Path(workdir) / ("mongo-%d" % self.port)
        args = ["bash", str(PEER), "start", str(self.dir), str(self.port)] + ([replset] if replset else [])
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("FerretDB on port %d did not start: %s" % (self.port, r.stderr))
        self.client = pymongo.MongoClient("127.0.0.1", self.port, directConnection=True)
        if oplog_max:
            assert replset, "an oplog needs a replica set name"
            self.client.local.drop_collection("oplog.rs")
            self.client.local.create_collection("oplog.rs", capped=True, size=1 << 30, max=oplog_max)

    def oplog_edge(self, newest=True):
        """The ts (a bson Timestamp) of the newest or oldest oplog entry."""
        entry = self.client.local["oplog.rs"].find_one(sort=[("$natural", -1 if newest else 1)])
        assert entry is not None, "the oplog is empty"
        return entry["ts"]

    def roll_oplog(self):
        """Drops the oplog entries beyond its `max` now, oldest first, as a full capped oplog does
        when it is written to (FerretDB: cleanup of capped collections, run by `compact`)."""
        self.client.local.command("compact", "oplog.rs")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.client.close()
        subprocess.run(["bash", str(PEER), "stop", str(self.dir)], capture_output=True)

    def user_dbs(self):
        return sorted(d for d in self.client.list_database_names() if d not in ("admin", "local", "config"))

    def snapshot(self):
        """Everything a restore must bring back: per collection, its options, its indexes (without
        the server's bookkeeping) and an order-independent digest of its documents."""
        out = {}
        for db in self.user_dbs():
            for info in self.client[db].list_collections():
                name = info["name"]
                if name.startswith("system."):
                    continue
                coll = self.client[db][name]
                indexes = sorted((i["name"], tuple(i["key"].items()), bool(i.get("unique")))
                                 for i in coll.list_indexes())
                digest = hashlib.sha256()
                for raw in sorted(bson.encode(d) for d in coll.find()):
                    digest.update(raw)
                out["%s.%s" % (db, name)] = {
                    "options": info.get("options", {}), "indexes": indexes,
                    "count": coll.count_documents({}), "digest": digest.hexdigest()}
        return out


def fill(m, docs=2000, prefix="shop"):
    """Several databases and collections with the common BSON types, and indexes."""
    import datetime
    from bson import Binary, Int64, ObjectId  # FerretDB 1.x has no Decimal128
    db = m.client[prefix]
    rows = []
    for i in range(docs):
        rows.append({"_id": i, "name": "item-%d" % i, "price": i + 0.25, "qty": i % 17,
                     "big": Int64(i * 10**12), "ratio": i / 7.0, "when": datetime.datetime(2026, 1, 1) +
                     datetime.timedelta(seconds=i), "tags": ["t%d" % (i % 5), "all"],
                     "nested": {"a": {"b": i, "c": [1, {"d": "x"}]}}, "blob": Binary(bytes([i % 256]) * 40),
                     "oid": ObjectId(), "none": None, "flag": i % 2 == 0})
    db.orders.insert_many(rows)
    db.orders.create_index([("name", 1)], unique=True)
    db.orders.create_index([("qty", 1), ("price", -1)], name="qty_price")
    db.users.insert_many([{"_id": "u%d" % i, "email": "u%d@example.com" % i} for i in range(docs // 10)])
    db.users.create_index("email", unique=True)
    db.create_collection("empty")
    m.client[prefix + "_logs"].events.insert_many([{"n": i, "msg": "m" * (i % 300)} for i in range(docs)])
