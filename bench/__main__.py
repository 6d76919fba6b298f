"""Run every benchmark module under bench/ that defines `main()`, in name order."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def run_all(args: list[str]) -> int:
    """Import each named bench module (all when none is named) and call its main() with the
    options given (`python -m bench accesslog --quick`); returns the number that failed."""
    here = Path(__file__).parent
    modules = sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name)
    names = {mod.name for mod in modules}
    selected = [arg for arg in args if arg in names]
    options = [arg for arg in args if arg not in names]  # e.g. --rows 1000
    failed = 0
    for mod in modules:
        if mod.name.startswith("_") or (selected and mod.name not in selected):
            continue
        module = importlib.import_module(f"bench.{mod.name}")
        main = getattr(module, "main", None)
        if main is None:
            continue
        print(f"== bench/{mod.name}.py", flush=True)
        try:
            main(options)
        except (Exception, SystemExit) as exc:  # a failure or a refused option hides no other
            failed += 1
            print(f"   failed: {exc!r}", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(1 if run_all(sys.argv[1:]) else 0)
