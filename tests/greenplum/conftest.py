"""Live Greenplum-engine tests: PostgreSQL 15 servers as coordinator and segments on 127.0.0.1.
`proxy_factory` puts a stallable TCP forwarder in front of a server (mdb_harness.Proxy)."""
from mdb_harness import factory_fixture, proxy_fixture
from pg_harness import Postgres

pg_factory = factory_fixture(Postgres)
proxy_factory = proxy_fixture()
