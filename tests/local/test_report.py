"""The run report: every step and every gate on one static page that opens in headless Chromium cleanly."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipelines.report.local import write_report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def _chromium() -> str:
    """Debian's chromium, installed by this set-up when missing (root + apt), else a skip with the reason."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    install = subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, timeout=600, check=False
    )
    if install.returncode != 0:
        update = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=300, check=False)
        install = subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, timeout=600, check=False
        )
        if install.returncode != 0:
            reason = (install.stderr or update.stderr).strip().splitlines()[-1:] or ["unknown"]
            pytest.skip(f"chromium could not be installed: {reason[0]}")
    return shutil.which("chromium") or pytest.skip("chromium installed but not on PATH")


@pytest.fixture
def report_of_a_run(run_fake, tmp_path) -> tuple[Path, object]:
    run = run_fake(parameters={"MinModelAUC": "0.5"})
    path = write_report(Path(run.record.path))
    return path, run


def test_report_shows_every_step_every_gate_and_the_package(report_of_a_run):
    path, run = report_of_a_run
    html = path.read_text()
    parser = _Text()
    parser.feed(html)
    text = " ".join(parser.text)
    assert parser.scripts == 0  # static: opens from disk, nothing to execute
    for step in run.record.steps.values():
        assert f'data-step="{step.name}"' in html, step.name
    gates = [s for s in run.record.steps.values() if s.type == "Condition" and s.status == "Succeeded"]
    assert gates
    for gate in gates:
        assert f'data-gate="{gate.name}"' in html
    assert run.record.model_package_arn and run.record.model_package_arn in text
    assert "Pipeline Succeeded" in text
    assert "<svg" in html and 'aria-label="step graph"' in html


def test_report_of_a_failed_run_says_why(run_fake):
    run = run_fake(parameters={"MinModelAUC": "0.7"})  # the ceiling; the fake models stay below it
    html = write_report(Path(run.record.path)).read_text()
    assert "Pipeline Failed" in html
    assert 'class="banner bad"' in html
    assert "none registered" in html


@pytest.mark.slow
def test_report_opens_in_headless_chromium_without_console_errors(report_of_a_run, tmp_path):
    path, run = report_of_a_run
    chromium = _chromium()
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    dom = result.stdout
    assert re.search(r"Pipeline Succeeded", dom)
    for step in run.record.steps.values():
        assert f'data-step="{step.name}"' in dom, step.name
