"""Every alias in the registry reproduces its reference, step by step."""
import numpy as np
import pytest
from harness import assert_same_trajectory, reference_trajectory, trajectory
from problems import PROBLEMS
from registry import REGISTRY

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

ENTRIES = [pytest.param(e, id=e.name) for e in REGISTRY]
ON_PROBLEMS = [pytest.param(p, id=p.name) for p in PROBLEMS]


@pytest.mark.parametrize("problem", ON_PROBLEMS)
@pytest.mark.parametrize("entry", ENTRIES)
def test_matches_reference_every_step_in_float64(entry, problem):
    expected = reference_trajectory(entry, problem, entry.steps)
    actual = trajectory(entry.make(), problem, entry.steps, extra_args=entry.needs_extra_args)
    assert_same_trajectory(actual, expected, rtol=entry.rtol)


@pytest.mark.parametrize("entry", ENTRIES)
def test_matches_reference_in_float32_to_float32_precision(entry):
    problem = PROBLEMS[0]
    expected = reference_trajectory(entry, problem, 20)
    actual = trajectory(entry.make(), problem, 20, dtype=np.float32, extra_args=entry.needs_extra_args)
    assert_same_trajectory(actual, expected, rtol=2e-4, atol=2e-5)
