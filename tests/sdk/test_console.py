"""The web console (`/console`) end to end, in headless Chromium driven by Selenium.

The browser signs every call itself (V3, WebCrypto), so these tests prove the console's
signing against the real verifier as much as its pages: sign in, create an instance
through the form, watch it become Running, import a database into it from a source the
SDK prepared and see the per-table progress end in Success, back it up, then delete it
and see it gone. A screenshot of the instance list is left under
`target/console-test/`.

Chromium and its driver are Debian's (`chromium`, `chromium-driver`, installed by
.ci/run); Selenium is given both paths so that it never looks for a browser on the
network. A machine without them fails these tests: the console is tested, never skipped.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (
    CREATE_TIMEOUT,
    DELETE_TIMEOUT,
    REGION,
    REPO,
    ROOT_KEY_ID,
    ROOT_KEY_SECRET,
    create_pg,
    delete_quietly,
    net_address,
    pg_connect,
    wait_status,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = REPO / "target" / "console-test"
PASSWORD = "Console_Passw0rd!"
SESSION_KEY = "openrds.console.session"


@pytest.fixture(scope="module")
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: the console tests need Debian's headless Chromium "
            "(`apt-get install -y --no-install-recommends chromium chromium-driver`; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    # With both paths given Selenium Manager has nothing to find; offline in case it looks.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


# --------------------------------------------------------------------------------------
# Page helpers
# --------------------------------------------------------------------------------------


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def wait_for(driver, what: str, check, timeout: float = 20.0, every: float = 0.2):
    """Polls `check(driver)` until it returns something truthy; fails naming `what`, with
    the page's error banner and console log, on timeout."""
    from selenium.common.exceptions import StaleElementReferenceException, NoSuchElementException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check(driver)
        except (StaleElementReferenceException, NoSuchElementException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"console: {what} not seen within {timeout:.0f} s\n{page_state(driver)}")
        time.sleep(every)


def page_state(driver) -> str:
    """What the page shows of an error, and the browser's console, for failure messages."""
    try:
        banner = driver.execute_script(
            "const e = document.getElementById('error'); return e && !e.hidden ? e.innerText : '(no error shown)';"
        )
    except Exception as e:  # pragma: no cover - the page itself is broken
        banner = f"(page unreadable: {e})"
    try:
        logs = "\n".join(f"  {l['level']}: {l['message']}" for l in driver.get_log("browser"))
    except Exception:  # pragma: no cover
        logs = ""
    return f"URL {driver.current_url}\nerror banner: {banner}\nbrowser log:\n{logs or '  (empty)'}"


def error_shown(driver) -> dict | None:
    if by_id(driver, "error").is_displayed():
        return {
            "code": by_id(driver, "error-code").text,
            "message": by_id(driver, "error-message").text,
            "request_id": by_id(driver, "error-request-id").text,
        }
    return None


def no_error(driver) -> None:
    shown = error_shown(driver)
    assert shown is None, f"the console shows an error: {shown}\n{page_state(driver)}"


def open_console(driver, server) -> None:
    driver.get(f"http://{server.endpoint}/console")
    driver.execute_script("sessionStorage.clear(); localStorage.clear();")
    driver.get(f"http://{server.endpoint}/console#/signin")
    wait_for(driver, "the sign-in form", lambda d: by_id(d, "view-signin").is_displayed())


def sign_in(driver, key_id: str, secret: str) -> None:
    for field, value in (("signin-key-id", key_id), ("signin-key-secret", secret), ("signin-region", REGION)):
        el = by_id(driver, field)
        el.clear()
        el.send_keys(value)
    by_id(driver, "signin-submit").click()


def instance_rows(driver) -> dict[str, dict]:
    """The instance list as shown: id -> its cells."""
    rows = {}
    for row in css(driver, "[data-testid=instance-row]"):
        cells = row.find_elements("css selector", "td")
        rows[row.get_attribute("data-instance-id")] = {
            "description": cells[1].text,
            "status": row.get_attribute("data-status"),
            "engine": cells[3].text,
            "class": cells[4].text,
            "address": cells[5].text,
        }
    return rows


def select_value(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(by_id(driver, element_id)).select_by_value(value)


def screenshot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    print(f"\nconsole screenshot: {path}")
    return path


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_console_files_are_served_with_their_types_and_a_strict_policy(server):
    expected = {
        "/console": "text/html",
        "/console/": "text/html",
        "/console/app.js": "text/javascript",
        "/console/style.css": "text/css",
    }
    for path, kind in expected.items():
        r = requests.get(f"http://{server.endpoint}{path}", timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["Content-Type"].startswith(kind), (path, r.headers["Content-Type"])
        csp = r.headers.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives.get("default-src") == ["'self'"], (path, csp)
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (path, csp)
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
    page = requests.get(f"http://{server.endpoint}/console", timeout=10).text
    assert '<script src="/console/app.js"' in page and "<script>" not in page
    # Unsigned, but only these: the API itself still wants a signature.
    r = requests.get(f"http://{server.endpoint}/console/secrets", timeout=10)
    assert r.status_code == 404
    r = requests.post(f"http://{server.endpoint}/", params={"Action": "DescribeDBInstances"}, timeout=10)
    assert r.json()["Code"] == "IncompleteSignature", r.text


def test_a_wrong_secret_shows_the_envelopes_message_and_keeps_nothing(server, v3, browser):
    wrong = v3.with_key(ROOT_KEY_ID, "not-the-secret").error("DescribeDBInstances", RegionId=REGION)
    assert wrong.code == "SignatureDoesNotMatch", wrong

    open_console(browser, server)
    sign_in(browser, ROOT_KEY_ID, "not-the-secret")
    shown = wait_for(browser, "the error banner", error_shown)
    assert shown["code"] == "SignatureDoesNotMatch", shown
    # The server's string to sign differs per request (date, nonce); the rest is the same.
    prefix = wrong.message.split("server string to sign is:")[0]
    assert prefix and shown["message"].startswith(prefix), (shown, wrong.message)
    assert len(shown["request_id"]) == 36, shown
    screenshot(browser, "signin-error.png")
    assert by_id(browser, "view-signin").is_displayed(), "a refused key must not sign in"
    assert browser.execute_script(f"return sessionStorage.getItem('{SESSION_KEY}')") is None
    assert "not-the-secret" not in browser.current_url

    # An unknown key id: its own code and message, shown the same way.
    sign_in(browser, "LTAInosuchkey000000000", "whatever-secret")
    shown = wait_for(browser, "the unknown-key error", lambda d: (e := error_shown(d)) and e["code"] != "SignatureDoesNotMatch" and e)
    assert shown["code"] == "InvalidAccessKeyId.NotFound", shown
    assert shown["message"], shown


@pytest.fixture(scope="module")
def source(v3):
    """A PostgreSQL source made with the SDK: database `shop` with two tables, owned by a
    Normal account. Its creation starts at once; `ready()` waits for the data."""
    body = create_pg(v3, DBInstanceDescription="console import source")
    instance_id = body["DBInstanceId"]
    state = {"id": instance_id, "ready": False}

    def ready() -> str:
        if not state["ready"]:
            wait_status(v3, instance_id, "Running")
            v3.call("CreateAccount", DBInstanceId=instance_id, AccountName="shop_owner", AccountPassword=PASSWORD)
            v3.call("CreateDatabase", DBInstanceId=instance_id, DBName="shop", CharacterSetName="UTF8",
                    AccountName="shop_owner", AccountPrivilege="DBOwner")
            with pg_connect(*net_address(v3, instance_id), "shop_owner", PASSWORD, "shop") as conn:
                conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)")
                conn.execute("INSERT INTO items SELECT g, 'item ' || g, g / 7.0 FROM generate_series(1, 20000) g")
                conn.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, item int REFERENCES items, qty int)")
                conn.execute("INSERT INTO orders (item, qty) SELECT 1 + g % 20000, g % 5 FROM generate_series(1, 5000) g")
            state["ready"] = True
        return instance_id

    state["wait"] = ready
    yield state
    delete_quietly(v3, instance_id)


def test_sign_in_create_import_back_up_and_delete_in_the_console(server, v3, browser, source):
    started = time.monotonic()
    open_console(browser, server)
    sign_in(browser, ROOT_KEY_ID, ROOT_KEY_SECRET)
    wait_for(browser, "the instance list", lambda d: by_id(d, "view-instances").is_displayed())
    no_error(browser)
    assert by_id(browser, "who-key").text == ROOT_KEY_ID
    # The key is kept in this tab's sessionStorage and nowhere else.
    kept = json.loads(browser.execute_script(f"return sessionStorage.getItem('{SESSION_KEY}')"))
    assert kept == {"keyId": ROOT_KEY_ID, "secret": ROOT_KEY_SECRET, "region": REGION}
    assert browser.execute_script("return localStorage.length") == 0
    assert ROOT_KEY_SECRET not in browser.current_url
    assert browser.execute_script("return document.cookie") == ""

    # Create, through the form.
    description = f"console-{uuid.uuid4().hex[:8]}"
    by_id(browser, "create-toggle").click()
    wait_for(browser, "the classes offered", lambda d: "pg.x4.large.2c" in [
        o.get_attribute("value") for o in css(d, "#create-class option")])
    select_value(browser, "create-engine", "PostgreSQL")
    wait_for(browser, "PostgreSQL versions", lambda d: "15.0" in [o.get_attribute("value") for o in css(d, "#create-version option")])
    select_value(browser, "create-version", "15.0")
    select_value(browser, "create-class", "pg.x4.large.2c")
    by_id(browser, "create-description").send_keys(description)
    by_id(browser, "create-submit").click()
    row = wait_for(browser, "the new instance in the list", lambda d: next(
        (i for i, r in instance_rows(d).items() if r["description"] == description), None))
    dst = row
    server.registry.add(dst, v3)  # the session's teardown deletes it if this test fails
    no_error(browser)
    assert instance_rows(browser)[dst]["status"] in ("Creating", "Running")

    # The list refreshes itself while the instance is Creating.
    wait_for(browser, f"{dst} Running", lambda d: instance_rows(d).get(dst, {}).get("status") == "Running",
             timeout=CREATE_TIMEOUT)
    attr = v3.call("DescribeDBInstanceAttribute", DBInstanceId=dst)["Items"]["DBInstanceAttribute"][0]
    assert (attr["Engine"], attr["DBInstanceClass"], attr["DBInstanceDescription"]) == ("PostgreSQL", "pg.x4.large.2c", description)
    shown = instance_rows(browser)[dst]
    assert shown["engine"] == "PostgreSQL 15.0" and shown["class"] == "pg.x4.large.2c", shown
    assert shown["address"] == f"{attr['ConnectionString']}:{attr['Port']}", shown

    src = source["wait"]()
    by_id(browser, "instances-refresh").click()
    wait_for(browser, "both instances Running in the list", lambda d: all(
        instance_rows(d).get(i, {}).get("status") == "Running" for i in (src, dst)))
    no_error(browser)
    shot = screenshot(browser, "instances.png")
    assert shot.stat().st_size > 10_000

    # The instance's page: an account and a database made in the forms.
    next(r for r in css(browser, "[data-testid=instance-row]") if r.get_attribute("data-instance-id") == dst) \
        .find_element("css selector", "[data-testid=instance-link]").click()
    wait_for(browser, "the instance page", lambda d: by_id(d, "view-instance").is_displayed() and by_id(d, "detail-id").text == dst)
    wait_for(browser, "the detail's status", lambda d: by_id(d, "detail-status").text == "Running")
    by_id(browser, "account-name").send_keys("console_app")
    by_id(browser, "account-password").send_keys(PASSWORD)
    by_id(browser, "account-submit").click()
    wait_for(browser, "the new account", lambda d: css(d, "[data-testid=account-row][data-account-name=console_app]"))
    by_id(browser, "database-name").send_keys("console_db")
    by_id(browser, "database-account").send_keys("console_app")
    by_id(browser, "database-submit").click()
    wait_for(browser, "the new database", lambda d: css(d, "[data-testid=database-row][data-db-name=console_db]"))
    no_error(browser)
    names = {d["DBName"] for d in v3.call("DescribeDatabases", DBInstanceId=dst)["Databases"]["Database"]}
    assert "console_db" in names, names

    # Import shop from the source under a new name, and watch it to the end.
    wait_for(browser, "the source among the import sources",
             lambda d: src in [o.get_attribute("value") for o in css(d, "#import-source option")])
    select_value(browser, "import-source", src)
    wait_for(browser, "the source's databases", lambda d: "shop" in by_id(d, "import-source-dbs").text)
    by_id(browser, "import-dbnames").send_keys("shop:shop_copy")
    by_id(browser, "import-submit").click()
    wait_for(browser, "the import's progress", lambda d: by_id(d, "import-progress").is_displayed() and by_id(d, "import-id").text)
    import_id = by_id(browser, "import-id").text
    assert import_id.isdigit(), import_id
    statuses_seen = set()

    def ended(d):
        status = by_id(d, "import-status").text
        statuses_seen.add(status)
        return status if status in ("Success", "Failed", "Canceled") else None

    final = wait_for(browser, f"import {import_id} to end", ended, timeout=180, every=0.1)
    assert final == "Success", f"import ended {final}: {by_id(browser, 'import-error').text}\n{page_state(browser)}"
    tables = {r.get_attribute("data-table"): r.get_attribute("data-state") for r in css(browser, "[data-testid=import-table-row]")}
    assert tables == {"public.items": "Verified", "public.orders": "Verified"}, tables
    totals = by_id(browser, "import-totals").text
    assert "25,000 of 25,000 rows" in totals, totals
    screenshot(browser, "import.png")
    wait_for(browser, "shop_copy among the databases", lambda d: css(d, "[data-testid=database-row][data-db-name=shop_copy]"))
    wait_for(browser, "the import in the list", lambda d: any(
        r.get_attribute("data-import-id") == import_id and "Success" in r.text for r in css(d, "[data-testid=import-row]")))
    progress = v3.call("DescribeImportProgress", DBInstanceId=dst, ImportId=import_id)
    assert progress["Status"] == "Success", progress
    no_error(browser)

    # A backup made in the page, and the restore window it opens.
    # A new instance waits for its first backup window, so it has no restore point yet.
    assert by_id(browser, "restore-window").text.startswith(("No restore point yet", "Restore window: ")), \
        by_id(browser, "restore-window").text
    by_id(browser, "backup-create").click()
    wait_for(browser, "a successful backup set",
             lambda d: any(r.find_element("css selector", "[data-testid=backup-status]").text == "Success"
                           for r in css(d, "[data-testid=backup-row]")), timeout=180)
    window = by_id(browser, "restore-window").text
    assert window.startswith("Restore window: any second from "), window
    no_error(browser)

    # Back to the list; delete the console's instance, confirming in the dialog.
    by_id(browser, "back").click()
    wait_for(browser, "the instance list again", lambda d: dst in instance_rows(d))
    row = next(r for r in css(browser, "[data-testid=instance-row]") if r.get_attribute("data-instance-id") == dst)
    row.find_element("css selector", "[data-testid=delete-instance]").click()
    wait_for(browser, "the confirmation", lambda d: by_id(d, "confirm").is_displayed())
    assert dst in by_id(browser, "confirm-text").text
    by_id(browser, "confirm-yes").click()
    wait_for(browser, f"{dst} gone from the list", lambda d: dst not in instance_rows(d), timeout=DELETE_TIMEOUT)
    no_error(browser)
    assert src in instance_rows(browser)
    assert v3.error("DescribeDBInstanceAttribute", DBInstanceId=dst).code == "InvalidDBInstanceId.NotFound"

    # Signing out forgets the key.
    by_id(browser, "signout").click()
    wait_for(browser, "the sign-in form after signing out", lambda d: by_id(d, "view-signin").is_displayed())
    assert browser.execute_script(f"return sessionStorage.getItem('{SESSION_KEY}')") is None
    print(f"console end to end: {time.monotonic() - started:.1f} s, import statuses seen {sorted(statuses_seen)}")
