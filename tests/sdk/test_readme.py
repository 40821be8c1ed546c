"""The README's Python examples run as written against a real server, in this suite's
virtual environment (made from requirements.txt alone, as a new user would)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT_KEY_ID, ROOT_KEY_SECRET

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert python_blocks(), "README.md has no ```python example"


def test_each_python_example_runs_as_written(server, v3):
    created = v3.call(
        "CreateDBInstance", RegionId="cn-hangzhou", Engine="PostgreSQL", EngineVersion="15.0",
        DBInstanceClass="pg.n2.small.1", DBInstanceStorage="20", DBInstanceNetType="Intranet",
        PayType="Postpaid", SecurityIPList="127.0.0.1",
    )
    env = dict(os.environ, OPENRDS_ENDPOINT=server.endpoint, OPENRDS_ACCESS_KEY_ID=ROOT_KEY_ID,
               OPENRDS_ACCESS_KEY_SECRET=ROOT_KEY_SECRET)
    for block in python_blocks():
        run = subprocess.run([sys.executable, "-c", block], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"README example failed:\n{block}\n--- stderr:\n{run.stderr}"
        # The example lists instances with the engine typed in lower case: the new one is
        # among them, answered with the canonical spelling.
        body = ast.literal_eval(run.stdout.strip().splitlines()[-1])
        items = body["Items"]["DBInstance"]
        mine = [i for i in items if i["DBInstanceId"] == created["DBInstanceId"]]
        assert mine and mine[0]["Engine"] == "PostgreSQL", body
