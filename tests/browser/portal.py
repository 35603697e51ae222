"""Browser tests of the data subjects' portal: a real headless Chromium (Debian's
package, driven by Playwright from PyPI) against the real dsr-server on a loopback
port, as a person and a receiving party would use it.

    bash .ci/browser                      (installs what it needs, then runs this)
    python tests/browser/portal.py --server target/debug/dsr-server --dsr target/debug/dsr \
        [--chromium /usr/bin/chromium] [--screenshots DIR]

Each scenario is a function named `test_…`; the run stops at nothing: every scenario
runs, failures are listed at the end, and the exit status is 1 if any failed.
Accessibility: axe-core (bundled by axe-playwright-python) on every page, WCAG 2.0 /
2.1 / 2.2 A and AA rules, no serious or critical violation allowed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt  # PyJWT: a host application written in Python signs its assertions
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

ARGS = None
AXE = Axe()
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
}
CHECKED_PAGES = []


class Demo:
    """`dsr-server --demo` in a temporary folder: tenant `demo`, the sample subjects, a
    host key registered for the portal."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dsr-browser-")
        env = dict(os.environ, DSR_SERVER_LISTEN="127.0.0.1:0", RUST_LOG="info")
        self.proc = subprocess.Popen(
            [ARGS.server, "--demo"], cwd=self.dir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.base = None
        self.token = None
        deadline = time.time() + 60
        for line in self.proc.stdout:
            m = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.base = m.group(1)
            m = re.search(r"token \(every scope; shown once\): (\S+)", line)
            if m:
                self.token = m.group(1)
            if "stop with Ctrl-C" in line or time.time() > deadline:
                break
        assert self.base and self.token, "the demo server did not start"
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.key = os.path.join(self.dir, "dsr-demo-host.key")

    def link(self, subject, lang=None):
        cmd = [ARGS.server, "portal-link", "--key", self.key, "--issuer", "dsr-demo-host",
               "--subject", subject, "--base", self.base]
        if lang:
            cmd += ["--lang", lang]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    def python_host_link(self, subject, issued_ago=0, lifetime=120):
        """What a host written in Python sends (PyJWT): proves the format is plain JWT."""
        now = int(time.time()) - issued_ago
        with open(self.key, "rb") as f:
            private = f.read()
        token = jwt.encode(
            {"iss": "dsr-demo-host", "aud": "dsr-portal", "sub": subject, "iat": now,
             "exp": now + lifetime, "jti": os.urandom(12).hex()},
            private, algorithm="EdDSA")
        return f"{self.base}/portal/signin?assertion={token}"

    def api(self, path):
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def settle(self, request_id):
        deadline = time.time() + 60
        while time.time() < deadline:
            r = self.api(f"/api/v1/requests/{request_id}")
            if r["status"] not in ("received", "in_progress"):
                return r
            time.sleep(0.2)
        raise AssertionError(f"request {request_id} did not settle")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def check_page(page, name):
    """axe-core on the page as shown; a screenshot for the docs."""
    results = AXE.run(page, options=AXE_OPTIONS)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    CHECKED_PAGES.append((name, len(results.response["violations"]), len(bad)))
    if ARGS.screenshots:
        page.screenshot(path=os.path.join(ARGS.screenshots, f"{name}.png"), full_page=True)
    assert not bad, f"{name}: accessibility violations: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)


def request_id_of(page):
    m = re.search(r"/portal/requests/([0-9a-f-]{36})", page.url)
    assert m, page.url
    return m.group(1)


def test_sign_in_see_the_data_export_download_and_verify(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person = browser.new_context(accept_downloads=True)
    page = person.new_page()
    resp = page.goto(demo.link("c-1005"))
    assert resp.status == 200 and page.url.endswith("/portal/"), page.url
    assert page.locator("h1").inner_text() == "Your data and requests"
    assert "zoe.faure@gmail.com" in page.content()
    # The cookie the browser keeps: host-only, HttpOnly, Secure, SameSite=Strict.
    c = [c for c in person.cookies() if c["name"] == "__Host-dsr-portal"]
    assert c and c[0]["httpOnly"] and c[0]["secure"] and c[0]["sameSite"] == "Strict", person.cookies()
    check_page(page, "home")

    page.get_by_role("link", name="Get a copy of your data").click()
    assert page.locator("h1").inner_text() == "Ask for a copy of your data"
    check_page(page, "ask-export")
    page.get_by_role("button", name="Ask for a copy").click()
    assert page.get_by_role("status").first.inner_text().startswith("Your request was received")
    rid = request_id_of(page)
    assert demo.settle(rid)["status"] == "completed"
    page.reload()
    assert "Done" in page.locator("dl.facts").inner_text()
    assert "zoe.faure@gmail.com" in page.locator("#data").locator("..").inner_text()
    check_page(page, "request-export")

    with page.expect_download() as d:
        page.get_by_role("link", name="Download the package").click()
    path = os.path.join(ctx["tmp"], "package.json")
    d.value.save_as(path)
    key = json.load(open(path))["manifest"]["public_key"]
    out = subprocess.run([ARGS.dsr, "verify", path, "--key", key], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    events = [e["action"] for e in demo.api(f"/api/v1/requests/{rid}/events")["events"]]
    assert "package.handed_over" in events, events
    ctx["export"] = (person, page, rid, key)


def test_forward_the_package_and_the_receiving_party_verifies_it_in_the_browser(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person, page, rid, key = ctx["export"]
    page.goto(f"{demo.base}/portal/requests/{rid}")
    page.get_by_label("Who it is for").fill("Nouvel Assureur SA")
    page.get_by_label("Downloads allowed").select_option("3")
    page.get_by_role("button", name="Make the link").click()
    assert page.locator("h1").inner_text() == "Your link is ready"
    link = page.get_by_label("Link").input_value()
    check_page(page, "forward-link")

    # The receiving party: another browser, no session.
    other = browser.new_context(accept_downloads=True)
    rp = other.new_page()
    assert rp.goto(link).status == 200
    assert key in rp.content()
    check_page(rp, "shared")
    rp.get_by_role("button", name="Download and check the signature").click()
    rp.wait_for_selector("#verify-status.ok, #verify-status.bad", timeout=20000)
    status = rp.locator("#verify-status").inner_text()
    assert status.startswith("Authentic"), status
    assert rp.get_by_role("link", name="Save the package").count() == 1
    check_page(rp, "shared-verified")

    # A package altered on the way is caught by the same check.
    def tamper(route):
        resp = route.fetch()
        body = resp.text().replace("zoe.faure@gmail.com", "someone.else@gmail.com")
        route.fulfill(response=resp, body=body)
    rp2 = other.new_page()
    rp2.route("**/package", tamper)
    rp2.goto(link)
    rp2.get_by_role("button", name="Download and check the signature").click()
    rp2.wait_for_selector("#verify-status.ok, #verify-status.bad", timeout=20000)
    status = rp2.locator("#verify-status").inner_text()
    assert status.startswith("Not authentic") and "altered" in status, status

    # Third download, then the link is used up.
    rp3 = other.new_page()
    rp3.goto(link)
    with rp3.expect_download():
        rp3.get_by_role("link", name="Download without checking").click()
    assert rp3.goto(link).status == 410
    assert "used as many times" in rp3.content()
    check_page(rp3, "shared-used-up")
    handed = [e for e in demo.api(f"/api/v1/requests/{rid}/events")["events"] if e["action"] == "package.handed_over"]
    assert len(handed) == 4, handed  # the person's download and the three by the link
    other.close()


def test_ask_for_a_correction(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person = browser.new_context()
    page = person.new_page()
    page.goto(demo.link("c-2002"))
    page.get_by_role("link", name="Correct your data").first.click()
    check_page(page, "correct")
    page.get_by_label("Value to correct").select_option(label="anna.schmidt@beispiel.de")
    page.get_by_label("Correct value").fill("anna.schmidt@neu.example")
    page.get_by_role("button", name="Ask for the correction").click()
    rid = request_id_of(page)
    r = demo.api(f"/api/v1/requests/{rid}")
    assert r["type"] == "update" and r["replacements"][0]["new"] == "anna.schmidt@neu.example", r
    assert "anna.schmidt@neu.example" in page.content()
    check_page(page, "request-correction")
    person.close()


def test_erasure_says_the_consequences_and_the_employee_rule(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person = browser.new_context()
    page = person.new_page()
    page.goto(demo.link("u-01"))
    page.get_by_role("link", name="Erase your data").click()
    assert "cannot be undone" in page.content()
    assert "listed as an employee" in page.content()
    check_page(page, "ask-erasure")
    # The box must be ticked: the browser itself refuses the form without it.
    page.get_by_role("button", name="Ask for erasure").click()
    assert "/portal/ask/erasure" in page.url
    page.get_by_label("I understand that my data will be erased").check()
    page.get_by_role("button", name="Ask for erasure").click()
    rid = request_id_of(page)
    assert demo.api(f"/api/v1/requests/{rid}")["status"] == "on_hold"
    assert "needs a decision" in page.content()
    check_page(page, "request-erasure-held")
    person.close()


def test_expired_and_replayed_assertions_are_refused(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person = browser.new_context()
    page = person.new_page()
    link = demo.python_host_link("c-3001")
    assert page.goto(link).status == 200 and page.url.endswith("/portal/")
    fresh = browser.new_context().new_page()
    resp = fresh.goto(link)
    assert resp.status == 401 and "already used" in fresh.content()
    check_page(fresh, "signin-replayed")
    resp = fresh.goto(demo.python_host_link("c-3001", issued_ago=600))
    assert resp.status == 401 and "expired" in fresh.content()
    resp = fresh.goto(f"{demo.base}/portal/")
    assert resp.status == 401 and "Sign in through your account" in fresh.content()
    check_page(fresh, "signed-out")
    person.close()


def test_a_form_from_another_page_is_refused(ctx):
    """A page on another origin (same site: another port of 127.0.0.1, so the
    SameSite=Strict cookie is sent) posts a request form to the portal: refused."""
    demo, browser = ctx["demo"], ctx["browser"]
    target = f"{demo.base}/portal/requests"

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):
            body = (f'<!doctype html><html lang="en"><title>x</title><form method="post" action="{target}">'
                    '<input name="type" value="export"><input name="csrf" value="guess"></form>'
                    '<script>document.forms[0].submit()</script></html>').encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    evil = HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    person = browser.new_context()
    page = person.new_page()
    page.goto(demo.link("c-6001"))
    before = len(demo.api("/api/v1/requests?limit=200")["items"])
    with page.expect_navigation():
        page.goto(f"http://127.0.0.1:{evil.server_port}/")
    page.wait_for_load_state()
    assert "Form refused" in page.content() or "Sign in" in page.content(), page.content()[:500]
    after = len(demo.api("/api/v1/requests?limit=200")["items"])
    assert before == after, "a forged form made a request"
    evil.shutdown()
    person.close()


def test_one_person_cannot_open_another_persons_request(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    _, _, rid, _ = ctx["export"]
    person = browser.new_context()
    page = person.new_page()
    page.goto(demo.link("c-7001"))
    for path in (f"/portal/requests/{rid}", f"/portal/requests/{rid}/package"):
        resp = page.goto(demo.base + path)
        assert resp.status == 404, (path, resp.status)
        assert "zoe" not in page.content().lower()
    check_page(page, "not-found")
    person.close()


def test_french(ctx):
    demo, browser = ctx["demo"], ctx["browser"]
    person = browser.new_context()
    page = person.new_page()
    page.goto(demo.link("c-1001", lang="fr"))
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Vos données et demandes"
    check_page(page, "home-fr")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Your data and requests"
    page.get_by_role("button", name="Sign out").click()
    assert page.locator("h1").inner_text() == "You are signed out"
    assert page.goto(f"{demo.base}/portal/").status == 401
    person.close()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="target/debug/dsr-server")
    p.add_argument("--dsr", default="target/debug/dsr")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--screenshots", help="write a screenshot of each page checked here")
    ARGS = p.parse_args()
    ARGS.server = os.path.abspath(ARGS.server)
    ARGS.dsr = os.path.abspath(ARGS.dsr)
    if ARGS.screenshots:
        ARGS.screenshots = os.path.abspath(ARGS.screenshots)
    if ARGS.screenshots:
        os.makedirs(ARGS.screenshots, exist_ok=True)
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    failed = []
    demo = Demo()
    tmp = tempfile.mkdtemp(prefix="dsr-browser-files-")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=ARGS.chromium, args=["--no-sandbox"])
            ctx = {"demo": demo, "browser": browser, "tmp": tmp}
            for name, f in tests:
                started = time.time()
                try:
                    f(ctx)
                    print(f"ok    {name} ({time.time() - started:.1f} s)")
                except Exception:
                    failed.append(name)
                    print(f"FAIL  {name}")
                    traceback.print_exc()
            browser.close()
    finally:
        demo.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\naccessibility (axe-core, WCAG 2.2 A/AA): {len(CHECKED_PAGES)} pages checked")
    for name, n, bad in CHECKED_PAGES:
        print(f"  {name}: {n} violation(s), {bad} serious or critical")
    print(f"\n{len(tests) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
