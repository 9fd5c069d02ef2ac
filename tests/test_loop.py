"""The shared training loop: exact resume, NaN guard, only trainable params, checkpoints, logs."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from animatelab.config import LoopParams
from animatelab.train.checkpoint import load_checkpoint
from animatelab.train.loop import NonFiniteLossError, fit
from animatelab.train.loop import TensorDict
from animatelab.train.randomness import StepRandom

DATA = TensorDict(x=torch.randn(32, 6, generator=torch.Generator().manual_seed(1)),
                  y=torch.randn(32, 1, generator=torch.Generator().manual_seed(2)))


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.frozen = nn.Linear(6, 6).requires_grad_(False)
        self.head = nn.Linear(6, 1)
        self.drop = nn.Dropout(0.2)  # uses the global RNG: its state must be restored too

    def loss(self, batch: dict, rng: "StepRandom", nan_at: int | None = None, stop_at: int | None = None) -> torch.Tensor:
        self.calls = getattr(self, "calls", 0) + 1
        if stop_at is not None and self.calls == stop_at:
            raise KeyboardInterrupt  # a kill at this step
        noise = rng.randn(batch["x"].shape)
        out = self.head(self.drop(self.frozen(batch["x"] + 0.1 * noise)))
        loss = ((out - batch["y"]) ** 2).mean()
        return loss * float("nan") if nan_at is not None and self.calls == nan_at else loss


def loop(**kw) -> LoopParams:
    return LoopParams(**{"steps": 6, "batch_size": 4, "lr": 1e-2, "warmup_steps": 2, "checkpoint_every": 2, **kw})


def run(tmp_path, model: Toy, fingerprint: str = "fp", **kw):
    opts = {k: kw.pop(k) for k in ("nan_at", "stop_at") if k in kw}
    return fit(trainable=model, compute_loss=lambda b, g: model.loss(b, g, **opts), dataset=DATA, loop=loop(**kw),
               checkpoint_dir=tmp_path / "ckpt", fingerprint=fingerprint, run_name="toy",
               loss_csv=tmp_path / "loss.csv")


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path):
    straight = run(tmp_path / "a", Toy())
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", Toy(), stop_at=5)  # killed during step 5: checkpoint of step 4 remains
    assert load_checkpoint(tmp_path / "b" / "ckpt").step == 4
    resumed = run(tmp_path / "b", Toy())
    assert resumed.resumed_from == 4 and resumed.steps == 6
    for name, value in straight.state.items():
        assert torch.equal(value, resumed.state[name]), name
    assert resumed.losses == straight.losses  # the loss history is carried over too


def test_only_requires_grad_parameters_train_and_are_checkpointed(tmp_path):
    model = Toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = run(tmp_path, model)
    assert set(result.state) == {"head.weight", "head.bias"}
    assert torch.equal(model.frozen.weight, before["frozen.weight"])
    assert not torch.equal(model.head.weight, before["head.weight"])
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert set(ckpt.weights) == {"head.weight", "head.bias"} and ckpt.step == 6


def test_non_finite_loss_raises_before_any_step_and_keeps_last_checkpoint(tmp_path):
    clean = run(tmp_path / "clean", Toy(), steps=2)
    with pytest.raises(NonFiniteLossError, match=r"toy.*step 3"):
        run(tmp_path / "nan", Toy(), nan_at=3, checkpoint_every=1)
    ckpt = load_checkpoint(tmp_path / "nan" / "ckpt")
    assert ckpt.step == 2  # step 3 wrote nothing
    for name, value in clean.state.items():
        assert torch.equal(ckpt.weights[name], value)


def test_other_fingerprint_starts_fresh(tmp_path, capsys):
    run(tmp_path, Toy(), steps=2)
    again = run(tmp_path, Toy(), fingerprint="changed", steps=2)
    assert again.resumed_from == 0 and "starting fresh" in capsys.readouterr().out


def test_loss_csv_has_one_row_per_step(tmp_path):
    result = run(tmp_path, Toy())
    rows = list(csv.DictReader((tmp_path / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert [float(r["loss"]) for r in rows] == pytest.approx(result.losses, rel=1e-4)


def test_interrupted_checkpoint_swap_falls_back_to_previous(tmp_path):
    run(tmp_path, Toy(), steps=2)
    ckpt_dir = tmp_path / "ckpt"
    (ckpt_dir / ".tmp").mkdir()  # a half-written next checkpoint
    (ckpt_dir / "last").rename(ckpt_dir / ".old")  # crash between the two renames
    assert load_checkpoint(ckpt_dir).step == 2


def test_diffusion_noise_one_timestep_per_video_and_caption_dropout():
    from animatelab.train.diffusion import (
        add_noise_one_timestep_per_video,
        drop_captions,
    )
    from animatelab.models.scheduler import scheduler_config, training_scheduler
    from animatelab.train.randomness import StepRandom
    from tests.conftest import core_group

    sched = training_scheduler(scheduler_config(core_group("pretrain_base").noise))
    assert sched.config.beta_schedule == "linear" and sched.config.prediction_type == "epsilon"
    video = torch.randn(3, 5, 4, 2, 2)
    noisy, noise, t = add_noise_one_timestep_per_video(sched, video, StepRandom(0, 3))
    assert t.shape == (3,)
    a = sched.alphas_cumprod[t].view(3, 1, 1, 1, 1)
    torch.testing.assert_close(noisy, a.sqrt() * video + (1 - a).sqrt() * noise)  # same t on every frame
    again = add_noise_one_timestep_per_video(sched, video, StepRandom(0, 3))
    assert torch.equal(again[0], noisy)
    text, empty = torch.ones(200, 3, 2), torch.zeros(3, 2)
    dropped = drop_captions(text, empty, 0.25, StepRandom(0, 200))
    frac = (dropped.flatten(1).sum(1) == 0).float().mean().item()
    assert 0.1 < frac < 0.4 and torch.equal(drop_captions(text, empty, 0.0, StepRandom(0, 200)), text)


def test_step_random_is_plain_torch_on_one_process_and_sliced_on_many():
    """One process draws exactly what torch.randn/rand/randint(generator=g) draw (so runs made
    before StepRandom existed are unchanged); each rank of N gets its rows of the global draw."""
    from animatelab.train.randomness import StepRandom

    one = StepRandom(5, 6)
    g = torch.Generator().manual_seed(5)
    assert torch.equal(one.rand(6), torch.rand(6, generator=g))
    assert torch.equal(one.randn((6, 2, 3)), torch.randn((6, 2, 3), generator=g))
    assert torch.equal(one.randint(1000, 6), torch.randint(0, 1000, (6,), generator=g))
    full = StepRandom(5, 6).randn((6, 4))
    parts = [StepRandom(5, 6, rank=r, world=2).randn((3, 4)) for r in range(2)]
    assert torch.equal(torch.cat(parts), full)
    with pytest.raises(ValueError, match="this rank's batch has 3"):
        StepRandom(5, 6, rank=0, world=2).randn((6, 4))


def test_snapshot_steps_spread_evenly_and_end_at_the_last_step():
    from animatelab.train.checkpoint import snapshot_steps

    assert snapshot_steps(300, 5) == [60, 120, 180, 240, 300]
    assert snapshot_steps(4, 2) == [2, 4]
    assert snapshot_steps(3, 5) == [1, 2, 3]
    assert snapshot_steps(300, 0) == []


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    from animatelab.config import LoopParams
    from animatelab.train.loop import lr_factor

    const = LoopParams(steps=10, batch_size=1, lr=1.0, warmup_steps=2)
    assert [lr_factor(s, const) for s in (0, 1, 5, 9)] == [0.5, 1.0, 1.0, 1.0]
    cos = LoopParams(steps=10, batch_size=1, lr=1.0, warmup_steps=2, lr_schedule="cosine", min_lr_ratio=0.1)
    f = [lr_factor(s, cos) for s in range(10)]
    assert f[:3] == [0.5, 1.0, 1.0] and abs(f[-1] - 0.1) < 1e-12
    assert all(a >= b for a, b in zip(f[2:], f[3:]))  # monotone after warm-up


def test_lr_multipliers_scale_one_group_and_resume_with_it(tmp_path):
    """``lr_multipliers``: the matched parameters take steps of lr x m (Adam's first step moves every
    weight by ~lr), the rest keep lr; a killed run resumes to the same weights; a key that matches
    nothing is a params error, not a silent 1x."""
    from animatelab.train.loop import param_groups

    before = {n: p.detach().clone() for n, p in Toy().named_parameters()}
    one = run(tmp_path / "one", Toy(), steps=1, warmup_steps=0, weight_decay=0.0)
    ten = run(tmp_path / "ten", Toy(), steps=1, warmup_steps=0, weight_decay=0.0, lr_multipliers={"head.bias": 10.0})
    step = {k: (ten.state[k] - before[k]).abs().max() / (one.state[k] - before[k]).abs().max() for k in ten.state}
    assert step["head.bias"] == pytest.approx(10.0, rel=1e-3) and step["head.weight"] == pytest.approx(1.0, rel=1e-3)

    straight = run(tmp_path / "a", Toy(), lr_multipliers={"head.weight": 3.0})
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", Toy(), stop_at=5, lr_multipliers={"head.weight": 3.0})
    resumed = run(tmp_path / "b", Toy(), lr_multipliers={"head.weight": 3.0})
    for name, value in straight.state.items():
        assert torch.equal(value, resumed.state[name]), name
    named = [(n, p) for n, p in Toy().named_parameters() if p.requires_grad]
    assert [g["lr_multiplier"] for g in param_groups(named, {"head.w": 2.0})] == [2.0, 1.0]
    with pytest.raises(ValueError, match="matches no trainable"):
        param_groups(named, {"frozen.": 2.0})


@pytest.mark.parametrize("warmup, schedule, lr_logged", [(2, "constant", True), (0, "cosine", True),
                                                         (0, "constant", False)])
def test_mlflow_gets_one_loss_name_and_the_lr_only_where_it_moves(tmp_path, warmup, schedule, lr_logged):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("loop")
    with mlflow.start_run() as active:
        run(tmp_path, Toy(), warmup_steps=warmup, lr_schedule=schedule, log_every=2)
    metrics = MlflowClient(uri).get_run(active.info.run_id).data.metrics
    assert "train/loss" in metrics
    assert ("train/lr" in metrics) is lr_logged, sorted(metrics)
    assert set(metrics) <= {"train/loss", "train/lr"}
