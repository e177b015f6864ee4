"""Headless Chromium (Debian's chromium and chromium-driver, driven by
python3-selenium) looking at a page that `ppagent flame` wrote.

The page keeps what it shows in window.ppagentFlame: `drawn` is the list of
frames on the canvas (name, x, w, depth, matched, inlined; x and w in CSS
pixels), the same list its hover and click are resolved against.
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 760

STATE_JS = """
const v = window.ppagentFlame;
return {ready: v.ready, error: v.error, firstRenderMs: v.firstRenderMs, zoom: v.zoom,
        type: v.type, total: v.total, width: v.width, matchShare: v.matchShare,
        nodeCount: v.nodeCount,
        drawn: v.drawn.map(r => ({node: r.node, name: r.name, x: r.x, w: r.w, depth: r.depth,
                                  y: r.y, matched: r.matched, inlined: r.inlined,
                                  ancestor: r.ancestor}))};
"""


class FlameBrowser:
    def __init__(self):
        self.profile_dir = tempfile.mkdtemp(prefix="ppagent-chromium-")
        options = Options()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
                    f"--user-data-dir={self.profile_dir}", "--no-first-run",
                    "--disable-background-networking", "--disable-extensions"):
            options.add_argument(arg)
        # The DevTools Network events of the page: every request it makes.
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def close(self):
        self.driver.quit()
        shutil.rmtree(self.profile_dir, ignore_errors=True)

    def open(self, page, timeout=120):
        """Loads `page` (a path) and waits until it has drawn or failed."""
        self.driver.get_log("performance")  # drop what came before
        self.url = Path(page).resolve().as_uri()
        self.driver.get(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.driver.execute_script(
                "const v = window.ppagentFlame; return v ? [v.ready, v.error] : [false, null];")
            if state[0] or state[1]:
                break
            time.sleep(0.05)
        state = self.state()
        assert state["error"] is None, f"{page}: the page failed: {state['error']}"
        assert state["ready"], f"{page}: not drawn within {timeout} s"
        return state

    def state(self):
        return self.driver.execute_script(STATE_JS)

    def canvas(self):
        return self.driver.find_element(By.ID, "flame")

    def _at(self, frame):
        """ActionChains positioned at the middle of a drawn frame (selenium's
        offsets are from the element's centre)."""
        canvas = self.canvas()
        size = canvas.size
        dx = frame["x"] + frame["w"] / 2 - size["width"] / 2
        dy = frame["y"] + 8 - size["height"] / 2
        return ActionChains(self.driver).move_to_element_with_offset(canvas, int(dx), int(dy))

    def hover(self, frame):
        self._at(frame).perform()
        tooltip = self.driver.find_element(By.ID, "tooltip")
        return tooltip.text if tooltip.is_displayed() else None

    def click(self, frame):
        self._at(frame).click().perform()

    def press_escape(self):
        ActionChains(self.driver).send_keys(Keys.ESCAPE).perform()

    def search(self, text):
        box = self.driver.find_element(By.ID, "search")
        # Typed, as a person would (clear() fires no input event).
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        if text:
            box.send_keys(text)
        return self.driver.find_element(By.ID, "match").text

    def choose_type(self, index):
        self.driver.execute_script(
            "const s = document.getElementById('sample-type'); s.value = String(arguments[0]);"
            "s.dispatchEvent(new Event('change'));", index)
        return self.state()

    def type_names(self):
        return self.driver.execute_script(
            "return [...document.getElementById('sample-type').options].map(o => o.textContent);")

    def pixel(self, x, y):
        """The canvas's colour at CSS pixel (x, y), as [r, g, b, a]."""
        return self.driver.execute_script(
            "const c = document.getElementById('flame'); const r = window.devicePixelRatio || 1;"
            "return Array.from(c.getContext('2d').getImageData("
            "Math.floor(arguments[0] * r), Math.floor(arguments[1] * r), 1, 1).data);", x, y)

    def network_requests(self):
        """URLs of the requests the page made since open(), from DevTools' log."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def resource_entries(self):
        """What the Resource Timing API saw the page load besides itself."""
        return self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);")

    def screenshot(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path
