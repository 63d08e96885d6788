"""Section 01: every graded check passes on the solution, fails on the stub and on plausible wrong answers."""

import numpy as np
import pytest

import lecture_utils.domain_randomization as dr
from lecture_utils.envs.cart import SOURCE_PARAMS, sample_starts
from tests.grading_harness import assert_fails, assert_passes, exercise_ns, solution_ns

NB = "01_transfer_and_shots.ipynb"


@pytest.fixture(scope="module")
def sol():
    return solution_ns(NB, upto="1.4")


@pytest.fixture(scope="module")
def ex():
    return exercise_ns(NB, upto="1.1")


@pytest.mark.parametrize("eid, name", [("1.1", "sample_params"), ("1.2", "target_return"),
                                       ("1.3", "shot_curve"), ("1.4", "coverage_width")])
def test_solution_passes_and_stub_fails(sol, eid, name):
    assert_passes(eid, sol[name])
    stub_ns = exercise_ns(NB, upto=eid)
    assert_fails(eid, stub_ns[name], contains="not attempted")


def test_library_reference_passes():
    assert_passes("1.1", dr.sample_params)
    assert_passes("1.2", dr.target_return)
    assert_passes("1.3", dr.shot_curve)
    assert_passes("1.4", dr.coverage_width)


# ---- 1.1: wrong samplers


def _uniform_everywhere(low, high, n, seed, log_scale):
    return np.random.default_rng(seed).uniform(low, high, size=(n, len(low)))


def _unseeded(low, high, n, seed, log_scale):
    return dr.sample_params(low, high, n, np.random.default_rng(), log_scale)


def _transposed(low, high, n, seed, log_scale):
    return dr.sample_params(low, high, n, seed, log_scale).T


def _one_draw_for_all_columns(low, high, n, seed, log_scale):
    low, high, log = np.asarray(low), np.asarray(high), np.asarray(log_scale)
    u = np.random.default_rng(seed).uniform(size=(n, 1))
    return np.where(log, low * (high / low) ** u, low + u * (high - low))


def _scale_off_by_low(low, high, n, seed, log_scale):
    low, high, log = np.asarray(low), np.asarray(high), np.asarray(log_scale)
    u = np.random.default_rng(seed).uniform(size=(n, len(low)))
    return np.where(log, low * (high / low) ** u, low + u * high)


def _ignores_seed(low, high, n, seed, log_scale):
    return dr.sample_params(low, high, n, 0, log_scale)


@pytest.mark.parametrize("wrong", [_uniform_everywhere, _unseeded, _transposed, _one_draw_for_all_columns,
                                   _scale_off_by_low, _ignores_seed])
def test_sampler_check_fails_on_wrong_answers(wrong):
    assert_fails("1.1", wrong)


def test_sampler_failure_message_names_the_problem():
    assert "log-uniform" in assert_fails("1.1", _uniform_everywhere)
    assert "shape" in assert_fails("1.1", _transposed)
    assert "same seed" in assert_fails("1.1", _unseeded)


# ---- 1.2: wrong 0-shot protocols


def _new_starts_per_setting(theta, target_params, n_episodes, seed):
    rng = np.random.default_rng(seed)
    rets = [dr.episode_returns(np.tile(theta, (n_episodes, 1)), np.tile(p, (n_episodes, 1)),
                               sample_starts(n_episodes, rng)) for p in np.asarray(target_params)]
    return float(np.mean(rets))


def _first_setting_only(theta, target_params, n_episodes, seed):
    return dr.target_return(theta, np.asarray(target_params)[:1], n_episodes, seed)


def _sum_not_mean(theta, target_params, n_episodes, seed):
    return dr.target_return(theta, target_params, n_episodes, seed) * n_episodes


def _fresh_rng(theta, target_params, n_episodes, seed):
    return dr.target_return(theta, target_params, n_episodes, seed + 1)


def _on_the_source(theta, target_params, n_episodes, seed):
    return dr.target_return(theta, SOURCE_PARAMS[None], n_episodes, seed)


@pytest.mark.parametrize("wrong", [_new_starts_per_setting, _first_setting_only, _sum_not_mean, _fresh_rng,
                                   _on_the_source])
def test_target_return_check_fails_on_wrong_answers(wrong):
    assert_fails("1.2", wrong)


# ---- 1.3: wrong k-shot protocols


def _curve(theta0, target_params, shots, seed, index, cross=False):
    p = np.asarray(target_params)
    m = p.shape[0]
    thetas = dr.finetune(np.tile(theta0, (m, 1)), p, max(shots) + 1, seed)
    if cross:
        return np.array([np.mean([dr.target_return(thetas[k, i], p) for i in range(m)]) for k in shots])
    return np.array([np.mean([dr.target_return(thetas[index(k, j), i], p[i:i + 1]) for i in range(m)])
                     for j, k in enumerate(shots)])


def _one_shot_late(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, lambda k, j: k + 1)


def _position_not_shots(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, lambda k, j: j)


def _evaluated_on_every_setting(theta0, target_params, shots, seed):
    return _curve(theta0, target_params, shots, seed, None, cross=True)


def _one_setting_at_a_time(theta0, target_params, shots, seed):
    p = np.asarray(target_params)
    out = []
    for k in shots:
        out.append(np.mean([dr.target_return(dr.finetune(theta0[None], p[i:i + 1], max(shots), seed)[k, 0],
                                             p[i:i + 1]) for i in range(len(p))]))
    return np.array(out)


def _fine_tune_on_all_then_evaluate(theta0, target_params, shots, seed):
    return np.array([dr.target_return(dr.finetune(theta0[None], np.asarray(target_params)[:1], max(shots),
                                                  seed)[k, 0], target_params) for k in shots])


@pytest.mark.parametrize("wrong", [_one_shot_late, _position_not_shots, _evaluated_on_every_setting,
                                   _one_setting_at_a_time, _fine_tune_on_all_then_evaluate])
def test_shot_curve_check_fails_on_wrong_answers(wrong):
    assert_fails("1.3", wrong)


# ---- 1.4: wrong coverage widths


def _steps(p):
    p = np.asarray(p, float)
    log = np.log(p[:, :3] / SOURCE_PARAMS[:3]) / np.log(dr.SPREAD[:3])
    return log, (p[:, 3] - SOURCE_PARAMS[3]) / dr.SPREAD[3]


def _ignores_direction(target_params, two_sided):
    log, d = _steps(target_params)
    return float(max(np.abs(log).max(), d.max()))


def _min_over_targets(target_params, two_sided):
    return float(min(dr.coverage_width(p[None], two_sided) for p in np.asarray(target_params)))


def _linear_ratio(target_params, two_sided):
    p = np.asarray(target_params, float)
    lin = np.abs(p[:, :3] / SOURCE_PARAMS[:3] - 1) / (dr.SPREAD[:3] - 1)
    wrong = (p[:, :3] - SOURCE_PARAMS[:3]) * dr.REALITY_DIRECTION[:3] < 0
    lin = np.where(wrong & (not two_sided), np.inf, lin)
    return float(max(lin.max(), _steps(p)[1].max()))


def _forgets_delay(target_params, two_sided):
    log, _ = _steps(target_params)
    need = np.abs(log) if two_sided else np.where(log * dr.REALITY_DIRECTION[:3] < 0, np.inf, np.abs(log))
    return float(need.max())


@pytest.mark.parametrize("wrong", [_ignores_direction, _min_over_targets, _linear_ratio, _forgets_delay])
def test_coverage_check_fails_on_wrong_answers(wrong):
    assert_fails("1.4", wrong)


# ---- other correct answers pass too (the checks test behaviour, not one implementation)


def _per_column_sampler(low, high, n, seed, log_scale):
    rng = np.random.default_rng(seed)
    cols = []
    for lo, hi, lg in zip(low, high, log_scale):
        cols.append(np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)) if lg else rng.uniform(lo, hi, size=n))
    return np.stack(cols, axis=1)


def _loop_target_return(theta, target_params, n_episodes, seed):
    x0 = sample_starts(n_episodes, np.random.default_rng(seed))
    return float(np.mean([dr.episode_returns(np.tile(theta, (n_episodes, 1)), np.tile(p, (n_episodes, 1)), x0)
                          for p in np.asarray(target_params)]))


def test_other_correct_answers_pass():
    assert_passes("1.1", _per_column_sampler)
    assert_passes("1.2", _loop_target_return)
