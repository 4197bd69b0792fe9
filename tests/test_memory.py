"""The malloc settings (xai_report/memory.py): set on glibc Linux unless the user set their own or opted out."""

from __future__ import annotations

import platform
import sys

import pytest

from xai_report import memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_settings_are_wanted_on_glibc_unless_set_or_opted_out():
    assert memory.wanted({"PATH": "/bin"}) == memory.SETTINGS
    assert memory.wanted({"MALLOC_TOP_PAD_": "0"}) == {}  # the user's own choice is kept
    assert memory.wanted({memory.OPT_OUT: "1"}) == {}


def test_the_values_keep_freed_memory():
    values = {k: int(v) for k, v in memory.SETTINGS.items()}
    assert values["MALLOC_MMAP_THRESHOLD_"] >= 1 << 30 and values["MALLOC_TRIM_THRESHOLD_"] >= 1 << 32
    assert values["MALLOC_TOP_PAD_"] >= 1 << 28


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
@pytest.mark.parametrize("command", [["-m", "xai_report.cli"], ["-c", "from xai_report.cli import entry; entry()"]],
                         ids=["python -m", "console script"])
def test_the_cli_restarts_itself_with_the_settings(command):
    """Started without the settings, the CLI restarts once with them (as ``python -m xai_report.cli``, whichever
    way it was started) and runs: restarted as ``python -m __main__`` it failed before it began."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in memory.SETTINGS and k != memory.OPT_OUT}
    done = subprocess.run([sys.executable, *command, "--version"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("xai-report "), done.stderr
