"""The README runs as written: every command in its bash blocks, and its Python block, run in order
in a folder laid out as the README assumes, on tiny inputs made in code. A command marked with a
``# needs real weights`` comment line above it is not run; the two ``make`` lines are what CI and
``cocoedit demo`` run, and the ``pip install`` lines are what ``tests/test_packaging.py`` checks
(a wheel installed into a fresh environment). The only change to a command is the judge's address
(a scripted server on a free port stands in for ``http://127.0.0.1:8000/v1``). No command may print
a known third-party warning or progress bar (:data:`cocoedit.testing.output.THIRD_PARTY_NOISE`):
they appear only with ``cocoedit --verbose``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cocoedit.cli.quiet import QUIET_ENVIRONMENT
from cocoedit.testing.judge_server import ScriptedJudgeServer, ScriptedReply
from cocoedit.testing.output import third_party_noise
from cocoedit.testing.sample_data import make_sample_benchmark, make_sample_manifest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
JUDGE_URL = "http://127.0.0.1:8000/v1"
MARKER = "needs real weights"


def readme_commands(text: str) -> list[tuple[str, bool]]:
    """``(command, needs_real_weights)`` for every command of the README's bash blocks, in order;
    continuation lines joined, trailing comments dropped."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        marked = False
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.strip()
            if command.startswith("#"):
                marked = marked or MARKER in command
                continue
            if command:
                out.append((shlex.join(shlex.split(command, comments=True)), marked))
                marked = False
    return out


def readme_python(text: str) -> str:
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return code


def test_commands_are_found_and_marked_ones_name_why():
    commands = readme_commands(README)
    assert len(commands) > 15
    installs = {c for c, _ in commands if c.startswith("pip install ")}  # tests/test_packaging.py installs
    assert {"pip install .", "pip install -e '.[dev]'"} <= installs
    assert {c for c, _ in commands if not c.startswith(".venv/bin/cocoedit ")} - installs == {"make demo", "make test"}
    marked = [c for c, m in commands if m]
    assert marked and all(
        c.startswith((".venv/bin/cocoedit edit --model Qwen/", ".venv/bin/cocoedit train ")) for c in marked
    )


def _curation_and_benchmark_judge(body: dict, index: int) -> ScriptedReply:
    """One served MLLM for the README's `data build` and `eval judge`, answering by prompt."""
    content = body["messages"][-1]["content"]
    prompt = "".join(p["text"] for p in content if p["type"] == "text")
    if "bounding box" in prompt:
        return ScriptedReply(text=json.dumps({"boxes": [[250, 250, 700, 700]]}))
    if "Rewrite the instruction" in prompt:
        original = prompt.split("instruction:", 1)[1].strip().splitlines()[0].strip().strip('"')
        return ScriptedReply(text=json.dumps({"instruction": f"{original} in the middle of the picture"}))
    if "Instruction clarity" in prompt:
        return ScriptedReply(text="Instruction clarity: 5\nMask accuracy: 4\nTarget prominence: 4")
    return ScriptedReply(text='{"reasoning": "fine", "score": [7, 6]}')  # GEdit SC and PQ


def _lay_out_readme_inputs(work: Path) -> None:
    """The files the README's commands name, made small: benchmark and results, manifests, pairs."""
    (work / ".venv").symlink_to(Path(sys.prefix))
    made = make_sample_benchmark(work / "made", "gedit", per_category=1, size=(48, 64))
    shutil.move(made.bench_dir, work / "GEditBench_with_mask" / "geditbench")
    (work / "results").mkdir()
    shutil.move(made.results["drifting"], work / "results" / "base")
    shutil.move(made.results["careful"], work / "results" / "rl")
    make_sample_manifest(work / "data", samples=4)

    rng = np.random.default_rng(0)
    forty_k = work / "CoCoEdit-40K"
    for folder in ("images", "masks"):
        (forty_k / folder).mkdir(parents=True)
    rows, table = [], {"input_image": [], "output_image": [], "instruction": []}
    for i in range(3):
        source = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        keep = np.full((48, 64), 255, np.uint8)
        keep[10:30, 20:44] = 0  # white = keep in the CoCoEdit-40K release
        Image.fromarray(source).save(forty_k / "images" / f"{i}.png")
        Image.fromarray(keep).save(forty_k / "masks" / f"{i}.png")
        rows.append({"prompt": "make the patch red", "image": f"images/{i}.png", "mask": f"masks/{i}.png"})
        edited = source.copy()
        edited[12:36, 16:48] = (220, 30, 30)
        for column, array in (("input_image", source), ("output_image", edited)):
            path = work / "pair-images" / f"{column}-{i}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(array).save(path)
            table[column].append(str(path))
        table["instruction"].append("make the middle patch red")
    (forty_k / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.table(table), work / "pairs.parquet")

    sample = sorted((work / "GEditBench_with_mask" / "geditbench").rglob("*_mask.png"))[0]
    shutil.copy(sample, work / "mask.png")
    shutil.copy(sample.with_name(sample.name.replace("_mask", "")), work / "src.png")
    result = next((work / "results" / "rl").rglob(sample.name.replace("_mask", "")))
    shutil.copy(result, work / "out.png")


def _serve_until_up(command: list[str], work: Path, env: dict, url: str) -> str:
    """Run a command that serves until stopped: wait for its page, then stop it as Ctrl-C does;
    returns what it printed."""
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{command} exited: {process.stdout.read()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, f"{command} never answered at {url}"
                time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    return process.stdout.read()


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    _lay_out_readme_inputs(work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    for key in ("OPENAI_API_KEY", *QUIET_ENVIRONMENT):  # the commands must quiet the libraries themselves
        env.pop(key, None)
    ran, noise = [], []
    with ScriptedJudgeServer(_curation_and_benchmark_judge, model="Qwen/Qwen2.5-VL-72B-Instruct") as judge:
        for command, needs_weights in readme_commands(README):
            if needs_weights or command.startswith(("make ", "pip install ")):
                continue
            argv = shlex.split(command.replace(JUDGE_URL, judge.base_url))
            if argv[1:3] == ["rate", "serve"]:
                printed = _serve_until_up(argv, work, env, "http://127.0.0.1:8765/")
            else:
                done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                printed = done.stdout + done.stderr
            noise += [f"{command}: {line}" for line in third_party_noise(printed)]
            ran.append(argv[1])
    assert len(ran) >= 16
    assert noise == [], "\n".join(noise)

    # What the commands say they write is there.
    for path in (
        "eval/gedit/report.html",
        "eval/gedit/judge_summary.json",
        "data/curated/stats.html",
        "view/gedit/index.html",
        "ratings.sqlite",
        "runs/tiny/metrics.jsonl",
        "edited.png",
        "models/pixel-editor/model_index.json",
        "data/sample-bench/bench/metafile_imgeditbench.json",
    ):
        assert (work / path).exists(), path
    judged = json.loads((work / "eval/gedit/judge_summary.json").read_text())["results"]["rl"]["counts"]
    assert judged["scored"] == judged["samples"] == 3

    code = readme_python(README) + "\nprint(float(m.psnr[0]), float(m.ssim[0]))"
    python = subprocess.run(
        [str(work / ".venv/bin/python"), "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert python.returncode == 0, python.stderr
    psnr, ssim = map(float, python.stdout.split())
    assert psnr > 40 and ssim > 0.99  # the careful editor left the keep region exactly as it was
