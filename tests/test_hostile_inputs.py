"""Every case of the bad-input corpus (tests/hostile.py, tests/data/hostile/) ends cleanly."""

from __future__ import annotations

import pytest
from hostile import CASES, Case, run_case


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_ends_cleanly(case: Case) -> None:
    outcome = run_case(case)
    assert outcome.problem is None, f"{case.argv}: {outcome.problem}"
