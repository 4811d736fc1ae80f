"""A small driver of headless Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: commands in on fd 3, answers out on fd 4, each a JSON text ended by a
NUL byte), so the browser tests need no package beyond the standard library and no debugging port.

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:9000/")
        page.eval("document.title")
        page.screenshot("overview.png")
        page.problems()   # console errors, uncaught exceptions, CSP and load failures
"""

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time


def chromium_binary():
    """The Chromium (or Chrome) on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, binary=None, width=1280, height=900, timeout=30):
        self.binary = binary or chromium_binary()
        if not self.binary:
            raise BrowserError("no chromium on PATH (Debian: apt-get install -y chromium)")
        self.width, self.height, self.timeout = width, height, timeout
        self.profile = tempfile.mkdtemp(prefix="gonka-chromium-")
        commands_read, self.commands = os.pipe()
        self.answers, answers_write = os.pipe()

        def wire_fds():
            # The pipe ends land on fd 3 (commands) and fd 4 (answers), where Chromium expects them;
            # moved out of the way first so one dup2 cannot close the other's source.
            high_read, high_write = os.dup(commands_read) + 100, os.dup(answers_write) + 100
            os.dup2(commands_read, high_read)
            os.dup2(answers_write, high_write)
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        args = [
            self.binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio", "--hide-scrollbars",
            "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height), "about:blank",
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire_fds)
        os.close(commands_read)
        os.close(answers_write)
        self.next_id = 0
        self.lock = threading.Lock()
        self.waiting = {}
        self.events = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self.commands, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self.answers, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    for slot in self.waiting.values():
                        slot.put({"error": {"message": "browser closed"}})
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self.lock:
                        slot = self.waiting.pop(message["id"], None)
                    if slot:
                        slot.put(message)
                else:
                    self.events.put(message)

    def send(self, method, params=None, session=None, timeout=None):
        with self.lock:
            self.next_id += 1
            ident = self.next_id
            slot = queue.Queue()
            self.waiting[ident] = slot
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        try:
            answer = slot.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise BrowserError("%s: no answer in %ss" % (method, timeout or self.timeout))
        if "error" in answer:
            raise BrowserError("%s: %s" % (method, answer["error"].get("message")))
        return answer.get("result", {})

    def open(self, url):
        """A new tab showing `url`, loaded (its load event fired)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.send(domain, session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        page.navigate(url)
        return page


class Page:
    def __init__(self, browser, target, session):
        self.browser, self.target, self.session = browser, target, session
        self.log = []

    def _drain(self, until=None, timeout=0.0):
        """Collects this tab's events; with `until`, waits (≤ timeout) for an event it accepts."""
        deadline = time.monotonic() + timeout
        held = []
        found = None
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.browser.events.get(timeout=max(left, 0.01)) if until else \
                    self.browser.events.get_nowait()
            except queue.Empty:
                break
            if event.get("sessionId") != self.session:
                held.append(event)
                continue
            self._note(event)
            if until and until(event):
                found = event
                break
            if until and time.monotonic() > deadline:
                break
        for event in held:
            self.browser.events.put(event)
        return found

    def _note(self, event):
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.log.append(("exception", text, details.get("url", "")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.log.append(("console", text, ""))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.log.append((entry.get("source", "log"), entry.get("text", ""), entry.get("url", "")))

    def navigate(self, url):
        self.log = []
        self.browser.send("Page.navigate", {"url": url}, session=self.session)
        if not self._drain(lambda e: e.get("method") == "Page.loadEventFired", timeout=self.browser.timeout):
            raise BrowserError("%s did not load in %ss" % (url, self.browser.timeout))

    def eval(self, expression):
        """The value of a JavaScript expression in the page (JSON-able values)."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError("%s: %s" % (expression, result["exceptionDetails"].get("text")))
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=15.0):
        """Waits until `expression` is truthy in the page; returns its value (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            self._drain(lambda e: False, timeout=0.2)
        return None

    def problems(self):
        """Console errors, uncaught exceptions and error log entries (CSP, failed loads) so far."""
        self._drain()
        return list(self.log)

    def screenshot(self, path):
        data = self.browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=self.session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.browser.send("Target.closeTarget", {"targetId": self.target})
        except BrowserError:
            pass
