"""Live Redis tests: real redis-server processes on 127.0.0.1, a real mdb-backupd with a
repository, and the official Python SDK driving backups and restores. `proxy_factory` puts a
stallable TCP forwarder in front of a server (mdb_harness.Proxy)."""
from mdb_harness import factory_fixture, proxy_fixture
from redis_harness import Redis

redis_factory = factory_fixture(Redis)
proxy_factory = proxy_fixture()
