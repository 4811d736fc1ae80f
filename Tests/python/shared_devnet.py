"""One test devnet for every python test module that talks to the network through `gonka proxy`
(test_openai_proxy.py, test_sdk_compat.py): started by the first module that asks (`proxy()`),
brought down by the last of them (`down()`, test_sdk_compat.py) or when the test process exits, so
a run of the suite pays for one `gonka devnet up`.
"""

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import unittest

_state = {}


def model_path():
    explicit = os.environ.get("GONKA_MODEL")
    if explicit:
        return explicit
    return os.path.expanduser("~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def binary_or_skip():
    """The gonka binary ($GONKA_BIN); skips the calling test (unittest.SkipTest) when it or the
    model file is missing."""
    binary = os.environ.get("GONKA_BIN")
    if not binary or not os.access(binary, os.X_OK):
        raise unittest.SkipTest("GONKA_BIN does not name the built gonka binary")
    if not os.path.exists(model_path()):
        raise unittest.SkipTest("no model at " + model_path())
    return binary


def manifest():
    """The shared devnet's `devnet.json` (nodes with their homes, RPC and admin ports), and the gonka
    binary; starts the devnet first when no module has."""
    import json
    proxy()
    with open(os.path.join(_state["directory"], "devnet", "devnet.json")) as f:
        return json.load(f), _state["binary"]


def down():
    """Stops the shared devnet now (a later `proxy()` starts a new one)."""
    _down()


def _down():
    directory = _state.get("directory")
    if directory:
        devnet = os.path.join(directory, "devnet")
        if os.path.exists(os.path.join(devnet, "devnet.json")):
            subprocess.run([_state["binary"], "devnet", "down", "--dir", devnet], capture_output=True, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)
        _state.clear()


def proxy():
    """The proxy's OpenAI base URL (`http://127.0.0.1:PORT/v1`) of the shared devnet; raises
    unittest.SkipTest without a gonka binary or model, AssertionError when the devnet fails."""
    if "url" in _state:
        return _state["url"]
    if "failure" in _state:
        raise AssertionError(_state["failure"])
    binary = binary_or_skip()
    _state["binary"] = binary
    _state["directory"] = tempfile.mkdtemp(prefix="gonka-proxy-test-")
    atexit.register(_down)
    devnet = os.path.join(_state["directory"], "devnet")
    try:
        out = subprocess.run(
            [binary, "devnet", "up", "--dir", devnet, "--participants", "2", "--model", model_path()],
            capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as error:
        _state["failure"] = "devnet up timed out: %s" % error
        raise AssertionError(_state["failure"])
    if out.returncode != 0:
        _state["failure"] = "devnet up failed:\n" + out.stdout + out.stderr
        raise AssertionError(_state["failure"])
    match = re.search(r"^\s+(http://127\.0\.0\.1:\d+/v1)\s*$", out.stdout, re.MULTILINE)
    if not match:
        _state["failure"] = "no proxy URL in:\n" + out.stdout
        raise AssertionError(_state["failure"])
    _state["url"] = match.group(1)
    return _state["url"]
