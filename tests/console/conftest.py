"""Browser tests of the web console: Debian's headless Chromium (browser_harness) against a real
mdb-backupd protecting PostgreSQL 15 servers (the Greenplum engine's coordinator and segment)."""
from mdb_harness import factory_fixture, proxy_fixture
from pg_harness import Postgres

pg_factory = factory_fixture(Postgres)
proxy_factory = proxy_fixture()
