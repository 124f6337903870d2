"""The course's website (`make site`, medlab.site), built from a small run and opened in a browser.

A scratch course of two notebooks runs through the course's runner (as `make course` runs the
real one), then the site is built from its executed copies with the course's README, solutions
and data cards. Every link inside the site must lead to a page or file of it; headless Chromium
(as tests/test_jupyterlab.py uses it) opens the course map, a notebook's page and the README
from a local file server in an 800-pixel window: every figure must have loaded, no request
leave the machine, and no page be wider than the window (wide tables scroll in their column).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
FIGURE = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()"
WIDE_TABLE = "import pandas as pd\npd.DataFrame([[f'wider_than_any_window_{k}' * 2 for k in range(12)]])"
RECORDS = "from medlab.runlog import start_notebook\nrun = start_notebook(NAME, PROFILE, seed=SEED)\nrun.record(rows=3)"
BADGE = ('<a href="https://colab.research.google.com/github/x/y/blob/main/notebooks/00_first.ipynb">'
         '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>')


def write_notebook(path: Path, name: str, markdown: str, *code: str) -> None:
    cells = [nbformat.v4.new_code_cell(f"PROFILE = 'tiny'\nSEED = 0\nNAME = '{name}'"),
             nbformat.v4.new_markdown_cell(markdown), *map(nbformat.v4.new_code_cell, code)]
    cells[0].metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site of a two-notebook run: its folder."""
    from medlab import site as builder
    from medlab.runner import run_course

    home = tmp_path_factory.mktemp("course")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLAB_HOME", str(home))
        folder = home / "notebooks"
        folder.mkdir()
        write_notebook(folder / "00_first.ipynb", "00_first", f"# 00 · First\n\n{BADGE}\n\nThen [the second]"
                       "(01_second.ipynb) and the [solutions](SOLUTIONS.md).", RECORDS, FIGURE,
                       WIDE_TABLE)
        write_notebook(folder / "01_second.ipynb", "01_second", "# 01 · Second\n\nBack to [the first](00_first.ipynb).",
                       RECORDS)
        assert run_course("tiny", seed=0, folder=folder) == 0
        index = builder.build("tiny")
    return index.parent


def test_every_page_names_the_run_it_shows(site):
    summary = json.loads((site.parent / "summary.json").read_text())
    line = f"This page shows the `tiny` run of commit {summary['commit']}, on {summary['machine']}"
    for page in site.rglob("*.html"):
        assert line in page.read_text().replace("&#39;", "'"), page.relative_to(site)  # in the sidebar
    code = '<code class="docutils literal notranslate"><span class="pre">tiny</span></code>'
    shown = f"This page shows the {code} run of commit {summary['commit']}"
    for page in ("index.html", "notebooks/00_first.html", "notebooks/01_second.html"):
        assert shown in (site / page).read_text(), page  # and at the top of the page


def test_the_course_map_lists_each_notebook_with_its_time_and_needs(site):
    text = (site / "index.html").read_text()
    for name in ("00_first", "01_second"):
        assert f'href="notebooks/{name}.html"' in text
    assert "seconds in this run" in text and "T4 hours, at most" in text and "needs first" in text


class Links(HTMLParser):
    """Every link and source on a page."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for key, value in attrs if key in ("href", "src") and value]


def test_no_link_inside_the_site_is_broken(site):
    broken = []
    for page in site.rglob("*.html"):
        parser = Links()
        parser.feed(page.read_text())
        for link in parser.found:
            target = urlparse(link)
            if target.scheme or target.netloc or link.startswith(("#", "mailto:")):
                continue  # a page outside the site (Colab, the Hub), or a place on this page
            if not (page.parent / target.path).resolve().exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert not broken, broken[:10]
    pages = {page.relative_to(site).as_posix() for page in site.rglob("*.html")}
    assert {"index.html", "README.html", "notebooks/00_first.html", "notebooks/SOLUTIONS.html"} <= pages


class Anchors(HTMLParser):
    """Every link on a page with its words, and every id a link can lead to."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.open = [], set(), None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.add(attrs.get("id"))
        if tag == "a" and attrs.get("href"):
            self.open = [attrs["href"], ""]

    def handle_data(self, data):
        if self.open:
            self.open[1] += data

    def handle_endtag(self, tag):
        if tag == "a" and self.open:
            self.links.append((self.open[0], " ".join(self.open[1].split())))
            self.open = None


def test_the_readmes_links_to_its_own_sections_lead_to_them_on_the_site(site):
    """GitHub's anchors drop a heading's dots ("The llama.cpp build": #the-llamacpp-build); a
    link the site cannot resolve is shown as plain words, so each must be a link to an id."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    wanted = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", readme)
    assert wanted, "the README links to its own sections"
    page = Anchors()
    page.feed((site / "README.html").read_text())
    for words, _ in wanted:
        words = " ".join(re.sub(r"[`*]", "", words).split())
        targets = [href for href, text in page.links if text == words and href.startswith("#")]
        assert targets, f"the README's link {words!r} is not a link on the site"
        assert all(href[1:] in page.ids for href in targets), (words, targets)


def test_no_page_loads_anything_from_outside_the_site(site):
    """Links may lead out (Colab, the Hub); images, scripts and styles must not come from outside."""
    outside = []
    for page in site.rglob("*.html"):
        text = page.read_text()
        outside += re.findall(r'<(?:img|script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
    assert not outside, outside[:5]


# ---- in a browser ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(site):
    """The site on a local file server: its address."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


async def visit(debugger: str, urls: list[str]) -> dict[str, dict]:
    """Open each of `urls` in the page at `debugger` (Chrome's DevTools protocol); for each, the
    requests it made and its images' natural widths."""
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(debugger, max_message_size=64 * 2**20)
    counter = iter(range(1, 10**6))

    async def call(method: str, params: dict | None = None, until: str | None = None, seen: list | None = None):
        ident = next(counter)
        connection.write_message(json.dumps({"id": ident, "method": method, "params": params or {}}))
        result, waiting = None, until
        while result is None or waiting:
            message = json.loads(await asyncio.wait_for(connection.read_message(), 60))
            if message.get("method") == "Network.requestWillBeSent" and seen is not None:
                seen.append(message["params"]["request"]["url"])
            if message.get("method") == until:
                waiting = None
            if message.get("id") == ident:
                result = message.get("result", {})
        return result

    await call("Network.enable")
    await call("Page.enable")
    found = {}
    for url in urls:
        requests = []
        await call("Page.navigate", {"url": url}, until="Page.loadEventFired", seen=requests)
        images = await call("Runtime.evaluate", {"returnByValue": True, "expression":
                            "JSON.stringify(Array.from(document.images).map(i => [i.src, i.naturalWidth]))"})
        widths = await call("Runtime.evaluate", {"returnByValue": True, "expression":
                            "[document.documentElement.scrollWidth, window.innerWidth]"})
        found[url] = {"requests": requests, "images": json.loads(images["result"]["value"]),
                      "widths": widths["result"]["value"]}
    connection.close()
    return found


def living_members(group: int) -> list[int]:
    """The processes of a process group that have not exited (zombies, which write nothing, left out)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except OSError:  # it exited while we looked
            continue
        if int(pgrp) == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def stop_group(process: subprocess.Popen, seconds: float = 30) -> None:
    """Stop a process started in its own session and every process it started, and wait for all.

    Chromium's main process exits on SIGTERM before its helpers (the storage service among them)
    have finished writing into the profile folder: removing the folder then failed once under
    load with "Directory not empty". So the whole group is stopped, and killed if it lingers.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.time() + seconds
    while (process.poll() is None or living_members(process.pid)) and time.time() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=seconds)


@contextlib.contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen]:
    """A browser for the length of a with block; when it ends, no process of it is left."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


LINGERING_HELPER = """
import os, pathlib, signal, sys, time
profile = pathlib.Path(sys.argv[1])
if os.fork() == 0:  # a helper that takes a while to finish writing after SIGTERM
    def finish(*_):
        time.sleep(1)
        (profile / "written late").write_text("x")
        os._exit(0)
    signal.signal(signal.SIGTERM, finish)
    (profile / "ready").write_text("")
    while True:
        time.sleep(0.1)
signal.pause()  # the main process: SIGTERM ends it at once
"""


def test_when_the_browser_is_stopped_none_of_its_helpers_is_still_writing_into_its_profile(tmp_path):
    with running([sys.executable, "-c", LINGERING_HELPER, str(tmp_path)]) as process:
        deadline = time.time() + 30
        while not (tmp_path / "ready").exists() and time.time() < deadline:
            time.sleep(0.05)
    assert (tmp_path / "written late").exists(), "returned while a helper was still writing"
    assert living_members(process.pid) == []


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to open the site in: apt-get install chromium "
                                             "(.ci/run installs it)")
def test_in_a_browser_the_pages_load_their_figures_fetch_nothing_from_outside_and_fit_the_window(served):
    port = free_port()
    with tempfile.TemporaryDirectory() as profile_dir, \
            running([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--window-size=800,600", f"--remote-debugging-port={port}", f"--user-data-dir={profile_dir}",
                     "about:blank"]):
        deadline, pages = time.time() + 60, None
        while pages is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                    pages = [t for t in json.load(answer) if t["type"] == "page"]
            except OSError:
                time.sleep(0.5)
        assert pages, "Chromium's DevTools did not answer"
        urls = [served, urljoin(served, "notebooks/00_first.html"), urljoin(served, "README.html")]
        found = asyncio.run(visit(pages[0]["webSocketDebuggerUrl"], urls))
    for url, seen in found.items():
        assert all(request.startswith((served, "data:")) for request in seen["requests"]), seen["requests"]
        assert seen["requests"], f"{url}: no request recorded"
        page_width, window_width = seen["widths"]  # a wide table scrolls in its column; the page does not
        assert page_width <= window_width, f"{url}: {page_width} pixels wide in a window of {window_width}"
    figures = found[urls[1]]["images"]
    assert figures and all(width > 0 for _, width in figures), figures  # the notebook's plot, drawn
