"""The real-scale pipeline (experiments/webvid-sd15) validates, checks its paths, and lists its stages.

No SD1.5 weights or WebVid videos here: external inputs are stubbed in a temp copy, so these
tests check the wiring (schema, DAG, path errors), not the compute.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from animatelab.config import ParamsError, check_paths, load_params, required_paths
from tests.conftest import REPO

EXP = REPO / "experiments" / "webvid-sd15"
DVC = [sys.executable, "-m", "dvc"]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}
STAGES = ["prepare", "encode", "train_adapter", "train_motion", "train_motion_lora", "sample", "sample_lora", "evaluate",
          "evaluate_lora", "figures", "train_sparsectrl", "sample_sparsectrl", "train_moonshot_image",
          "train_moonshot_video", "sample_moonshot", "evaluate_moonshot"]
TRAINING_STAGES = ["train_adapter", "train_motion", "train_motion_lora", "train_sparsectrl", "train_moonshot_image",
                   "train_moonshot_video"]  # run through `accelerate launch`


def schedule_over_sd15_folder(overrides: dict) -> dict:
    """``models.scheduler.base_scheduler_config`` on a folder holding SD1.5's scheduler config (PNDM, scaled_linear)."""
    import tempfile

    from diffusers import PNDMScheduler

    from animatelab.models.scheduler import base_scheduler_config

    with tempfile.TemporaryDirectory() as tmp:
        PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                      set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1).save_pretrained(f"{tmp}/scheduler")
        assert base_scheduler_config(tmp)["beta_schedule"] == "scaled_linear"  # SD's own
        return base_scheduler_config(tmp, overrides)


@pytest.fixture(scope="module")
def params():
    return load_params(EXP / "params.yaml")


def test_official_settings(params):
    p, m = params.prepare, params.train_motion
    assert (p.resolution, p.frames, p.stride) == (256, 16, 4)
    assert m.frames == 16 and m.loop.lr == 1e-4 and m.loop.batch_size == 4
    # every video model trains and samples on AnimateDiff's linear betas over SD1.5's own scheduler folder
    schedule = schedule_over_sd15_folder(params.base.scheduler_overrides)
    assert (schedule["beta_schedule"], schedule["beta_start"], schedule["beta_end"]) == ("linear", 0.00085, 0.012)
    for loop in (params.train_adapter.loop, m.loop, params.train_motion_lora.loop):
        assert loop.mixed_precision in {"bf16", "fp16"} and loop.gradient_checkpointing
    assert {r.with_adapter for r in m.runs.values()} == {True, False}
    assert params.train_motion_lora.motion_run in m.runs
    assert params.evaluate.fvd_backbone == "i3d"


def test_motion_params_give_the_published_module(params):
    """The runs' module settings on SD1.5 give the official v3 layout (417,137,600 parameters),
    through the trainer's own config builder (animatelab.models.motion.adapter_config)."""
    from diffusers import MotionAdapter

    from animatelab.models import sd15
    from animatelab.models.motion import adapter_config

    unet2d = sd15.sd15_unet(meta=True)
    for run in params.train_motion.runs.values():
        assert run.module.max_seq_length >= params.train_motion.frames
        cfg = adapter_config(unet2d, run.module)
        v3 = sd15.MOTION_ADAPTER_CONFIGS["v3"]
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()} == {k: v3[k] for k in cfg}
        with sd15._context(meta=True):
            assert sd15.count_params(MotionAdapter(**cfg)) == sd15.MOTION_ADAPTER_PARAMS["v3"]


def test_missing_input_is_an_error_naming_the_param(params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing under external/ here
    for stage, key in [("prepare", "prepare.datasets.0.csv"), ("encode", "base.path"),
                       ("train_motion", "base.path"), ("evaluate", "evaluate.i3d_path")]:
        with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as err:
            check_paths(params, stage)
        assert "\n" not in str(err.value) and "not found" in str(err.value)


def test_present_inputs_pass(params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _stub_external(params, tmp_path)
    for stage in STAGES:
        check_paths(params, stage)
    assert set(required_paths(params, "evaluate")) == {"evaluate.i3d_path", "evaluate.clip"}


@pytest.mark.skipif(importlib.util.find_spec("animatelab.stages.prepare") is None, reason="prepare stage not written yet")
def test_stage_fails_before_compute_on_missing_path():
    proc = subprocess.run(
        [sys.executable, "-m", "animatelab.cli", "prepare"], cwd=EXP, capture_output=True, text=True, env=ENV
    )
    assert proc.returncode != 0 and "prepare.datasets.0.csv" in proc.stderr
    assert not (EXP / "data").exists()


def _stub_external(params, root: Path) -> None:
    """Empty stand-ins for every external input path the params name."""
    for stage in STAGES:
        for key, value in required_paths(params, stage).items():
            path = root / value
            if key.endswith(("video_dir", "base.path")):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, params) -> Path:
    """A DVC repo holding this pipeline and the sources it depends on, inputs stubbed."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    exp = root / "experiments" / "webvid-sd15"
    shutil.copytree(EXP, exp, ignore=shutil.ignore_patterns("data", "models", "samples", "metrics", "external"))
    subprocess.run([*DVC, "config", "core.no_scm", "true"], cwd=root, check=True, env=ENV)
    _stub_external(params, exp)
    return root


def _expected_stage_names(params) -> list[str]:
    names = []
    for stage in STAGES:
        if stage in {"train_motion", "sample", "evaluate"}:
            names += [f"{stage}@{run}" for run in params.train_motion.runs]
        elif stage in {"train_motion_lora", "sample_lora", "evaluate_lora"}:
            names += [f"{stage}@{n}" for n in params.train_motion_lora.n_videos]
        elif stage in {"train_sparsectrl", "sample_sparsectrl"}:
            names += [f"{stage}@{v}" for v in params.train_sparsectrl.variants]
        elif stage in {"sample_moonshot", "evaluate_moonshot"}:
            names += [f"{stage}@{m}" for m in params.sample_moonshot.modes]
        else:
            names.append(stage)
    return names


def test_dvc_stage_list(repo_copy, params):
    proc = subprocess.run([*DVC, "stage", "list", "--name-only"], cwd=repo_copy / "experiments" / "webvid-sd15",
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == _expected_stage_names(params)


def test_dvc_repro_dry_runs_every_stage_in_order(repo_copy, params):
    """``dvc repro --dry`` stops at a missing upstream output (treeverse/dvc#9021): stub those."""
    from dvc.repo import Repo

    exp = repo_copy / "experiments" / "webvid-sd15"
    with Repo(str(repo_copy)) as repo:
        deps = [Path(d.fs_path) for s in repo.index.stages for d in s.deps]
    for dep in deps:  # upstream outputs, and modules other engineers have not written yet
        if not dep.exists():
            dep.parent.mkdir(parents=True, exist_ok=True)
            dep.touch() if dep.suffix else dep.mkdir()
    proc = subprocess.run([*DVC, "repro", "--dry"], cwd=exp, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage")]
    assert sorted(order) == sorted(_expected_stage_names(params))
    assert order.index("prepare") < order.index("encode") < order.index("train_adapter")
    assert order.index("train_motion@with_adapter_s0") < order.index("train_motion_lora@5")
    assert order.index("sample@no_adapter_s0") < order.index("evaluate@no_adapter_s0") < order.index("figures")
    motion_run = f"train_motion@{params.train_sparsectrl.motion_run}"
    for variant in params.train_sparsectrl.variants:
        train, sample = order.index(f"train_sparsectrl@{variant}"), order.index(f"sample_sparsectrl@{variant}")
        assert order.index(motion_run) < train < sample
    assert order.index("train_adapter") < order.index("train_moonshot_video")
    assert order.index("train_moonshot_image") < order.index("train_moonshot_video")
    for mode in params.sample_moonshot.modes:
        assert order.index("train_moonshot_video") < order.index(f"sample_moonshot@{mode}") \
            < order.index(f"evaluate_moonshot@{mode}")
    for stage in TRAINING_STAGES:
        assert f"accelerate launch --config_file accelerate.yaml -m animatelab.cli {stage}" in proc.stdout, stage
    for stage in ("sample_sparsectrl", "sample", "sample_moonshot"):  # sampling runs in one process
        assert f"accelerate launch --config_file accelerate.yaml -m animatelab.cli {stage} " not in proc.stdout


def test_stage_params_exist(repo_copy):
    """Every params key a real-scale stage declares (foreach expanded by DVC) is in its params file, so a
    renamed group cannot leave a stage watching nothing."""
    import yaml
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    exp = repo_copy / "experiments" / "webvid-sd15"
    files = {name: yaml.safe_load((exp / name).read_text()) for name in ("params.yaml", "accelerate.yaml")}
    checked = 0
    with Repo(str(repo_copy)) as repo:
        stages = [s for s in repo.index.stages if Path(s.path).parent == exp]
        for stage in stages:
            for dep in stage.deps:
                if not isinstance(dep, ParamsDependency):
                    continue
                data = files[Path(dep.fs_path).name]
                for key in dep.params or []:
                    node = data
                    for part in key.split("."):
                        where = f"{stage.addressing}: {key} not in {Path(dep.fs_path).name}"
                        assert isinstance(node, dict) and part in node, where
                        node = node[part]
                    checked += 1
    assert {s.addressing.split(":")[-1].split("@")[0] for s in stages} == set(STAGES)
    assert checked > 50


def test_accelerate_config_loads():
    """The training stages' launcher config is one accelerate reads (1 process by default)."""
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(EXP / "accelerate.yaml"))
    assert cfg.num_processes == 1 and cfg.num_machines == 1 and cfg.mixed_precision == "no"


# --------------------------------------------------------------------------- SparseCtrl and MoonShot (RQ6, RQ7)
# Facts checked (experiments/webvid-sd15/params.yaml cites them): the official SparseCtrl encoder configs
# (guoyww/AnimateDiff configs/inference/sparsectrl/{latent,image}_condition.yaml, models/sparse_controlnet.py)
# and IP-Adapter's official trainer (tencent-ailab/IP-Adapter tutorial_train.py).
SD15_VAE_LEVELS = 4  # SD1.5 vae/config.json block_out_channels [128, 256, 512, 512]
CONTROLNET_SD15_PARAMS = 361_279_120  # diffusers ControlNetModel.from_unet(SD1.5): the "361M" ControlNet
SPARSECTRL_PARAMS = {"rgb": 496_730_880, "sketch": 497_802_784}  # README.md "SparseCtrl and MoonShot"
SPARSECTRL_MOTION_PARAMS = 136_523_520
IP_ADAPTER_PARAMS_VITL = 21_533_184  # 768-d image embeddings (CLIP ViT-L/14), 4 tokens


def test_sparsectrl_and_moonshot_settings(params):
    ts, ss, m = params.train_sparsectrl, params.sample_sparsectrl, params.train_motion
    assert {v.modality for v in ts.variants.values()} == {"rgb", "sketch"}
    paper = [n for n, v in ts.variants.items() if not v.keep_noisy_latent and v.mask]
    assert {ts.variants[n].modality for n in paper} == {"rgb", "sketch"}  # the paper's two encoders are trained
    assert ts.frames == m.frames == 16 and ts.motion_num_attention_heads == 8
    assert tuple(ts.sketch_embedding_channels) == (16, 32, 96, 256)
    assert ts.motion_run in m.runs and m.runs[ts.motion_run].with_adapter
    # the no-control baseline of evaluate_sparsectrl: sample's videos of motion_run at the same adapter scale
    scales = {*params.sample.adapter_scales, *params.sample.adapter_scales_by_run.get(ts.motion_run, [])}
    assert ss.adapter_scale in scales and ss.num_videos <= params.sample.num_videos
    assert max(k for v in ts.variants for k in ss.keyframes_for(v)) <= params.sample.frames
    assert ss.conditioning_scale == 1.0
    p1, p2 = params.train_moonshot_image, params.train_moonshot_video
    assert p1.num_image_tokens == 4 and (p1.loop.lr, p1.loop.weight_decay, p1.loop.batch_size) == (1e-4, 1e-2, 8)
    assert p2.frames == m.frames and p2.loop.lr == m.loop.lr and p2.loop.batch_size == m.loop.batch_size
    assert p2.module == m.runs[ts.motion_run].module and p2.with_adapter
    sm = params.sample_moonshot
    assert sm.adapter_scale in params.sample.adapter_scales  # beside AnimateDiff's scale_0.0 videos
    text = [m for m in sm.modes.values() if not m.image and not m.first_frame]
    animate = [m for m in sm.modes.values() if m.image and m.first_frame and m.image_scale > 0]
    assert text and text[0].image_scale == 0 and animate
    assert params.evaluate_moonshot.samples_dir == sm.out_dir
    for loop in (ts.loop, p1.loop, p2.loop):
        assert loop.mixed_precision in {"bf16", "fp16"} and loop.gradient_checkpointing


@pytest.fixture(scope="module")
def sd15_unet_meta():
    from animatelab.models import sd15

    return sd15.sd15_unet(meta=True)


def test_sparsectrl_encoder_is_the_official_sd15_encoder(params, sd15_unet_meta):
    """Each real-scale variant, built by the trainer's own builder on SD1.5 (meta device): a ControlNet copy
    of the SD1.5 encoder (conv_in, time embedding, 4 down blocks, spatial mid block) whose only differences
    are the condition embedding and 8 temporal modules with one self-attention of 8 heads (pe 32), 2 per
    down block and none in the mid block, as the official configs set."""
    import torch
    from diffusers import ControlNetModel, MotionAdapter

    from animatelab.models import sd15
    from animatelab.sparsectrl.model import NoisyLatentSparseControlNet, build_encoder

    ts = params.train_sparsectrl
    with sd15._context(meta=True):
        controlnet = ControlNetModel.from_unet(sd15_unet_meta, load_weights_from_unet=False)
        v3 = MotionAdapter(**sd15.MOTION_ADAPTER_CONFIGS["v3"])
    assert sd15.count_params(controlnet) == CONTROLNET_SD15_PARAMS
    hint = sd15.count_params(controlnet.controlnet_cond_embedding)
    widths = sd15.SD15_UNET_CONFIG["block_out_channels"]
    # v3's down-block modules hold two self-attentions; the encoder's one: minus q, k, v, out (+ bias) and a norm
    v3_down = sum(p.numel() for n, p in v3.named_parameters() if n.startswith("down_blocks."))
    motion_expected = v3_down - sum(2 * (4 * c * c + 3 * c) for c in widths)
    assert motion_expected == SPARSECTRL_MOTION_PARAMS
    for name, variant in ts.variants.items():
        with sd15._context(meta=True):
            enc = build_encoder(sd15_unet_meta, variant, SD15_VAE_LEVELS, ts.motion_num_attention_heads,
                                max(32, ts.frames), ts.sketch_embedding_channels)
        assert isinstance(enc, NoisyLatentSparseControlNet) == variant.keep_noisy_latent, name
        cfg = enc.config
        assert cfg.use_simplified_condition_embedding == (variant.modality == "rgb"), name
        assert cfg.conditioning_channels == (4 if variant.modality == "rgb" else 3), name
        assert cfg.concat_conditioning_mask == variant.mask, name
        motion = {n: p.numel() for n, p in enc.named_parameters() if "motion_modules." in n}
        assert sum(motion.values()) == SPARSECTRL_MOTION_PARAMS, name
        modules = [mod for blk in enc.down_blocks for mod in blk.motion_modules]
        assert len(modules) == 2 * len(widths) and not any("mid_block" in n for n in motion), name
        for mod in modules:
            block = mod.transformer_blocks[0]
            assert len(mod.transformer_blocks) == 1 and getattr(block, "attn2", None) is None, name
            assert block.attn1.heads == 8 and block.pos_embed.pe.shape[1] == 32, name
        assert enc.controlnet_mid_block.kernel_size == (1, 1) and len(enc.controlnet_down_blocks) == 12, name
        spatial = sd15.count_params(enc) - SPARSECTRL_MOTION_PARAMS
        assert spatial == CONTROLNET_SD15_PARAMS - hint + sd15.count_params(enc.controlnet_cond_embedding), name
        if variant.mask and not variant.keep_noisy_latent:
            assert sd15.count_params(enc) == SPARSECTRL_PARAMS[variant.modality], name
        # the condition embedding lands on the latent grid: 256 px sketches (x8 down) or 32x32 latents
        side = params.prepare.resolution // (sd15.SD15_VAE_SCALE if variant.modality == "rgb" else 1)
        x = torch.empty(2, cfg.conditioning_channels + int(variant.mask), side, side, device="meta")
        out = enc.controlnet_cond_embedding(x)
        assert tuple(out.shape) == (2, widths[0], 32, 32), name


def test_moonshot_unet_sizes(params, sd15_unet_meta):
    """MoonShot on SD1.5 (meta device) through the trainers' builders: stage 1 trains the image K/V of the
    16 spatial cross-attentions and a 4-token projection (IP-Adapter's ~22M with 1024-d ViT-H/14 embeddings,
    21.5M with ViT-L/14's 768); stage 2 trains the v3-layout temporal modules and the 9-channel conv_in only."""
    import copy

    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    from animatelab.moonshot import model as ms
    from animatelab.models import sd15

    p1, p2 = params.train_moonshot_image, params.train_moonshot_video
    counts = {}
    for dim in (1024, 768):
        unet = copy.deepcopy(sd15_unet_meta)
        with sd15._context(meta=True):
            ms.add_image_cross_attention(unet, dim, p1.num_image_tokens, p1.image_scale)
        names = set(ms.train_only(unet, ms.IMAGE_KEYS))
        counts[dim] = sum(p.numel() for n, p in unet.named_parameters() if n in names)
    assert round(counts[1024] / 1e6) == 22  # IP-Adapter (arXiv 2308.06721): 22M parameters on SD1.5
    assert counts[768] == IP_ADAPTER_PARAMS_VITL
    procs = [p for p in unet.attn_processors.values() if isinstance(p, IPAdapterAttnProcessor2_0)]
    assert len(procs) == 16 and all(tuple(p.num_tokens) == (p1.num_image_tokens,) for p in procs)
    with sd15._context(meta=True):
        video = ms.build_moonshot_unet(unet, p2.module)
    conv_in = 9 * 320 * 3 * 3 + 320
    assert tuple(video.conv_in.weight.shape) == (320, ms.IN_CHANNELS, 3, 3)
    assert sd15.count_params(video, trainable_only=True) == sd15.MOTION_ADAPTER_PARAMS["v3"] + conv_in
    trained = {n.split(".")[0] for n, p in video.named_parameters() if p.requires_grad}
    assert trained == {"conv_in", "down_blocks", "up_blocks"}
    assert sd15.count_params(video) == SD15_UNET_PARAMS_PLUS_IP + sd15.MOTION_ADAPTER_PARAMS["v3"] + 5 * 320 * 9


SD15_UNET_PARAMS_PLUS_IP = 859_520_964 + IP_ADAPTER_PARAMS_VITL
