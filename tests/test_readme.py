"""The README's runnable code blocks (```sh and ```python; ```console blocks are illustrations) run as a
user would paste them, in order, in one empty folder, with the installed `bertkit` command."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.M | re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_code_blocks_run(tmp_path):
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert [kind for kind, _ in blocks] == ["sh", "python"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    port = str(free_port())
    outputs = []
    for kind, code in blocks:
        if kind == "sh":
            cmd = ["bash", "-euo", "pipefail", "-c", code.replace("8599", port)]
        else:
            cmd = [sys.executable, "-c", code]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs.append(proc.stdout)
    lines = outputs[0].splitlines()
    predicted = [json.loads(line) for line in lines if line.startswith('{"text"')]
    assert [p["text"] for p in predicted] == ["What a great movie", "Dull and far too long"]
    assert all(set(p["probabilities"]) == {"neg", "pos"} for p in predicted)
    served = json.loads(next(line for line in lines if line.startswith('{"predictions"')))
    assert served["predictions"][0]["label"] in ("neg", "pos")
    assert abs(served["predictions"][0]["probabilities"][1] - predicted[0]["probabilities"]["pos"]) < 1e-5
    assert "'label'" in outputs[1] and (tmp_path / "runs" / "first_py" / "model" / "bertkit.json").exists()
