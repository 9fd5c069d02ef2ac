"""A pickle checkpoint is only read with weights_only=True: code inside it never runs."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from animatelab.train.checkpoint import safe_torch_load


class Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "motion_module.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": Evil(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(path)
    assert not marker.exists()


def test_plain_tensor_checkpoint_still_loads(tmp_path):
    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": {"w": torch.arange(3.0)}}, path)
    assert torch.equal(safe_torch_load(path)["state_dict"]["w"], torch.arange(3.0))
