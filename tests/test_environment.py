"""The pinned environment: conda and pip users get the same versions; the pins that matter hold."""

from pathlib import Path

from animatelab.envfile import environment_pins, lock_pins

REPO = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_lock():
    assert environment_pins(REPO / "environment.yml") == lock_pins(REPO / "requirements.lock")


def test_lock_pins_exact_versions_of_key_packages():
    pins = dict(p.split("==") for p in lock_pins(REPO / "requirements.lock"))
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert int(pins["setuptools"].split(".")[0]) < 81, "clip-anytorch needs pkg_resources"
    for name in ("diffusers", "peft", "accelerate", "einops", "decord", "dvc", "mlflow",
                 "torchmetrics", "clip-anytorch"):
        assert name in pins, name


def test_clip_imports_offline():
    import clip

    tokens = clip.tokenize(["a red circle moving left"])
    assert tokens.shape == (1, 77) and tokens[0, 0] == 49406  # start-of-text id of the packaged BPE
