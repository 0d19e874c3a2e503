"""Debian's headless Chromium driven by selenium through Debian's chromedriver: nothing is
downloaded at run time. The flags keep Chromium off the network this machine does not have."""
import contextlib
import tempfile

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


@contextlib.contextmanager
def chromium(width=1400, height=1000):
    with tempfile.TemporaryDirectory() as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                     "--window-size=%d,%d" % (width, height)):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver, condition, what, timeout=120):
    """Waits for condition(driver) to be truthy (a hang guard, not a speed limit); returns it. A page
    that re-renders meanwhile (it polls the API) is read again at the next try."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: condition(d), message="not within %d s: %s" % (timeout, what))
