"""Hidden tests of homework 04: pass on the solution under three grading seeds, fail on the stubs and on
plausible wrong answers. The FakeKernel round-trips through JSON as the sandbox does."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from lecture_admin.grading.hidden import hidden_part
from lecture_utils.selfcheck.core import use_case_seed
from tests.grading_fakes import SEEDS, FakeKernel, outcome
from tests.grading_fakes import defining_cells as _defining_cells

NB = "04_meta_rl_pomdp.ipynb"
PARTS = {"4.1": "beta_update", "4.2": "thompson_action", "4.3": "bayes_optimal_value", "4.4": "encode_rl2_stream"}


# ---------------------------------------------------------------- helpers (FakeKernel runs, namespaces)

ROOT = Path(__file__).resolve().parent.parent


def defining_cells(folder: str, names: list[str]) -> dict:
    return _defining_cells(ROOT / folder / NB, names)


@pytest.fixture(scope="module")
def sol():
    return defining_cells("solutions", list(PARTS.values()))


def test_library_masks_leave_the_demo_imports_alone():
    assert hidden_part("4.1").library == ("lecture_utils.bandit_belief",)
    import lecture_utils.bandits as bd

    assert not hasattr(bd, "beta_update")  # masked alone; the demo's greedy, run_trials, sample_tasks, thompson stay
    assert all(hasattr(bd, n) for n in ("greedy", "run_trials", "sample_tasks", "thompson"))


@pytest.mark.parametrize("eid", sorted(PARTS))
def test_solution_passes(grading_seed, sol, eid):
    assert outcome(sol, eid, PARTS[eid]) == "passed"


@pytest.mark.parametrize("eid", sorted(PARTS))
def test_stub_fails(eid):
    assert outcome(defining_cells("exercises", [PARTS[eid]]), eid, PARTS[eid]) == "not attempted"


def _fails(eid, fn, contains=None):
    msg = outcome({PARTS[eid]: fn}, eid, PARTS[eid])
    assert msg.startswith("failed"), f"{fn.__name__}: {msg}"
    if contains:
        assert contains in msg, msg


# ---------------------------------------------------------------- 4.1


def _swapped(alpha, beta, action, reward):
    alpha, beta = np.array(alpha, float), np.array(beta, float)
    alpha[action] += 1 - reward
    beta[action] += reward
    return alpha, beta


def _every_arm(alpha, beta, action, reward):
    return np.asarray(alpha, float) + reward, np.asarray(beta, float) + 1 - reward


def _only_alpha(alpha, beta, action, reward):
    alpha = np.array(alpha, float)
    alpha[action] += reward
    return alpha, np.array(beta, float)


def _counts_pulls_in_beta(alpha, beta, action, reward):
    alpha, beta = np.array(alpha, float), np.array(beta, float)
    alpha[action] += reward
    beta[action] += 1
    return alpha, beta


@pytest.mark.parametrize("wrong", [_swapped, _every_arm, _only_alpha, _counts_pulls_in_beta],
                         ids=lambda f: f.__name__.strip("_"))
def test_beta_update_wrong_answers_fail(one_seed, wrong):
    _fails("4.1", wrong)


# ---------------------------------------------------------------- 4.2


def _argmax_of_the_mean(alpha, beta, rng):
    return int(np.argmax(np.asarray(alpha) / (np.asarray(alpha) + np.asarray(beta))))


def _global_rng(alpha, beta, rng):
    return int(np.argmax(np.random.beta(alpha, beta)))


def _one_shared_draw(alpha, beta, rng):
    """Draws its beliefs once (from a generator of its own) and reuses that draw on every call."""
    return int(np.argmax(np.random.default_rng(0).beta(alpha, beta)))


def _swapped_parameters(alpha, beta, rng):
    return int(np.argmax(rng.beta(beta, alpha)))


def _uniform_arm(alpha, beta, rng):
    return int(rng.integers(len(alpha)))


def _returns_the_draws(alpha, beta, rng):
    return rng.beta(alpha, beta)


@pytest.mark.parametrize("wrong", [_argmax_of_the_mean, _one_shared_draw, _swapped_parameters, _uniform_arm],
                         ids=lambda f: f.__name__.strip("_"))
def test_thompson_wrong_distributions_fail(one_seed, wrong):
    _fails("4.2", wrong, contains="wrong frequencies")


def test_thompson_not_drawing_from_rng_fails(one_seed):
    _fails("4.2", _global_rng, contains="same seed")


def test_thompson_returning_the_draws_fails(one_seed):
    _fails("4.2", _returns_the_draws, contains="one arm index")


def test_thompson_generators_are_built_in_the_kernel_from_the_graders_seeds(one_seed, sol):
    """Only plain data crosses: seeds go in, picks come back; the seeds change with the grading seed."""
    from lecture_admin.grading.hidden import sec04

    sent = []

    class Recorder(FakeKernel):
        def evaluate(self, expr, timeout=60.0, max_bytes=2_000_000, env=None):
            sent.append((*env["__kw"]["same_seeds"], env["__kw"]["stream_seed"]))
            return super().evaluate(expr, timeout, max_bytes, env)

    sec04.run_thompson(Recorder(dict(sol)), ["thompson_action"])
    use_case_seed(SEEDS[1])
    sec04.run_thompson(Recorder(dict(sol)), ["thompson_action"])
    assert len(sent) == 6 and len(set(sent)) == 6


# ---------------------------------------------------------------- 4.3


def _dp(prior, horizon, step):
    @cache
    def V(a1, b1, a2, b2, h):
        if h == 0:
            return 0.0
        return step(V, a1, b1, a2, b2, h)

    return V(*(int(v) for v in prior), int(horizon))


def _q(V, a1, b1, a2, b2, h):
    p1, p2 = a1 / (a1 + b1), a2 / (a2 + b2)
    q1 = p1 * (1 + V(a1 + 1, b1, a2, b2, h - 1)) + (1 - p1) * V(a1, b1 + 1, a2, b2, h - 1)
    q2 = p2 * (1 + V(a1, b1, a2 + 1, b2, h - 1)) + (1 - p2) * V(a1, b1, a2, b2 + 1, h - 1)
    return q1, q2


def _myopic(prior, horizon):
    """Best arm under the prior, pulled every time: ignores the value of information."""
    a1, b1, a2, b2 = prior
    return horizon * max(a1 / (a1 + b1), a2 / (a2 + b2))


def _averages_the_arms(prior, horizon):
    return _dp(prior, horizon, lambda V, *s: sum(_q(V, *s)) / 2)


def _horizon_off_by_one(prior, horizon):
    return _dp(prior, horizon + 1, lambda V, *s: max(_q(V, *s)))


def _belief_never_updated(prior, horizon):
    a1, b1, a2, b2 = prior
    return _dp(prior, horizon, lambda V, x1, y1, x2, y2, h: max(a1 / (a1 + b1), a2 / (a2 + b2)) + V(x1, y1, x2, y2,
                                                                                                    h - 1))


@cache
def _cached_on_the_prior(prior, horizon):
    """Right, and hashes its prior: passes only because the harness hands the prior over as a tuple."""
    return _dp(prior, horizon, lambda V, *s: max(_q(V, *s)))


@pytest.mark.parametrize("wrong", [_myopic, _averages_the_arms, _horizon_off_by_one, _belief_never_updated],
                         ids=lambda f: f.__name__.strip("_"))
def test_bayes_optimal_value_wrong_answers_fail(one_seed, wrong):
    _fails("4.3", wrong)


def test_bayes_optimal_value_gets_the_prior_as_a_tuple(one_seed):
    assert outcome({"bayes_optimal_value": _cached_on_the_prior}, "4.3", "bayes_optimal_value") == "passed"


# ---------------------------------------------------------------- 4.4


def _encode(actions, rewards, dones, task_ids, k, reset_on_done=False, shift=True, zero_new_task=True):
    actions, task_ids, dones = np.asarray(actions), np.asarray(task_ids), np.asarray(dones, float)
    T = len(actions)
    reset = np.r_[True, task_ids[1:] != task_ids[:-1]]
    if reset_on_done:
        reset = np.r_[True, dones[:-1] > 0]
    x = np.zeros((T, k + 2))
    if shift:
        x[1:, :k] = np.eye(k)[actions[:-1]]
        x[1:, k], x[1:, k + 1] = np.asarray(rewards, float)[:-1], dones[:-1]
    else:
        x[:, :k], x[:, k], x[:, k + 1] = np.eye(k)[actions], rewards, dones
    if zero_new_task:
        x[reset] = 0.0
    return x, reset


def _resets_every_episode(a, r, d, t, k):
    return _encode(a, r, d, t, k, reset_on_done=True)


def _current_step_not_previous(a, r, d, t, k):
    return _encode(a, r, d, t, k, shift=False)


def _leaks_across_tasks(a, r, d, t, k):
    return _encode(a, r, d, t, k, zero_new_task=False)


def _no_done_flag(a, r, d, t, k):
    x, reset = _encode(a, r, d, t, k)
    x[:, k + 1] = 0.0
    return x, reset


@pytest.mark.parametrize("wrong", [_resets_every_episode, _current_step_not_previous, _leaks_across_tasks,
                                   _no_done_flag], ids=lambda f: f.__name__.strip("_"))
def test_encode_rl2_stream_wrong_answers_fail(one_seed, wrong):
    _fails("4.4", wrong)


# ---------------------------------------------------------------- 4.5 (graded on behaviour, with partial credit)

RL2 = "train_correlated_rl2"


@pytest.fixture(scope="module")
def rl2_sol():
    return defining_cells("solutions", [RL2])


def _rl2_credit(ns: dict, seed: int) -> tuple[float, str]:
    from lecture_admin.grading.behaviour import credit

    return credit(dict(ns), "4.5", [RL2], seed)


def _rl2_wrong(variant: str, iters: int = 80) -> dict:
    """The solution's namespace with a documented wrong version, trained briefly (the wrong versions learn nothing
    useful at any length; `lecture bench --behaviour --part 4.5` runs them at full length on 50 seeds)."""
    from functools import partial

    from lecture_admin.grading.hidden import BEHAVIOUR

    hidden_part("4.5")
    ns = defining_cells("solutions", [RL2])
    exec(BEHAVIOUR["4.5"].wrong[variant], ns)  # noqa: S102 - a documented wrong version
    ns[RL2] = partial(ns[RL2], iters=iters)
    return ns


def _wrong_variants() -> list[str]:
    from lecture_admin.grading.hidden import BEHAVIOUR

    hidden_part("4.5")
    return sorted(BEHAVIOUR["4.5"].wrong)


def test_rl2_wrong_versions_are_the_solution_with_one_line_changed():
    """The documented wrong versions are built from a copy of the solution: it must be the solution's code."""
    import ast

    import nbformat

    from lecture_admin.grading.hidden import sec04

    def body(src: str) -> str:
        fn = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef) and n.name == RL2)
        if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant):
            fn.body = fn.body[1:]  # the docstring
        return ast.dump(fn)

    nb = nbformat.read(ROOT / "solutions" / NB, as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and f"def {RL2}(" in c.source)
    assert body(cell) == body(sec04._RL2_REFERENCE)


def test_rl2_library_is_masked():
    from lecture_utils.selfcheck.answers import ANSWERS

    assert hidden_part("4.5").library == ("lecture_utils.rl2",) == ANSWERS["4.5"]


def test_rl2_stub_is_not_attempted(one_seed):
    assert outcome(defining_cells("exercises", [RL2]), "4.5", RL2) == "not attempted"


@pytest.mark.slow
def test_rl2_solution_earns_full_credit(rl2_sol):
    # One grading seed here (each behaviour test trains the solution in full); `lecture bench --behaviour` grades it
    # on 50 seeds, which is where the seed-to-seed spread is measured.
    for seed in SEEDS[2:]:
        fraction, message = _rl2_credit(rl2_sol, seed)
        assert fraction == 1.0, f"seed {seed}: {message}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", _wrong_variants())
def test_rl2_wrong_versions_earn_nothing(variant):
    fraction, message = _rl2_credit(_rl2_wrong(variant), SEEDS[0])
    assert fraction == 0.0, f"{variant}: {message}"
    assert "of the way" in message


def test_rl2_returned_weights_are_validated(one_seed):
    """A wrong return value is one line for the student, not a crash of the grader."""
    from functools import partial

    ns = dict(defining_cells("solutions", [RL2]))

    def not_a_dict(p_good, p_bad, horizon, seed):
        return [1.0, 2.0]

    def too_wide(p_good, p_bad, horizon, seed):
        return ns["CorrelatedRL2Policy"](hidden=64).state_dict()

    def no_head(p_good, p_bad, horizon, seed):
        w = {k: v.detach().numpy() for k, v in ns["CorrelatedRL2Policy"]().state_dict().items()}
        del w["pi.weight"]
        return w

    for fn, want in [(not_a_dict, "dict name -> array"), (too_wide, "hidden size"), (no_head, "pi.weight")]:
        msg = outcome({RL2: fn}, "4.5", RL2)
        assert msg.startswith("failed") and want in msg, msg
    untrained = partial(ns[RL2], iters=0)  # an untrained policy: a coin flip, no credit
    msg = outcome({**ns, RL2: untrained}, "4.5", RL2)
    assert msg.startswith("failed") and "no credit" in msg, msg


@pytest.mark.slow
def test_rl2_public_check(rl2_sol):
    from lecture_utils.selfcheck.core import CheckFailed, StudentError, get_check

    check = get_check("4.5").fn
    check(rl2_sol[RL2])  # passes on the solution
    with pytest.raises(NotImplementedError):
        check(defining_cells("exercises", [RL2])[RL2])
    for variant in _wrong_variants():
        with pytest.raises((CheckFailed, StudentError), match="of the way"):
            check(_rl2_wrong(variant)[RL2])
