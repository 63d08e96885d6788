"""The shipped checkpoints (lecture_utils/checkpoints/*.pt) and the one place that reads and writes them.

RL^2 (section 04) and MAML (section 05) meta-train for minutes, so the notebooks load these small files;
`lecture train rl2 | maml | sinusoid` (the instructor's tools) rebuild them with the functions below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DIR = Path(__file__).resolve().parent / "checkpoints"
MAML_SEEDS = (0, 1, 2)  # the three MAML training seeds shipped for 2D navigation


# ------------------------------------------------------------------------------------------ RL^2 (04)


def rl2_path(k: int, n: int, directory: Path | str | None = None, family: str = "uniform") -> Path:
    """Where `lecture train rl2` writes (and the notebook reads) the RL^2 policy for k arms, n pulls per task.

    family: "uniform" (p ~ U[0, 1]^k, the table's) or "safe-risky" (lecture_utils.safe_risky.SafeRiskyFamily).
    """
    if family not in ("uniform", "safe-risky"):
        raise ValueError(f"family must be 'uniform' or 'safe-risky', got {family!r}")
    stem = f"rl2_k{k}_n{n}" if family == "uniform" else f"rl2_safe_risky_k{k}_n{n}"
    return Path(directory or DIR) / f"{stem}.pt"


def save_rl2(path, policy, cfg, curve: np.ndarray, seconds: float, **extra) -> None:
    torch.save({"config": cfg.__dict__, "state_dict": policy.state_dict(), "curve": np.asarray(curve, np.float32),
                "seconds": float(seconds), **extra}, path)


def load_rl2(k: int, n: int, directory: Path | str | None = None, family: str = "uniform"):
    """The shipped RL^2 policy for (k, n): (policy, config, info with 'curve', 'seconds', ...)."""
    from lecture_utils.rl2 import RL2Config, RL2Policy

    path = rl2_path(k, n, directory, family)
    if not path.exists():
        setting = f"{k},{n}" if family == "uniform" else family
        raise FileNotFoundError(f"no RL^2 checkpoint {path}; run `lecture train rl2 --setting {setting}`")
    ck = torch.load(path, weights_only=False)
    cfg = RL2Config(**ck["config"])
    policy = RL2Policy(cfg.k, cfg.hidden)
    policy.load_state_dict(ck["state_dict"])
    policy.eval()
    return policy, cfg, {key: v for key, v in ck.items() if key not in ("config", "state_dict")}


# ------------------------------------------------------------------------------- MAML on 2D navigation (05)


def maml_path(seed: int = 0) -> Path:
    """Where `lecture train maml --seed S` writes by default."""
    return DIR / ("maml_point_nav.pt" if seed == 0 else f"maml_point_nav_seed{seed}.pt")


def make_maml_policy(config: dict):
    """The architecture of a MAML checkpoint (parameters live in dicts, torch.func style)."""
    from lecture_utils.policy_gradient import GaussianMLPPolicy

    return GaussianMLPPolicy(hidden=tuple(config["hidden"]), init_std=config["init_std"],
                             out_scale=config["out_scale"], action_scale=config.get("action_scale", 1.0),
                             activation=config.get("activation", "tanh"))


def load_maml(seed: int = 0, path: Path | None = None) -> tuple[object, dict]:
    """(policy module, checkpoint dict with 'maml', 'pretrained', 'config', histories)."""
    ckpt = torch.load(path or maml_path(seed), weights_only=True)
    return make_maml_policy(ckpt["config"]), ckpt


def random_init(config: dict, seed: int = 1) -> dict:
    """The "random initialisation" baseline: a freshly initialised policy's parameters (seeded)."""
    from lecture_utils.policy_gradient import init_params

    torch.manual_seed(seed)
    return init_params(make_maml_policy(config))


# ---------------------------------------------------------------------------------- sinusoid warm-up (05)


def sinusoid_path() -> Path:
    return DIR / "sinusoid.pt"


def load_sinusoid(path: Path | None = None):
    """(model, checkpoint dict): the model gives the architecture, the dicts 'maml'/'pretrained' the parameters."""
    from lecture_utils.sinusoid import make_model

    ckpt = torch.load(path or sinusoid_path(), weights_only=True)
    return make_model(ckpt["config"]["hidden"]), ckpt


# ------------------------------------------------------------------- pretraining and fine-tuning (02)


def sec02_path(directory: Path | str | None = None) -> Path:
    """Where `lecture train sec02` writes (and notebook 02 reads) the pretrained runners and their fine-tuning table."""
    return Path(directory or DIR) / "sec02_runner.pt"


def table_seed(g: int, j: int, s: int) -> int:
    """The torch seed of fine-tuning run (initial policy g, direction j, seed s) in the section 02 table."""
    return 1000 + 100 * g + 10 * j + s


def load_sec02(directory: Path | str | None = None) -> dict:
    """The section 02 checkpoint, networks rebuilt (float64 like the notebook; `lecture train sec02` writes it).

    Keys: 'config'; 'pretrained' (PolicyNet, members alpha-major: alphas[0] x seeds, alphas[1] x seeds, ...) and
    its 'pre_curve' [iters, members]; 'scratch' (the S random initial policies of the table); 'ft_curves'
    [groups = alphas + scratch, directions, iters, seeds] and 'reach' (iterations to 90% of the expert, same
    shape without iters); 'experts' (4 members: the scratch runs on directions 0, 90, 180, -90 deg, seed 0);
    'multitask' (the multitask-RL control: an Actor-Mimic-shaped student trained by RL) and its 'mt_curve';
    'expert_return' per direction; 'seconds'.
    """
    from lecture_utils import actor_mimic as am
    from lecture_utils import pretraining as pt

    path = sec02_path(directory)
    if not path.exists():
        raise FileNotFoundError(f"no section 02 checkpoint {path}; run `lecture train sec02`")
    ck = torch.load(path, weights_only=True)
    cfg = ck["config"]
    S, A = cfg["seeds"], len(cfg["alphas"])
    out = {k: v for k, v in ck.items() if k not in ("pretrained", "scratch", "experts", "multitask")}
    for key, net in [("pretrained", pt.PolicyNet(members=A * S)), ("scratch", pt.PolicyNet(members=S)),
                     ("experts", pt.PolicyNet(members=len(cfg["expert_directions"]))),
                     ("multitask", am.make_student(n_tasks=len(cfg["expert_directions"])))]:
        net.load_state_dict(ck[key])
        out[key] = net
    for key in ("pre_curve", "ft_curves", "reach", "mt_curve", "expert_return"):
        out[key] = ck[key].numpy()
    return out
