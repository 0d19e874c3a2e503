"""The web console (issue #17) driven in headless Chromium as a person would: sign in with a token,
see the folder's clusters, take a backup and watch its progress reach 100%, see the new backup in
the cluster's table and chart, restore it into the declared target (and the restored server starts
with the source's rows), delete a backup (and see the API's refusal of a base an INCREMENTAL needs); the pages fit a laptop's narrow window as well as a wide
one. With MDB_SCREENSHOTS=<dir>, the two pages are saved there (docs/console-*.png)."""
import os
import pathlib

import requests

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_harness import chromium, wait_for
from mdb_harness import WRITER, restore_target, sharded_cluster, start_server
from pg_harness import postgres_dir


def rows(d, table):
    return [r.get_attribute("data-" + table[:-1]) for r in d.find_elements(By.CSS_SELECTOR, "#%s tbody tr" % table)]


def newest_operation(d):
    """The newest operation row of the cluster page: (id, done, status text)."""
    r = d.find_elements(By.CSS_SELECTOR, "#operations tbody tr")
    if not r:
        return None
    return r[0].get_attribute("data-operation"), r[0].get_attribute("data-done") == "true", \
        r[0].find_element(By.CSS_SELECTOR, "td.status").text


def wait_operation_done(d, previous=None):
    """Waits until the newest operation (another than `previous`) of the page is done; returns it.
    The page polls the API every second and shows each step; the progress it showed is kept."""
    seen = set()

    def done(d):
        op = newest_operation(d)
        if not op or op[0] == previous:
            return None
        seen.add(op[2])
        return op if op[1] else None
    op = wait_for(d, done, "the operation to end", timeout=300)
    return op, seen


def no_horizontal_overflow(d):
    return d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_sign_in_back_up_watch_restore_and_delete(workdir, pg_factory, proxy_factory):
    coordinator, segment = pg_factory(), pg_factory()
    coordinator.pgbench("-i", "-s", "3", "-q")
    segment.sql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50000) g")
    dirs = [postgres_dir(workdir, "restored-coordinator"), postgres_dir(workdir, "restored-seg0")]
    gp1 = sharded_cluster("gp1", [coordinator.address, segment.address], engine="greenplum",
                          names=["coordinator", "seg0"])
    stalled = proxy_factory(segment.address)  # a server that accepts and then says nothing
    server = start_server(workdir, gp1 + restore_target("gp-target", dirs, ["coordinator", "seg0"]) +
                          sharded_cluster("gp-stall", [stalled.address], engine="greenplum"))
    shots = os.environ.get("MDB_SCREENSHOTS")
    try:
        with chromium() as d:
            d.get(server.rest + "/console/")
            d.find_element(By.ID, "token").send_keys(WRITER)
            d.find_element(By.ID, "folder").send_keys("f1")
            d.find_element(By.ID, "signin").click()
            wait_for(d, lambda d: d.execute_script("return window.mdbClustersFilled"), "the clusters page")
            assert rows(d, "clusters") == ["gp-stall", "gp-target", "gp1"]
            gp1_row = d.find_element(By.CSS_SELECTOR, 'tr[data-cluster="gp1"]').text
            assert "greenplum" in gp1_row and "never" in gp1_row, gp1_row  # no backup yet: shown as such
            assert "not checked yet" in gp1_row, gp1_row
            assert d.execute_script("return sessionStorage.getItem('mdb.token')") == WRITER
            assert d.execute_script("return localStorage.length") == 0  # the token is in this tab only

            d.find_element(By.LINK_TEXT, "gp1").click()
            wait_for(d, lambda d: d.find_elements(By.ID, "backup-now"), "the cluster page")
            d.find_element(By.ID, "backup-now").click()
            (op_id, _, status), seen = wait_operation_done(d)
            assert status.startswith("100%"), (status, seen)
            wait_for(d, lambda d: rows(d, "backups"), "the new backup in the table")
            [backup] = rows(d, "backups")
            points = d.find_elements(By.CSS_SELECTOR, '#size-chart circle[data-backup="%s"]' % backup)
            assert {p.get_attribute("data-series") for p in points} >= {"size"}, "the backup is in the chart"
            assert d.find_elements(By.CSS_SELECTOR, '#timeline circle[data-backup="%s"]' % backup)
            # The restorable window as the server computes it: a span starting at the backup.
            spans = d.find_elements(By.CSS_SELECTOR, "#timeline rect[data-span]")
            assert [sp.get_attribute("data-span") for sp in spans] == [backup], spans
            table = d.find_element(By.ID, "backups").text
            assert "MANUAL" in table and "BASE" in table and "MiB" in table, table
            # A restore drill of it (throwaway postgres servers, pg_amcheck): its result in the row.
            row = 'tr[data-backup="%s"]' % backup
            assert d.find_element(By.CSS_SELECTOR, row + " td.drill").get_attribute("data-drill") == "never"
            d.find_element(By.CSS_SELECTOR, row + " button.drill").click()
            (op_id, _, status), _ = wait_operation_done(d, previous=op_id)
            assert status.startswith("100%"), status
            assert "Drill of backup" in d.find_element(By.ID, "operations").text
            cell = wait_for(d, lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, row + " td.drill")
                                          if c.get_attribute("data-drill") == "passed"], "the drill's result")[0]
            assert "pg_amcheck" in cell.get_attribute("title"), cell.get_attribute("title")
            # A laptop's narrow window: the page reflows, tables scroll inside their cards.
            d.set_window_size(600, 900)
            assert no_horizontal_overflow(d)
            d.set_window_size(1400, 1000)

            # Restore it into the declared target: the page follows the restore's operation there.
            Select(d.find_element(By.ID, "restore-target")).select_by_value("gp-target")
            d.find_element(By.ID, "restore-submit").click()
            d.switch_to.alert.accept()
            wait_for(d, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("gp-target"), "the target page")
            (restore_id, _, status), _ = wait_operation_done(d)
            assert status.startswith("100%"), status
            assert "Restore" in d.find_element(By.ID, "operations").text
            restored = [pg_factory(data_dir=x) for x in dirs]
            wait_for(d, lambda d: restored[1].sql("SELECT pg_is_in_recovery()") == "f", "the restored segment")
            assert restored[1].sql("SELECT count(*) FROM t") == "50000"
            assert restored[0].sql("SELECT count(*) FROM pgbench_accounts") == "300000"

            # Another backup (an INCREMENTAL on the first), then deletes, each confirmed first.
            d.get(server.rest + "/console/#/cluster/greenplum/gp1")
            wait_for(d, lambda d: d.find_elements(By.ID, "backup-now"), "the cluster page again")
            d.find_element(By.ID, "backup-now").click()
            (op_id, _, status), _ = wait_operation_done(d, previous=op_id)
            assert status.startswith("100%"), status
            wait_for(d, lambda d: len(rows(d, "backups")) == 2, "two backups")
            incremental = rows(d, "backups")[0]
            assert "INCREMENTAL" in d.find_element(By.CSS_SELECTOR, 'tr[data-backup="%s"]' % incremental).text
            if shots:
                d.set_window_size(1400, 1700)
                d.save_screenshot(str(pathlib.Path(shots) / "console-cluster.png"))
                d.set_window_size(1400, 1000)

            def delete(backup_id, confirm=True):
                last = wait_for(d, lambda d: newest_operation(d)[0], "the newest operation")
                d.find_element(By.CSS_SELECTOR, 'tr[data-backup="%s"] button.danger' % backup_id).click()
                if not confirm:
                    d.switch_to.alert.dismiss()  # a second thought: nothing happens
                    return None
                d.switch_to.alert.accept()
                return wait_operation_done(d, previous=last)[0][2]
            assert delete(backup, confirm=False) is None and len(rows(d, "backups")) == 2
            # The base of an INCREMENTAL is refused, with the API's own message.
            status = delete(backup)
            assert status.startswith("FAILED") and "delete that one first" in status, status
            assert len(rows(d, "backups")) == 2
            assert delete(incremental).startswith("100%")
            wait_for(d, lambda d: rows(d, "backups") == [backup], "the deleted backup gone")
            # The API's own errors are shown as its message: a restore into a non-empty target.
            Select(d.find_element(By.ID, "restore-target")).select_by_value("gp-target")
            d.find_element(By.ID, "restore-submit").click()
            d.switch_to.alert.accept()
            wait_for(d, lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("gp-target"), "the target page")
            (_, _, status), _ = wait_operation_done(d, previous=restore_id)
            assert status.startswith("FAILED") and "not empty" in status, status

            d.get(server.rest + "/console/")
            wait_for(d, lambda d: d.execute_script("return window.mdbClustersFilled"), "the clusters page again")
            gp1_row = d.find_element(By.CSS_SELECTOR, 'tr[data-cluster="gp1"]')
            cells = gp1_row.find_elements(By.TAG_NAME, "td")
            assert "ago" in gp1_row.text and "age-ok" in cells[4].get_attribute("class"), gp1_row.text
            # The hosts as the pre-flight of the last backup found them: both servers answered.
            assert cells[3].get_attribute("data-health") == "ALIVE" and cells[3].text == "alive"
            if shots:
                d.save_screenshot(str(pathlib.Path(shots) / "console-clusters.png"))
            d.set_window_size(600, 900)
            assert no_horizontal_overflow(d)
            # Cancel a running operation: a backup waiting on a server that never answers.
            d.get(server.rest + "/console/#/cluster/greenplum/gp-stall")
            wait_for(d, lambda d: d.find_elements(By.ID, "backup-now"), "the stalled cluster's page")
            stalled.hold()
            d.find_element(By.ID, "backup-now").click()
            cancel = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, '#operations tr[data-done="false"] button'),
                              "the running backup's Cancel button")
            cancel.click()
            (_, _, status), _ = wait_operation_done(d)
            assert not d.find_element(By.ID, "error").text, d.find_element(By.ID, "error").text
            assert status.startswith("FAILED") and "cancel" in status.lower(), status
            stalled.release()
            # The page ran under its Content-Security-Policy without a violation (no inline style
            # or script slipped in), and the server sends that policy.
            violations = [e for e in d.get_log("browser") if "Content Security Policy" in e["message"]]
            assert not violations, violations
            headers = requests.get(server.rest + "/console/").headers
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], headers
            assert headers["X-Content-Type-Options"] == "nosniff"
            # A wrong token: the API's UNAUTHENTICATED message, and back to the sign-in form.
            d.execute_script("sessionStorage.setItem('mdb.token', 'wrong'); location.reload()")
            wait_for(d, lambda d: d.find_elements(By.ID, "token"), "the sign-in form")
            error = wait_for(d, lambda d: d.find_element(By.ID, "error").text, "the API's message")
            assert "token" in error.lower(), error
    finally:
        server.stop()
