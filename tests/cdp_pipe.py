"""A minimal headless-Chromium driver for tests: the DevTools protocol over `--remote-debugging-pipe`.

Standard library only: Chromium reads JSON commands from fd 3 and writes replies and events to
fd 4, each message ended by a NUL byte. No port, no websocket, no browser download. (Shell
redirections cannot place them: dash takes single-digit fds only.)

    with Browser() as browser:
        page = browser.open("http://127.0.0.1:8501/")
        page.evaluate("document.title")
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--remote-debugging-pipe")


LAUNCHER = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_pipe() -> tuple[int, int]:
    """`os.pipe()` with both ends moved to fds >= 10 (close-on-exec; `pass_fds` opens them to the child)."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


class Browser:
    def __init__(self, executable: str | None = None, timeout_s: float = 30.0):
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError("no chromium on PATH (scripts/install_chromium.sh installs it)")
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="bertkit-chromium-")
        self._log = tempfile.TemporaryFile()  # chromium's stderr, quoted if it dies
        to_browser_r, to_browser_w = _high_pipe()
        from_browser_r, from_browser_w = _high_pipe()
        # A tiny Python launcher puts the pipe ends on fds 3 and 4, where the protocol expects them
        # (the ends are above fd 9, so neither dup2 overwrites the other's source), then execs.
        self._proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(to_browser_r), str(from_browser_w), executable, *FLAGS,
             f"--user-data-dir={self._profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out = to_browser_w
        self._in = from_browser_r
        self._buffer = b""
        self._next_id = 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Sends one command and returns its result (events in between are dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._out, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(self._died()) from None
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._in], [], [], remaining)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError(self._died())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _died(self) -> str:
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace")[-2000:]
        return f"chromium exited (status {self._proc.poll()}); its stderr ends:\n{tail}"

    def open(self, url: str) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        page.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._out)
        os.close(self._in)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20.0):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still falsy after {timeout_s} s: {expression}")
            time.sleep(0.05)

    def type(self, text: str) -> None:
        """Types `text` key by key into the focused element, as a person would."""
        for ch in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "key": ch})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})

    def paste(self, text: str) -> None:
        """Inserts `text` at once into the focused element (like a paste)."""
        self.send("Input.insertText", {"text": text})

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element matching `selector`."""
        rect = f"document.querySelector({json.dumps(selector)})?.getBoundingClientRect()"
        box = self.wait_for(f"(r => r && r.width ? [r.x + r.width / 2, r.y + r.height / 2] : null)({rect})")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                    "clickCount": 1})

    def press(self, key: str, code: int, modifiers: int = 0) -> None:
        """A key press such as Enter (code 13) with modifiers (2 = Ctrl)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                  "windowsVirtualKeyCode": code, "modifiers": modifiers})
