#!/usr/bin/env python3
"""`make e2e`: the agent console (console/) in a real browser against the local stack.

Starts the local stack on a free port (as `make run` does), opens
http://127.0.0.1:PORT/console/ in headless Chromium (Debian's chromium and chromedriver,
driven by the pinned Selenium of infra/e2e/requirements.txt) and plays the scenario of
issue 15: sign in as an agent of `support`; a contact's signed webhook arrives and the
queue's waiting count moves without a reload (the WebSocket); capture; reply free-form
and find the reply in the sandbox provider's outbox; a second message from the contact
appears live; a template with its preview; a conversation awaiting the contact's reply
shows its disabled actions with their reasons; close. Screenshots of the main screens
land in E2E_SCREENSHOTS (default target/e2e/screenshots; docs/screenshots for the docs).

Environment:
  E2E_STACK        the local-stack binary (default target/debug/local-stack; `make e2e`
                   builds it)
  E2E_BASE_URL     use a stack that is already running at this URL instead of starting one
  E2E_PORT         the port for the stack it starts (default: a free one)
  E2E_SCREENSHOTS  where the screenshots go (default target/e2e/screenshots)
  E2E_TIMEOUT      seconds to wait for anything to show (default 20)
  CHROMIUM, CHROMEDRIVER  default /usr/bin/chromium, /usr/bin/chromedriver

Only 127.0.0.1 is contacted. Exits 0 when every step passed; prints `e2e: N passed,
M failed` last.
"""

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "e2e"
APP_SECRET = b"dev-app-secret"
CHANNEL = "100000000000001"
DISPLAY_NUMBER = "554830000001"
TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "20"))
WINDOW = (1366, 768)  # a laptop screen

for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# Selenium Manager never runs (the driver's path is given); offline all the same.
os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, headers=None):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with HTTP.open(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


# ---------------------------------------------------------------------------------------
# The stack


class Stack:
    def __init__(self):
        self.process = None
        self.log_path = OUT / "local-stack.log"
        given = os.environ.get("E2E_BASE_URL")
        if given:
            self.base = given.rstrip("/")
            return
        binary = Path(os.environ.get("E2E_STACK", ROOT / "target" / "debug" / "local-stack"))
        if not binary.is_file():
            sys.exit(f"e2e: no local stack at {binary}: run `cargo build -p conversa-infra --bin local-stack` (or `make e2e`)")
        port = os.environ.get("E2E_PORT")
        if port:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(port))) == 0:
                    sys.exit(f"e2e: port {port} is busy: free it or set E2E_PORT")
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = str(s.getsockname()[1])
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PORT=port, CONVERSA_EMULATOR="")
        self.log = open(self.log_path, "w")
        # Its own process group: stop() ends the stack and the emulator it started.
        self.process = subprocess.Popen(
            [str(binary)], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self):
        started = time.time()
        while True:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited ({self.process.returncode}); see {self.log_path}")
            try:
                status, answer = http("POST", f"{self.base}/_dev/token", {"sub": "e2e-probe", "role": "agent", "queues": []})
                if status == 200 and answer.get("token"):
                    return time.time() - started
            except (OSError, ValueError):
                pass
            if time.time() - started > 180:
                raise RuntimeError(f"the local stack did not answer on {self.base} within 180 s; see {self.log_path}")
            time.sleep(0.3)

    def stop(self):
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def post_webhook(base, contact, text, name="Ana Souza"):
    """A contact's text message, signed with the development app secret, as Meta posts it."""
    status, clock = http("GET", f"{base}/_dev/clock")
    now = (clock or {}).get("now_millis", int(time.time() * 1000)) // 1000 if status == 200 else int(time.time())
    body = {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "200000000000001",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": CHANNEL},
                    "contacts": [{"profile": {"name": name}, "wa_id": contact}],
                    "messages": [{
                        "from": contact,
                        "id": f"wamid.e2e.{contact}.{time.time_ns()}",
                        "timestamp": str(now),
                        "type": "text",
                        "text": {"body": text},
                    }],
                },
            }],
        }],
    }
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(APP_SECRET, raw, hashlib.sha256).hexdigest()
    status, answer = http("POST", f"{base}/webhooks/whatsapp", raw,
                          {"content-type": "application/json", "x-hub-signature-256": signature})
    if status != 200:
        raise AssertionError(f"the webhook got {status}: {answer}")


# ---------------------------------------------------------------------------------------
# The browser


def browser():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    chromedriver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    for path in (chromium, chromedriver):
        if not Path(path).exists():
            sys.exit(f"e2e: {path} is missing: `apt-get install chromium chromium-driver` (make e2e does)")
    profile = tempfile.mkdtemp(prefix="conversa-e2e-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--no-proxy-server", "--lang=en-US",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(OUT / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    laptop_screen(driver)
    return driver, profile


def laptop_screen(driver):
    """The page's viewport is exactly the laptop screen (the window's would be less); per tab."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})


class Page:
    def __init__(self, driver, shots):
        self.d = driver
        self.shots = shots

    def q(self, testid, root=None):
        return (root or self.d).find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def qs(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def until(self, what, check, timeout=TIMEOUT):
        """Wait until check() is truthy (exceptions count as not yet); its value."""
        last = [None]

        def probe(_):
            try:
                return check()
            except (WebDriverException, AssertionError, LookupError, ValueError) as e:
                last[0] = e
                return False

        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(probe)
        except TimeoutException:
            raise AssertionError(f"waited {timeout:.0f} s for {what}" + (f" (last: {last[0]})" if last[0] else "")) from None

    def visible(self, testid):
        return self.until(f"{testid} to show", lambda: (lambda e: e if e.is_displayed() else None)(self.q(testid)))

    def text(self, testid):
        return self.q(testid).text

    def click(self, testid):
        """Click it once it shows and is enabled (found afresh: the page re-renders)."""
        def attempt():
            element = self.q(testid)
            if not (element.is_displayed() and element.is_enabled()):
                return False
            element.click()
            return True

        self.until(f"{testid} to be shown, enabled and clicked", attempt)

    def item(self, contact):
        found = self.qs(f'[data-testid="conv-item"][data-contact="{contact}"]')
        return found[0] if found else None

    def open_item(self, what, contact):
        """Click the contact's conversation in the list once it shows. Found and clicked in
        one attempt: a live update re-renders the list, and an element found before it is stale."""
        def attempt():
            element = self.item(contact)
            if element is None:
                return False
            element.click()
            return True

        self.until(what, attempt)

    def shot(self, name):
        self.shots.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(self.shots / f"{name}.png"))

    def js_errors(self):
        errors = []
        for entry in self.d.get_log("browser"):
            message = entry.get("message", "")
            # Failed requests (a 409 the console shows, a WebSocket retry) are logged too;
            # only script errors fail the run.
            if entry.get("level") == "SEVERE" and "Uncaught" in message:
                errors.append(message)
        return errors


# ---------------------------------------------------------------------------------------
# The scenario


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    shots = Path(os.environ.get("E2E_SCREENSHOTS", OUT / "screenshots"))
    if not shots.is_absolute():
        shots = ROOT / shots
    passed, failed = 0, 0
    stack = Stack()
    driver = profile = None
    run_id = str(time.time_ns())[-8:]
    contact = "55489" + run_id  # 13 digits, new every run
    other = "55483" + run_id
    agent = "ana"
    reply = f"Olá! Aqui é a Ana, vou te ajudar. ({run_id})"
    ctx = {}

    def step(name, fn):
        nonlocal passed, failed
        started = time.time()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            failed += 1
            print(f"not ok - {name} ({time.time() - started:.1f} s): {e}", flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc()
            raise
        passed += 1
        print(f"ok - {name} ({time.time() - started:.1f} s)", flush=True)

    try:
        step("the local stack answers", lambda: print(f"     {stack.base} up after {stack.wait():.1f} s"))
        driver, profile = browser()
        p = Page(driver, shots)
        console = f"{stack.base}/console/"

        def sign_in_page():
            driver.get(console)
            form = p.visible("signin")
            api = p.q("signin-api", form).get_attribute("value")
            assert api == stack.base, f"the API base URL should default to the page's origin {stack.base}, is {api!r}"
            p.q("signin-sub").clear()
            p.q("signin-sub").send_keys(agent)
            Select(p.q("signin-role")).select_by_value("agent")
            p.q("signin-queues").clear()
            p.q("signin-queues").send_keys("support")
            p.shot("01-sign-in")

        step("the sign-in page, the API base URL defaulting to the page's origin", sign_in_page)

        def refresh_coalescing():
            # The page's own module: a conversation just opened (conversation: true) must
            # still load when an event about another one (conversation: false) follows
            # within the same coalescing window.
            merged = driver.execute_async_script("""
                const done = arguments[arguments.length - 1];
                import('./refresh.js').then(({ wanted }) => {
                  let pending = {};
                  pending = wanted(pending, { conversation: true });
                  pending = wanted(pending, { queues: false, lists: true, conversation: false });
                  done(pending);
                }, (e) => done(String(e)));
            """)
            assert merged == {"conversation": True, "lists": True}, merged

        step("refreshes coalesce without cancelling the load of the conversation just opened", refresh_coalescing)

        def sign_in():
            p.click("signin-dev")
            p.visible("queues")
            assert agent in p.text("whoami"), p.text("whoami")
            ctx["waiting0"] = int(p.until("the support queue's waiting count", lambda: p.text("queue-waiting-support").strip() or None))
            p.until("the Waiting list", lambda: p.qs('[data-testid="conv-list"] li'))

        step("sign in as an agent of support with a development token", sign_in)

        def live():
            p.until("the live indicator to say the WebSocket is open",
                    lambda: p.q("live-status").get_attribute("data-state") == "open")

        step("live updates connected (WebSocket /ws)", live)

        def webhook_arrives():
            driver.execute_script("window.__e2eNoReload = 'still here';")
            post_webhook(stack.base, contact, "Olá, preciso de ajuda com meu pedido")
            expected = ctx["waiting0"] + 1
            p.until(f"the waiting count to become {expected}", lambda: int(p.text("queue-waiting-support")) == expected)
            p.until("the conversation in the Waiting list", lambda: p.item(contact))
            assert driver.execute_script("return window.__e2eNoReload") == "still here", "the page was reloaded"
            # The WebSocket brought it (the fallback refetch while disconnected is slower).
            events = int(p.q("live-status").get_attribute("data-events") or 0)
            assert events > 0, "no event came over the WebSocket"
            p.shot("02-queues-and-waiting-list")

        step("a contact's webhook arrives: the queue count and the Waiting list update without reload", webhook_arrives)

        def open_waiting():
            p.open_item("the conversation in Waiting", contact)
            p.until("the conversation's title", lambda: contact in p.text("conv-title"))
            p.until("the contact's message", lambda: "preciso de ajuda" in p.text("messages"))
            text = p.q("composer-text")
            assert not text.is_enabled(), "free-form should wait for the capture (manual queue)"
            reason = p.until("the composer's reason", lambda: p.text("composer-reason") or None)
            assert "Capture it first" in reason, reason
            assert "Capture it first" in text.get_attribute("title") or "Capture" in p.q("composer-send").get_attribute("title")
            assert p.q("action-capture").is_enabled()
            assert "Window open" in p.text("window-state"), p.text("window-state")
            for action in ("hold", "archive"):
                assert not p.q(f"action-{action}").is_enabled(), f"{action} should be disabled before the capture"
                assert p.q(f"reason-{action}").text, f"the reason {action} is disabled should show"
            p.shot("03-waiting-conversation-capture-required")

        step("the waiting conversation: reply disabled with its reason until captured", open_waiting)

        def capture():
            p.click("action-capture")
            p.until("the state to be in progress", lambda: p.text("conv-state") == "in progress")
            p.until("the composer to open", lambda: p.q("composer-text").is_enabled())
            p.until(f"the waiting count back to {ctx['waiting0']}",
                    lambda: int(p.text("queue-waiting-support")) == ctx["waiting0"])
            p.click("tab-mine")
            p.until("the conversation in Mine", lambda: p.item(contact))

        step("capture: the conversation is mine, the queue count goes back", capture)

        def reply_free_form():
            box = p.q("composer-text")
            box.clear()
            box.send_keys(reply)
            p.click("composer-send")
            p.until("the reply in the conversation", lambda: any(
                reply in m.text for m in p.qs('[data-testid="message"][data-direction="outbound"]')))
            deadline = time.time() + TIMEOUT
            while True:
                _, outbox = http("GET", f"{stack.base}/_dev/outbox")
                sent = [m for m in outbox["messages"]
                        if m["request"].get("to") == contact and (m["request"].get("text") or {}).get("body") == reply]
                if sent:
                    break
                if time.time() > deadline:
                    raise AssertionError(f"the reply never reached the sandbox outbox: {outbox}")
                time.sleep(0.3)
            # The sandbox's status webhooks (sent, delivered, read) reach the screen live.
            p.until("the reply to show as read", lambda: any(
                m.get_attribute("data-status") == "read" and reply in m.text
                for m in p.qs('[data-testid="message"][data-direction="outbound"]')))

        step("reply free-form: the sandbox outbox has it, its statuses show live", reply_free_form)

        def inbound_live():
            post_webhook(stack.base, contact, "Obrigada! O pedido é o 4521.")
            p.until("the contact's new message in the open conversation",
                    lambda: "pedido é o 4521" in p.text("messages"))
            p.shot("04-conversation-with-composer")

        step("a new message from the contact appears in the open conversation live", inbound_live)

        def template_preview():
            p.click("composer-tab-template")
            Select(p.visible("template-select")).select_by_value("welcome|pt_BR")
            p.until("the template's parameter", lambda: p.q("template-param-1"))
            p.until("the preview", lambda: "{{1}}" in p.text("template-preview"))
            assert not p.q("template-send").is_enabled(), "a template with a missing parameter must not be sendable"
            p.q("template-param-1").send_keys("Ana")
            p.until("the rendered preview", lambda: "Olá Ana" in p.text("template-preview"))
            p.until("the template send button", lambda: p.q("template-send").is_enabled())
            p.shot("05-template-preview")
            p.click("template-send")
            p.until("the template in the conversation", lambda: any(
                "Olá Ana" in m.text for m in p.qs('[data-testid="message"][data-direction="outbound"]')))
            p.click("composer-tab-text")

        step("a template with its preview, sent", template_preview)

        def awaiting_reply():
            token = json.loads(driver.execute_script("return sessionStorage.getItem('conversa.console.session')"))["token"]
            status, answer = http("POST", f"{stack.base}/v1/conversations",
                                  {"channel": "100000000000001", "phone": other,
                                   "template": {"name": "welcome", "language": "pt_BR", "parameters": ["Bia"]}},
                                  {"Authorization": f"Bearer {token}", "content-type": "application/json"})
            assert status == 201 and answer["conversation"]["state"] == "awaiting_reply", (status, answer)
            p.click("tab-mine")
            p.open_item("the started conversation in Mine (live)", other)
            p.until("its title", lambda: other in p.text("conv-title"))
            p.until("the state awaiting reply", lambda: p.text("conv-state") == "awaiting reply")
            assert not p.q("composer-text").is_enabled()
            p.click("composer-tab-text")
            reason = p.text("composer-reason")
            assert "Waiting for the contact" in reason, reason
            for action in ("transfer", "archive"):
                assert not p.q(f"action-{action}").is_enabled(), f"{action} must wait for the reply"
                assert "Waiting for the contact" in p.text(f"reason-{action}")
            assert p.q("action-hold").is_enabled() and p.q("action-close").is_enabled()
            assert "Window closed" in p.text("window-state"), p.text("window-state")
            p.shot("06-awaiting-reply-disabled-with-reasons")

        step("awaiting the contact's reply: free-form, transfer and archive disabled with the reason", awaiting_reply)

        def hold_resume_archive():
            p.click("tab-mine")
            p.open_item("the first conversation in Mine", contact)
            p.until("its title", lambda: contact in p.text("conv-title"))
            p.click("action-hold")
            p.until("the state on hold", lambda: p.text("conv-state") == "on hold")
            assert "Already on hold" not in p.text("actions")  # Hold became Resume
            p.click("action-resume")
            p.until("the state in progress again", lambda: p.text("conv-state") == "in progress")
            p.click("action-archive")
            p.until("the archived badge", lambda: "archived" in p.text("conv-meta"))
            p.click("action-unarchive")
            p.until("the archived badge gone", lambda: "archived" not in p.text("conv-meta"))

        step("hold, resume, archive, unarchive", hold_resume_archive)

        def transfer():
            third = "55484" + run_id
            post_webhook(stack.base, third, "Quero falar com vendas", name="Caio Lima")
            p.click("tab-waiting")
            p.open_item("the new conversation in Waiting (live)", third)
            p.until("its title", lambda: third in p.text("conv-title"))
            p.click("action-capture")
            p.until("the state in progress", lambda: p.text("conv-state") == "in progress")
            p.click("action-transfer")
            form = p.visible("transfer-form")
            p.q("transfer-target", form).send_keys("sales")
            p.click("transfer-confirm")
            p.until("the conversation view to close (it is sales' now)", lambda: p.q("no-conversation").is_displayed())
            p.click("tab-mine")
            p.until("it gone from Mine", lambda: p.item(third) is None and p.item(contact) is not None)
            _, boss = http("POST", f"{stack.base}/_dev/token", {"sub": "boss", "role": "supervisor", "queues": []})
            status, waiting = http("GET", f"{stack.base}/v1/queues/sales/conversations",
                                   headers={"Authorization": f"Bearer {boss['token']}"})
            assert status == 200 and any(c["contact"] == third for c in waiting["items"]), waiting

        step("capture and transfer to another queue: it waits in sales", transfer)

        def close():
            p.click("tab-mine")
            p.open_item("the first conversation in Mine", contact)
            p.until("its title", lambda: contact in p.text("conv-title"))
            p.click("action-close")
            p.until("the close confirmation", lambda: "again" in p.text("action-close"))
            p.click("action-close")
            p.until("the state closed", lambda: p.text("conv-state") == "closed")
            p.until("the composer to close", lambda: "closed" in p.text("composer-reason"))
            assert not p.q("action-transfer").is_enabled()
            p.click("tab-archived")
            p.until("the closed conversation in Archived", lambda: p.item(contact))
            errors = p.js_errors()
            assert not errors, f"script errors in the page: {errors}"

        step("close: the conversation moves to Archived", close)

        def supervisor():
            Select(p.q("agent-status")).select_by_value("available")
            p.until("the status saved", lambda: p.q("agent-status").get_attribute("value") == "available"
                    and not p.text("agent-status-note"))
            agent_tab = driver.current_window_handle
            # Another tab has its own sessionStorage: ana stays signed in (and online) there.
            driver.switch_to.new_window("tab")
            laptop_screen(driver)
            driver.get(console)
            form = p.visible("signin")
            for field, value in (("signin-sub", "boss"), ("signin-queues", "support, sales")):
                p.q(field, form).clear()
                p.q(field, form).send_keys(value)
            Select(p.q("signin-role")).select_by_value("supervisor")
            p.click("signin-dev")
            p.visible("queue-sales")
            p.visible("queue-support")
            p.visible("tab-progress")
            p.until("the live indicator", lambda: p.q("live-status").get_attribute("data-state") == "open")
            p.until("ana online and available in the Agents panel", lambda: (
                p.q("agent-ana").get_attribute("data-online") == "true"
                and p.q("agent-ana").get_attribute("data-status") == "available"))
            p.click("tab-waiting")
            p.open_item("the conversation transferred to sales, waiting", "55484" + run_id)
            p.until("the first-reply hint", lambda: "first reply" in p.text("composer-reason"))
            p.shot("07-supervisor")
            driver.close()
            driver.switch_to.window(agent_tab)

        step("the agent sets its status; a supervisor sees every queue and the agent online", supervisor)
    except Exception:  # noqa: BLE001 - reported by step(); show what the page and stack had
        if driver:
            try:
                OUT.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(OUT / "failure.png"))
                print(f"     screenshot: {OUT / 'failure.png'}")
                for entry in driver.get_log("browser")[-20:]:
                    print(f"     browser: {entry.get('level')} {entry.get('message')}")
            except WebDriverException:
                pass
        if stack.process:
            print(f"     the stack's log ({stack.log_path}), last lines:\n{stack.tail()}")
        if not failed:
            failed += 1
    finally:
        if driver:
            driver.quit()
        if profile:
            shutil.rmtree(profile, ignore_errors=True)
        stack.stop()
    print(f"e2e: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
