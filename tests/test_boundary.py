"""The headless core and sources never pull in the terminal UI (DESIGN.md boundary)."""

from __future__ import annotations

import subprocess
import sys


def test_core_and_sources_do_not_import_textual() -> None:
    # rich is not checked here: httpx imports it for its own CLI when it is installed; the
    # import-linter contract in pyproject.toml checks that engmon itself never imports it.
    code = (
        "import sys, pkgutil, importlib\n"
        "UI = ('textual', 'textual_plotext', 'plotext')\n"
        "import engmon.core, engmon.sources\n"
        "for pkg in (engmon.core, engmon.sources):\n"
        "    for mod in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + mod.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in UI)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"headless modules imported: {out}"


def test_help_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from engmon.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
