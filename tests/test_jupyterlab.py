"""The course opened as a person would: JupyterLab from the course's environment, checked
through its REST API, and the first notebook opened in a real (headless) browser.

The server listens on a loopback port with a token, and the fixture stops it."""

import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
VENV = Path(sys.prefix)
JUPYTER = Path(sys.executable).parent / "jupyter"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: its address, token and REST calls."""

    def __init__(self, port: int, token: str):
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def url(self, path: str) -> str:
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"

    def call(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url(path), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("jupyter")
    port, token = free_port(), secrets.token_hex(16)
    # A scratch config and runtime folder: nothing of the user's own Jupyter setup leaks in.
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(scratch / "config"), "JUPYTER_RUNTIME_DIR": str(scratch / "run")}
    log = (scratch / "lab.log").open("w")
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # containers and CI often run as root
        stdout=log, stderr=subprocess.STDOUT, env=env)
    running = Lab(port, token)
    try:
        wait_until_up(running, server, scratch / "lab.log")
        yield running
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def wait_until_up(lab: Lab, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            lab.call("/api/status")
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {seconds} s:\n{log.read_text()[-2000:]}")


def test_the_course_notebooks_are_listed(lab):
    listed = {item["name"] for item in lab.call("/api/contents")["content"]}
    assert NOTEBOOKS and set(NOTEBOOKS) <= listed


def test_the_kernel_is_the_course_environment(lab):
    specs = lab.call("/api/kernelspecs")
    spec = specs["kernelspecs"][specs["default"]]["spec"]
    assert spec["display_name"] == "Python 3 (medlab)"
    assert Path(spec["argv"][0]).is_relative_to(VENV)  # the venv's python, not a symlink's target


def test_a_kernel_starts_and_imports_the_course(lab):
    kernel = lab.call("/api/kernels", "POST", {"name": "python3"})
    try:
        out = asyncio.run(execute(lab, kernel["id"], "import medlab, sys; print(medlab.__file__); print(sys.prefix)"))
    finally:
        lab.call(f"/api/kernels/{kernel['id']}", "DELETE")
    package, prefix = out.split()
    assert Path(package).resolve() == (ROOT / "medlab" / "__init__.py").resolve()
    assert Path(prefix).resolve() == VENV.resolve()


async def execute(lab: Lab, kernel_id: str, code: str, seconds: float = 60) -> str:
    """Run `code` in a kernel over the server's websocket, as JupyterLab does; its printed output."""
    from tornado.websocket import websocket_connect

    url = lab.url(f"/api/kernels/{kernel_id}/channels").replace("http://", "ws://")
    connection = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
              "date": "", "version": "5.3"}
    connection.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
                                         "content": {"code": code, "silent": False, "store_history": False,
                                                     "user_expressions": {}, "allow_stdin": False}}))
    output, deadline = "", time.time() + seconds
    try:
        while True:
            message = json.loads(await asyncio.wait_for(connection.read_message(), deadline - time.time()))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output += content["text"]
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return output
    finally:
        connection.close()


def test_progress_bars_render_as_widgets():
    """tqdm shows a bar, not text, when JupyterLab has the widget manager."""
    listed = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=60)
    lines = (listed.stdout + listed.stderr).splitlines()
    assert any("@jupyter-widgets/jupyterlab-manager" in line and "enabled" in line for line in lines), lines


def chromium(*args: str, seconds: float = 120) -> str:
    with_profile = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={Path(tempfile.gettempdir()) / 'medlab-chromium'}", "--virtual-time-budget=20000"]
    return subprocess.run([*with_profile, *args], capture_output=True, text=True, timeout=seconds).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to open the notebook in: apt-get install chromium "
                                             "(.ci/run installs it)")
def test_the_first_notebook_opens_in_a_browser(lab):
    page = lab.url("/lab/tree/00_setup.ipynb")
    dom = chromium("--dump-dom", page)
    assert "00 · Setup" in dom, "the notebook's title cell is not on the page"
    dialogs = re.findall(r'<div[^>]*class="[^"]*\bjp-Dialog\b[^"]*"[^>]*>.{0,300}', dom, re.S)
    assert not dialogs, f"JupyterLab shows a dialog: {dialogs[0]}"
    shot = ROOT / "runs" / "lab" / "00_setup.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1400,1000", page)
    assert shot.exists() and shot.stat().st_size > 20_000, "no screenshot of the open notebook"
