"""Live MongoDB tests: FerretDB servers (MongoDB wire protocol) on 127.0.0.1, a real mdb-backupd
with a repository, and the official Python SDK driving backups and restores. `proxy_factory` puts
a stallable TCP forwarder in front of a server (mdb_harness.Proxy)."""
from mdb_harness import factory_fixture, proxy_fixture
from mongo_harness import Mongo

mongo_factory = factory_fixture(Mongo)
proxy_factory = proxy_fixture()
