"""Hidden tests of homework 01, through FakeKernel: the solution passes under several grading seeds, the stub
fails with NotImplementedError, and named plausible wrong answers fail."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

import lecture_utils.domain_randomization as dr
from lecture_admin.grading.hidden import hidden_part, run_part
from lecture_utils.envs.cart import SOURCE_PARAMS, sample_starts
from lecture_utils.selfcheck.core import CheckFailed, StudentError, use_case_seed
from tests.grading_fakes import FakeKernel

ROOT = Path(__file__).resolve().parent.parent
NB = "01_transfer_and_shots.ipynb"
PARTS = {"1.1": "sample_params", "1.2": "target_return", "1.3": "shot_curve", "1.4": "coverage_width"}
SEEDS = [7, 2024, 913_577]


def definitions(path: Path) -> dict:
    """The notebook's imports and function definitions only (no demo cells, no check cells)."""
    ns: dict = {"__name__": "__main__"}
    for cell in nbformat.read(path, as_version=4).cells:
        src = cell.source
        if cell.cell_type == "code" and "grade(" not in src and ("def " in src or src.lstrip().startswith("import")):
            exec(compile(src, str(path), "exec"), ns)  # noqa: S102 - test helper
    return ns


@pytest.fixture(scope="module")
def solution():
    return definitions(ROOT / "solutions" / NB)


@pytest.fixture(scope="module")
def stub():
    return definitions(ROOT / "exercises" / NB)


@pytest.fixture
def grading_seed():
    def use(seed):
        use_case_seed(seed)

    yield use
    use_case_seed(None)


def run_with(ns: dict, eid: str, **override) -> None:
    run_part(FakeKernel({**ns, **override}), eid, [PARTS[eid]])


def test_registered_with_the_protocols_module_as_library():
    for eid in PARTS:
        assert hidden_part(eid).library == ("lecture_utils.dr_protocols",)
    assert hidden_part("1.1").run is not None  # Generators need the harness
    assert all(hidden_part(e).run is None for e in ("1.2", "1.3", "1.4"))  # plain data: the public check


def test_the_answers_are_not_in_the_unmasked_library():
    """What the homework uses from dr stays importable when dr_protocols is masked, and answers nothing."""
    import lecture_utils.dr_protocols as drp

    assert "sample_params" not in vars(dr) and "target_return" not in vars(dr)
    assert dr.target_return is drp.target_return  # forwarded lazily, so masking dr_protocols hides it


SLOW_PARTS = ("1.1", "1.3")  # a few seconds per grading seed: the first seed is fast, the others slow


@pytest.mark.parametrize("eid, seed", [pytest.param(e, s, marks=[pytest.mark.slow] if e in SLOW_PARTS and s != SEEDS[0]
                                                    else []) for e in PARTS for s in SEEDS])
def test_solution_passes(solution, grading_seed, eid, seed):
    grading_seed(seed)
    run_with(solution, eid)


@pytest.mark.parametrize("eid", list(PARTS))
def test_stub_is_not_attempted(stub, grading_seed, eid):
    grading_seed(SEEDS[0])
    with pytest.raises(NotImplementedError):
        run_with(stub, eid)


def test_grading_cases_differ_from_the_public_ones(solution, grading_seed):
    """An answer hard-wired to the public cases fails under a grading seed."""
    from lecture_utils.selfcheck.core import case_rng

    public = case_rng(404).uniform(size=3)
    grading_seed(SEEDS[0])
    assert not np.allclose(case_rng(404).uniform(size=3), public)


# ----------------------------------------------------------------------------- 1.1 wrong samplers


def _uniform_everywhere(low, high, n, seed, log_scale):
    rng = np.random.default_rng(seed)
    return low + rng.uniform(size=(n, len(low))) * (high - low)


def _log_uniform_everywhere(low, high, n, seed, log_scale):
    rng = np.random.default_rng(seed)
    return low * (high / low) ** rng.uniform(size=(n, len(low)))


def _transposed(low, high, n, seed, log_scale):
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n, len(low)))
    return np.where(log_scale, low * (high / low) ** u, low + u * (high - low)).T


def _one_draw_for_all_columns(low, high, n, seed, log_scale):
    u = np.random.default_rng(seed).uniform(size=(n, 1))  # correlated columns
    return np.where(log_scale, low * (high / low) ** u, low + u * (high - low))


def _fresh_rng_for_generators(low, high, n, seed, log_scale):
    rng = np.random.default_rng(seed if isinstance(seed, (int, np.integer)) else None)  # Generators ignored
    u = rng.uniform(size=(n, len(low)))
    return np.where(log_scale, low * (high / low) ** u, low + u * (high - low))


def _log_scale_swapped(low, high, n, seed, log_scale):
    u = np.random.default_rng(seed).uniform(size=(n, len(low)))
    return np.where(~np.asarray(log_scale), low * (high / low) ** u, low + u * (high - low))


@pytest.mark.parametrize("wrong", [_uniform_everywhere, _log_uniform_everywhere, _transposed,
                                   _one_draw_for_all_columns, _fresh_rng_for_generators, _log_scale_swapped])
def test_wrong_samplers_fail(solution, grading_seed, wrong):
    grading_seed(SEEDS[1])
    with pytest.raises((CheckFailed, StudentError)):
        run_with(solution, "1.1", sample_params=wrong)


def test_generators_reach_the_kernel_as_generators(solution, grading_seed):
    seen = []

    def spy(low, high, n, seed, log_scale):
        seen.append(type(seed).__name__)
        return solution["sample_params"](low, high, n, seed, log_scale)

    grading_seed(SEEDS[2])
    run_with(solution, "1.1", sample_params=spy)
    assert "Generator" in seen and "int" in seen


# ----------------------------------------------------------------------------- 1.2 wrong 0-shot protocols


def _returns(theta, params, x0):
    params = np.atleast_2d(params)
    m, n = params.shape[0], x0.shape[0]
    return dr.episode_returns(np.tile(theta, (m * n, 1)), np.repeat(params, n, axis=0), np.tile(x0, m))


def _new_starts_per_setting(theta, target_params, n_episodes, seed):
    rng = np.random.default_rng(seed)
    return float(np.mean([_returns(theta, p, sample_starts(n_episodes, rng)) for p in np.atleast_2d(target_params)]))


def _first_setting_only(theta, target_params, n_episodes, seed):
    x0 = sample_starts(n_episodes, np.random.default_rng(seed))
    return float(_returns(theta, np.atleast_2d(target_params)[:1], x0).mean())


def _sum_not_mean(theta, target_params, n_episodes, seed):
    x0 = sample_starts(n_episodes, np.random.default_rng(seed))
    return float(_returns(theta, target_params, x0).sum())


def _the_library_test_starts(theta, target_params, n_episodes, seed):
    x0 = sample_starts(dr.N_EVAL, np.random.default_rng(dr.EVAL_SEED))  # ignores n_episodes and seed
    return float(_returns(theta, target_params, x0).mean())


def _on_the_source(theta, target_params, n_episodes, seed):
    x0 = sample_starts(n_episodes, np.random.default_rng(seed))
    return float(_returns(theta, SOURCE_PARAMS[None], x0).mean())


@pytest.mark.parametrize("wrong", [_new_starts_per_setting, _first_setting_only, _sum_not_mean,
                                   _the_library_test_starts, _on_the_source])
def test_wrong_target_returns_fail(solution, grading_seed, wrong):
    grading_seed(SEEDS[1])
    with pytest.raises((CheckFailed, StudentError)):
        run_with(solution, "1.2", target_return=wrong)


# ----------------------------------------------------------------------------- 1.3 wrong k-shot protocols


def _curve(theta0, target_params, shots, seed, pick=lambda k, j: k, every_setting=False):
    p = np.atleast_2d(np.asarray(target_params, float))
    thetas = dr.finetune(np.tile(theta0, (p.shape[0], 1)), p, max(shots) + 1, seed)
    out = []
    for j, k in enumerate(shots):
        th = thetas[pick(k, j)]
        if every_setting:
            out.append(np.mean([dr.target_returns_each(np.tile(t, (len(p), 1)), p).mean() for t in th]))
        else:
            out.append(dr.target_returns_each(th, p).mean())
    return np.array(out)


def _one_shot_late(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, pick=lambda k, j: k + 1)


def _position_not_shots(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, pick=lambda k, j: j)


def _evaluated_on_every_setting(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, every_setting=True)


def _fine_tuned_on_the_first_setting_only(theta0, target_params, shots, seed):
    p = np.atleast_2d(np.asarray(target_params, float))
    thetas = dr.finetune(np.asarray(theta0, float)[None], p[:1], max(shots), seed)
    return np.array([dr.target_returns_each(np.tile(thetas[k, 0], (len(p), 1)), p).mean() for k in shots])


def _a_fresh_seed_per_setting(theta0, target_params, shots, seed):
    p = np.atleast_2d(np.asarray(target_params, float))
    runs = [dr.finetune(np.asarray(theta0, float)[None], p[i:i + 1], max(shots), seed + i) for i in range(len(p))]
    return np.array([np.mean([dr.target_returns_each(r[k], p[i:i + 1]) for i, r in enumerate(runs)]) for k in shots])


@pytest.mark.parametrize("wrong", [_one_shot_late, _position_not_shots,
                                   *(pytest.param(w, marks=pytest.mark.slow) for w in
                                     (_evaluated_on_every_setting, _fine_tuned_on_the_first_setting_only,
                                      _a_fresh_seed_per_setting))])
def test_wrong_shot_curves_fail(solution, grading_seed, wrong):
    grading_seed(SEEDS[1])
    with pytest.raises((CheckFailed, StudentError)):
        run_with(solution, "1.3", shot_curve=wrong)


# ----------------------------------------------------------------------------- 1.4 wrong coverage widths


def _steps(p):
    p = np.atleast_2d(np.asarray(p, float))
    return np.log(p[:, :3] / SOURCE_PARAMS[:3]) / np.log(dr.SPREAD[:3]), (p[:, 3] - SOURCE_PARAMS[3]) / dr.SPREAD[3]


def _ignores_direction(target_params, two_sided):
    log, d = _steps(target_params)
    return float(max(np.abs(log).max(), d.max()))


def _min_over_targets(target_params, two_sided):
    return float(min(dr.coverage_width(p[None], two_sided) for p in np.asarray(target_params)))


def _forgets_the_delay(target_params, two_sided):
    log, _ = _steps(target_params)
    need = np.abs(log) if two_sided else np.where(log * dr.REALITY_DIRECTION[:3] < 0, np.inf, np.abs(log))
    return float(need.max())


def _natural_log_not_log_spread(target_params, two_sided):
    p = np.atleast_2d(np.asarray(target_params, float))
    log = np.log(p[:, :3] / SOURCE_PARAMS[:3])
    need = np.abs(log) if two_sided else np.where(log * dr.REALITY_DIRECTION[:3] < 0, np.inf, np.abs(log))
    return float(max(need.max(), ((p[:, 3] - SOURCE_PARAMS[3]) / dr.SPREAD[3]).max()))


@pytest.mark.parametrize("wrong", [_ignores_direction, _min_over_targets, _forgets_the_delay,
                                   _natural_log_not_log_spread])
def test_wrong_coverage_widths_fail(solution, grading_seed, wrong):
    grading_seed(SEEDS[1])
    with pytest.raises((CheckFailed, StudentError)):
        run_with(solution, "1.4", coverage_width=wrong)


# ----------------------------------------------------------------------------- 1.5 automatic domain randomization
# Behaviour-graded: the student's ADR trains (twice) under the grader's thresholds; the credit comes from the
# policy's 0-shot return on unseen carts, in bands. Every run trains, so these tests are slow (~5 s each).


@pytest.fixture(scope="module")
def adr_solution():
    from lecture_admin.grading.behaviour import defining_namespace

    return defining_namespace(ROOT / "solutions" / NB, ["adr_train"])


def _adr_credit(ns: dict, seed: int) -> tuple[float, str]:
    from lecture_admin.grading.behaviour import credit

    try:
        return credit(ns, "1.5", ["adr_train"], seed)
    finally:
        use_case_seed(None)


def _wrong_adr(name: str) -> dict:
    from lecture_admin.grading.hidden import BEHAVIOUR

    ns: dict = {"__name__": "__main__"}
    exec(compile(BEHAVIOUR["1.5"].wrong[name], f"<wrong {name}>", "exec"), ns)  # noqa: S102 - documented wrong version
    return ns


def _adr_wrong_names() -> list[str]:
    from lecture_admin.grading.hidden import BEHAVIOUR, hidden_part

    hidden_part("1.5")
    return list(BEHAVIOUR["1.5"].wrong)


def test_adr_is_registered_as_a_behaviour_part():
    from lecture_admin.grading.hidden import BEHAVIOUR

    part = hidden_part("1.5")
    assert part.run is not None and part.library == ("lecture_utils.dr_protocols",)
    spec = BEHAVIOUR["1.5"]
    assert spec.notebook == NB and spec.names == ("adr_train",) and len(spec.wrong) >= 3


@pytest.mark.slow
# One grading seed here (each behaviour test trains the solution in full); `lecture bench --behaviour` grades it
# on 50 seeds, which is where the seed-to-seed spread is measured.
@pytest.mark.parametrize("seed", SEEDS[:1])
def test_adr_solution_earns_full_credit(adr_solution, seed):
    fraction, message = _adr_credit(adr_solution, seed)
    assert fraction == 1.0, message


def test_adr_stub_is_not_attempted():
    from lecture_admin.grading.behaviour import defining_namespace

    stub = defining_namespace(ROOT / "exercises" / NB, ["adr_train"])
    assert _adr_credit(stub, SEEDS[0]) == (0.0, "not attempted")


@pytest.mark.slow
@pytest.mark.parametrize("name", _adr_wrong_names())
def test_adr_wrong_versions_earn_nothing(name):
    fraction, message = _adr_credit(_wrong_adr(name), SEEDS[1])
    assert fraction == 0.0, f"{name}: {message}"


@pytest.mark.slow
@pytest.mark.parametrize("name", _adr_wrong_names())
def test_adr_public_check_fails_on_wrong_versions(name):
    from lecture_utils.selfcheck.core import run_check

    passed, _, _ = run_check("1.5", _wrong_adr(name)["adr_train"])
    assert not passed


def test_adr_public_check_fails_on_the_stub():
    from lecture_admin.grading.behaviour import defining_namespace
    from lecture_utils.selfcheck.core import run_check

    stub = defining_namespace(ROOT / "exercises" / NB, ["adr_train"])
    passed, message, _ = run_check("1.5", stub["adr_train"])
    assert not passed, message


@pytest.mark.slow
def test_adr_public_check_passes_on_the_solution(adr_solution):
    from lecture_utils.selfcheck.core import run_check

    passed, message, _ = run_check("1.5", adr_solution["adr_train"])
    assert passed, message
