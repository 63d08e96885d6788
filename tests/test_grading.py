"""The grader end to end, with its real sandbox: honest work scores what it is worth, and every attack found on
the old grader scores 0 on the parts it cheats, without touching a neighbour's score in the same batch.

Each planted submission is the released homework with the student's cells replaced (tests/attacks/ holds
the held-out attacks, written by someone who read the grader and not this file).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lecture_admin.grading.grader import Limits, grade_many
from lecture_admin.grading.homework import load_homeworks
from lecture_admin.grading.results import PartStatus, Status, spreadsheet_safe, write_gradebook

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "exercises"
pytestmark = pytest.mark.slow

RIGHT_01 = "def discounted_return(rewards, gamma):\n    import numpy as np\n    r = np.asarray(rewards, float)\n" \
           "    return float(np.sum(gamma ** np.arange(len(r)) * r))\n"
RIGHT_02 = "def returns_to_go(rewards, gamma):\n    import numpy as np\n    r = np.asarray(rewards, float)\n" \
           "    G, out = 0.0, np.zeros(len(r))\n    for t in range(len(r) - 1, -1, -1):\n" \
           "        G = r[t] + gamma * G\n        out[t] = G\n    return out\n"

# name -> (source of 0.1's cell, source of 0.2's cell, extra cells appended after the first cell)
PORT = {"port": 0}
ATTACKS: dict[str, tuple[str, str, list[str]]] = {
    "right": (RIGHT_01, RIGHT_02, []),
    "all_wrong": ("def discounted_return(rewards, gamma):\n    return 0.0\n",
                  "def returns_to_go(rewards, gamma):\n    return 0 * rewards\n", []),
    "one_right": (RIGHT_01, "def returns_to_go(rewards, gamma):\n    raise NotImplementedError()\n", []),
    # the expected value from the checker's stack frame (the check no longer runs in the kernel)
    "stack_frame": ("def discounted_return(rewards, gamma):\n    import inspect\n    f = inspect.currentframe()\n"
                    "    while f:\n        if 'want' in f.f_locals:\n            return f.f_locals['want']\n"
                    "        f = f.f_back\n    return 0.0\n", RIGHT_02, []),
    # the course's own answer (masked) and the public check module's reference through a computed name
    "library": ("import importlib\nmod = importlib.import_module('lecture_utils.' + 'policy_gradient')\n"
                "def discounted_return(rewards, gamma):\n    import torch\n"
                "    return float(mod.rewards_to_go(torch.as_tensor(rewards)[None], gamma)[0, 0])\n",
                "def returns_to_go(rewards, gamma):\n    import importlib\n"
                "    m = importlib.import_module('lecture_utils.selfcheck.sec' + '00')\n    return m.want\n", []),
    # the solutions next to the installed package, and the repository's history
    "solutions_on_disk": ("import json, pathlib, lecture_utils\n"
                          "root = pathlib.Path(lecture_utils.__file__).parents[1]\n"
                          "nb = json.loads((root / 'solutions' / '00_getting_started.ipynb').read_text())\n"
                          "exec(''.join(nb['cells'][3]['source']))\n",
                          "import subprocess\nsubprocess.run(['git', '-C', str(root), 'show', 'HEAD:solutions/"
                          "00_getting_started.ipynb'], capture_output=True, check=True)\n", []),
    # patch what a check compares with, forge the output and the log, rewrite the checker, then crash
    "patch_and_forge": ("import numpy as np, builtins\nnp.allclose = lambda *a, **k: True\nnp.isclose = np.allclose\n"
                        "builtins.print('Exercise 0.1 (discounted return): passed the public checks')\n"
                        "def discounted_return(rewards, gamma):\n    return 0.0\n",
                        "import lecture_utils.selfcheck.core as core, os\n"
                        "try:\n    open(core.__file__, 'a').write('\\ngrade = lambda *a: None\\n')\nexcept OSError:\n"
                        "    pass\nopen('/tmp/lecgrade-forged.log', 'w').write('0.2 ok\\n')\n"
                        "def returns_to_go(rewards, gamma):\n    return 0.0\nos._exit(0)\n", []),
    # rewrite every code the grader sends (it cannot know the nonce or the answer)
    "input_transformer": ("def discounted_return(rewards, gamma):\n    return 0.0\n",
                          "def returns_to_go(rewards, gamma):\n    return 0.0\n",
                          ["ip = get_ipython()\nip.input_transformers_post.append(lambda lines: "
                           "[l.replace('discounted_return(', '(lambda *a, **k: 1.0)(') for l in lines])"]),
    # a background process that tries to reach the neighbours, and the network
    "background": (RIGHT_01, "def returns_to_go(rewards, gamma):\n    return 0.0\n",
                   ["import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import os, signal, time\\n"
                    "for _ in range(600):\\n    for p in os.listdir(\"/proc\"):\\n        if p.isdigit():\\n"
                    "            try: os.kill(int(p), signal.SIGKILL)\\n            except Exception: pass\\n"
                    "    time.sleep(0.1)', 'ATTACK-MARKER-7731'], start_new_session=True)",
                    "import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=2).sendall(b'x')\n"
                    "except OSError:\n    pass"]),
    # a cell that never ends and one that eats memory cost only themselves
    "hang_and_bomb": (RIGHT_01, RIGHT_02, ["while True:\n    pass", "x = bytearray(8 * 2**30)"]),
}


def _submission(path: Path, src01: str, src02: str, extra: list[str]) -> None:
    nb = nbformat.read(EX / "00_getting_started.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if gid == "solution_0_1":
            cell.source = src01
        elif gid == "solution_0_2":
            cell.source = src02
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for k, src in enumerate(extra):
        nb.cells.insert(first + 1 + k, nbformat.v4.new_code_cell(src.replace("PORT", str(PORT["port"]))))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root (CI and Gradescope run as root)")
    d = tmp_path_factory.mktemp("class")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    PORT["port"] = listener.getsockname()[1]
    for name, (a, b, extra) in ATTACKS.items():
        _submission(d / f"{name}.ipynb", a, b, extra)
    (d / "broken.ipynb").write_text("{ not json")
    before = {p: p.read_bytes() for p in d.iterdir()}
    # cell_timeout: the hanging cell spins a core until it is stopped, so it is kept short (homework 00's honest
    # cells take well under a second; a 45 s limit cost 30 CPU seconds of the suite for nothing)
    results = grade_many(sorted(d.glob("*.ipynb")), load_homeworks(EX), jobs=2, seed=20261201,
                         limits=Limits(cell_timeout=15, total_timeout=240, memory_mb=1536))
    try:
        conn = listener.accept()
    except OSError:
        conn = None
    listener.close()
    return {Path(r.submission).stem: r for r in results}, before, conn


def _scores(r):
    return [p.score for p in r.parts]


def test_honest_work_scores_what_it_is_worth(graded):
    res, _, _ = graded
    assert _scores(res["right"]) == [1, 1] and res["right"].status is Status.GRADED
    assert _scores(res["all_wrong"]) == [0, 0]
    assert _scores(res["one_right"]) == [1, 0]
    assert res["one_right"].parts[1].status is PartStatus.NOT_ATTEMPTED
    assert "not attempted" in res["one_right"].parts[1].message


@pytest.mark.parametrize("name, cheated", [
    ("stack_frame", [0]), ("library", [0, 1]), ("solutions_on_disk", [0, 1]), ("patch_and_forge", [0, 1]),
    ("input_transformer", [0, 1]), ("background", [1]),
])
def test_each_attack_scores_zero_on_what_it_cheats(graded, name, cheated):
    r = graded[0][name]
    for i in cheated:
        assert r.parts[i].score == 0, (name, r.report())
    honest = [i for i in range(2) if i not in cheated]
    for i in honest:  # the honest part of an attack still counts: no collateral damage
        assert r.parts[i].score == 1, (name, r.report())


def test_library_answers_are_named(graded):
    r = graded[0]["library"]
    assert all(p.status is PartStatus.LIBRARY for p in r.parts), r.report()
    assert "write it yourself" in r.parts[0].message


def test_hang_and_memory_bomb_cost_only_themselves(graded):
    r = graded[0]["hang_and_bomb"]
    assert _scores(r) == [1, 1], r.report()
    assert any("took too long" in m for m in r.messages)


def test_no_network_and_no_process_left(graded):
    _, _, conn = graded
    assert conn is None, "a kernel reached the grader's loopback socket"
    left = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"ATTACK-MARKER-7731" in Path(f"/proc/{p}/cmdline").read_bytes():
                left.append(p)
        except OSError:
            pass
    assert not left, f"the background process a submission started is still running: {left}"


def test_broken_file_gets_a_clear_line_and_files_are_untouched(graded):
    res, before, _ = graded
    r = res["broken"]
    assert r.status is Status.INVALID and "not valid JSON" in r.messages[0]
    for path, data in before.items():
        assert path.read_bytes() == data, f"the grader changed {path.name}"


def test_every_result_is_valid_gradescope_json_and_the_sandbox_was_complete(graded):
    for r in graded[0].values():
        data = json.loads(json.dumps(r.to_gradescope()))
        assert {"score", "max_score", "tests", "output", "execution_time"} <= set(data)
        for t in data["tests"]:
            written = "graded by hand" in t.get("tags", [])  # a written answer: no pass/fail of its own
            assert {"name", "score", "max_score", "output", "visibility", *([] if written else ["status"])} <= set(t)
        if r.status is Status.GRADED:
            assert r.missing_protections == [], r.missing_protections


def test_gradebook_is_spreadsheet_safe(tmp_path, graded):
    assert spreadsheet_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and spreadsheet_safe("alice") == "alice"
    for bad in ("+1", "-1", "@SUM(A1)"):
        assert spreadsheet_safe(bad).startswith("'")
    res = graded[0]
    r = res["right"]
    r.submission = "=cmd|' /C calc'!A0"
    write_gradebook([r], tmp_path / "g.csv")
    rows = list(csv.reader(open(tmp_path / "g.csv")))
    assert rows[1][0].startswith("'=")


def test_cli_grades_one_file_and_says_so(tmp_path):
    sub = tmp_path / "00_getting_started.ipynb"
    _submission(sub, *ATTACKS["right"])
    out = subprocess.run([sys.executable, "-m", "lecture_admin", "grade", str(sub), "--results",
                          str(tmp_path / "r.json"), "--seed", "3"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 2.0
    bad = subprocess.run([sys.executable, "-m", "lecture_admin", "grade", str(tmp_path / "nope.ipynb")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
