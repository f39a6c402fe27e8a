import subprocess
import sys

from project import ROOT


def test_backend_help_runs_from_repository_root():
    proc = subprocess.run([sys.executable, "-m", "backend", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m backend" in proc.stdout


def test_unknown_command_fails_with_usage():
    proc = subprocess.run([sys.executable, "-m", "backend", "no-such-command"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
