"""A short, seeded run of bench/fuzz_cli.py: damaged music files and bad option values thrown at
`inspect`, `roundtrip` and `tokenize` end with exit 0, 1 or 2 and at most one `error:` line, never
a traceback. (`generate --primer` is left to the bench: a real generation takes a second or more.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings

_spec = importlib.util.spec_from_file_location(
    "fuzz_cli", Path(__file__).resolve().parent.parent / "bench" / "fuzz_cli.py")
fuzz = sys.modules["fuzz_cli"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(fuzz)

SEEDS = fuzz.generated_seeds()  # built here, not read from the shared data: the same in CI
SEEN = {"ok": 0, "errors": 0}


@settings(max_examples=250, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=fuzz.cases(SEEDS, commands=("inspect", "roundtrip", "tokenize")))
def test_cli_never_shows_a_traceback(tmp_path_factory, case):
    outcome = fuzz.run_in_process(case, tmp_path_factory.mktemp("case"))
    assert outcome.error is None, f"{case.shell()}: {outcome.error}\n{outcome.trace}"
    SEEN["ok" if outcome.exit_code == 0 else "errors"] += 1


def test_the_fuzz_reached_both_outcomes():
    # runs after the property test in file order: the cases were not all rejected up front
    assert SEEN["ok"] >= 10 and SEEN["errors"] >= 100, SEEN
