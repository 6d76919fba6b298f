"""Run every benchmark module under bench/ that defines `main()`, in name order."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def run_all(selected: list[str]) -> int:
    """Import each bench module and call its main(); returns the number that failed."""
    failed = 0
    here = Path(__file__).parent
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if mod.name.startswith("_") or (selected and mod.name not in selected):
            continue
        module = importlib.import_module(f"bench.{mod.name}")
        main = getattr(module, "main", None)
        if main is None:
            continue
        print(f"== bench/{mod.name}.py", flush=True)
        try:
            main([])
        except Exception as exc:  # one failing benchmark must not hide the others
            failed += 1
            print(f"   failed: {exc!r}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(1 if run_all(sys.argv[1:]) else 0)
