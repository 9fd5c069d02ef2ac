"""synth_data: byte-identical whatever the workers and load, WebVid-format, and its ground truth matches
the decoded videos."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pytest

from animatelab.config import ParamsError, SynthDataParams, parse_params
from animatelab.data.synth import (
    CHECKER, COLOURS, EXTENTS, PLAIN_BACKGROUNDS, clip_specs, degrade, generate, render_clip, watermark_template,
)
from animatelab.data.video_io import write_mp4
from animatelab.data.webvid import WEBVID_COLUMNS, read_webvid_csv


def _params(micro_params_dict: dict, out_dir: Path, **overrides) -> SynthDataParams:
    group = {**micro_params_dict["synth_data"], "out_dir": str(out_dir), **overrides}
    return SynthDataParams.model_validate(group)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[SynthDataParams, Path]:
    from tests.conftest import micro_params

    out = tmp_path_factory.mktemp("synth") / "data"
    p = _params(micro_params(), out, workers=2)
    generate(p)
    return p, out


def _digest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


@contextlib.contextmanager
def _cpu_load(processes: int = 2):
    """Busy-looping processes, so the run below competes for the CPUs as under a loaded machine."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def test_deterministic_and_independent_of_workers_and_load(world, micro_params_dict, tmp_path):
    """Every file, videos included, has the same bytes with 1 or 2 workers, loaded or not."""
    p, out = world
    loaded, single = tmp_path / "loaded", tmp_path / "single"
    with _cpu_load():
        generate(_params(micro_params_dict, loaded, workers=2))
    generate(_params(micro_params_dict, single, workers=1))
    first = _digest(out)
    for again in (loaded, single):
        second = _digest(again)
        assert first.keys() == second.keys()
        assert [k for k in first if first[k] != second[k]] == [], again.name
    other = tmp_path / "other_seed"
    generate(_params(micro_params_dict, other, workers=1, seed=1))
    assert _digest(other)["ground_truth.json"] != first["ground_truth.json"]


def _fill_freed_heap(byte: int) -> None:
    """Leave ``byte`` in the heap's free memory, as another history of allocations would."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    sizes = [64, 128, 256, 512, 1024, 1536, 2048, 3072, 4096, 8192, 16384, 65536, 200000] * 8
    blocks = [libc.malloc(n) for n in sizes]
    for block, n in zip(blocks, sizes):
        ctypes.memset(block, byte, n)
    for block in blocks:
        libc.free(block)


def test_mp4_bytes_do_not_depend_on_heap_garbage(micro_params_dict, tmp_path):
    """The cause of the old differing videos: x264's mbtree read memory it had not written, so the
    bytes followed the heap's history (5 of these 16 clips varied with mbtree on)."""
    p = _params(micro_params_dict, tmp_path)
    template, _ = watermark_template(p.resolution)
    path = tmp_path / "clip.mp4"
    for spec in clip_specs(p, "train", 16):
        frames = degrade(render_clip(spec, p), template, p.watermark_alpha, p.blur_sigma)
        digests = set()
        for byte in (0x00, 0xFF, 0x80, 0x11, 0x5A, 0xA5):
            _fill_freed_heap(byte)
            write_mp4(path, frames, p.fps, p.crf)
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        assert len(digests) == 1, spec.videoid


def test_layout_matches_contract(world):
    p, out = world
    images = np.load(out / "images.npz")["images"]
    assert images.dtype == np.uint8 and images.shape == (p.num_images, p.resolution, p.resolution, 3)
    with open(out / "images.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["index", "caption", "shape", "colour", "background"]
    assert len(rows) == p.num_images
    truth = json.loads((out / "ground_truth.json").read_text())
    counts = {"train": p.num_train_videos, "heldout": p.num_heldout_videos,
              "motion_lora": p.num_motion_lora_videos}
    for split, n in counts.items():
        with open(out / f"{split}.csv") as fh:
            assert tuple(csv.DictReader(fh).fieldnames) == WEBVID_COLUMNS
        rows = read_webvid_csv(out / f"{split}.csv")
        assert len(rows) == n and all(truth[r.videoid]["split"] == split for r in rows)
        assert all(r.caption == truth[r.videoid]["caption"] for r in rows)
    assert {g["motion"] for g in truth.values() if g["split"] == "train"} == set(p.motions)
    assert {g["motion"] for g in truth.values() if g["split"] == "motion_lora"} == {"zoom_in"}
    wm = np.load(out / "watermark.npz")
    assert wm["template"].shape == (p.resolution, p.resolution) and 0 < wm["template"].mean() < 0.2
    assert float(wm["alpha"]) == pytest.approx(p.watermark_alpha)


def _object_mask(frames: np.ndarray, colour: str, background: str) -> np.ndarray:
    """Pixels nearer the object's colour than to any background colour (with or without watermark)."""
    bgs = [PLAIN_BACKGROUNDS[background]] if background in PLAIN_BACKGROUNDS else list(CHECKER)
    bgs += [0.65 * np.asarray(b) + 0.35 * 255 for b in bgs]
    f = frames.astype(np.float32)
    d_obj = np.linalg.norm(f - np.asarray(COLOURS[colour], np.float32), axis=-1)
    d_bg = np.min([np.linalg.norm(f - np.asarray(b, np.float32), axis=-1) for b in bgs], axis=0)
    return d_obj < d_bg


def test_positions_match_decoded_frames(world):
    """Centroid of the object measured in the decoded mp4 = ground-truth position (< 1 px)."""
    p, out = world
    truth = json.loads((out / "ground_truth.json").read_text())
    box = np.load(out / "watermark.npz")["box"]  # x0, y0, x1, y1: skip frames overlapping it
    checked, errors = 0, []
    for vid, gt in truth.items():
        reader = decord.VideoReader(str(out / "videos" / f"{vid}.mp4"))
        frames = reader.get_batch(list(range(p.frames))).asnumpy()
        assert frames.shape == (p.frames, p.resolution, p.resolution, 3)
        masks = _object_mask(frames, gt["colour"], gt["background"])
        el, er, eu, ed = EXTENTS[gt["shape"]]
        for t, ((x, y), s) in enumerate(zip(gt["positions"], gt["sizes"])):
            # the whole object stays inside the frame for the whole clip
            assert x - el * s >= 0 and x + er * s <= p.resolution - 1, (vid, t)
            assert y - eu * s >= 0 and y + ed * s <= p.resolution - 1, (vid, t)
            if y + ed * s + 1 >= box[1]:
                continue
            ys, xs = np.nonzero(masks[t])
            errors.append(max(abs(xs.mean() - x), abs(ys.mean() - y)))
            checked += 1
    assert checked > len(truth) * 2
    assert np.max(errors) < 1.0 and np.mean(errors) < 0.35


def test_motion_is_what_the_caption_says(world):
    p, out = world
    truth = json.loads((out / "ground_truth.json").read_text())
    for gt in truth.values():
        pos, size = np.asarray(gt["positions"]), np.asarray(gt["sizes"])
        dx, dy = pos[-1] - pos[0]
        grow = size[-1] - size[0]
        expected = {"left": dx < -1, "right": dx > 1, "up": dy < -1, "down": dy > 1,
                    "grow": grow > 1, "shrink": grow < -1, "static": abs(dx) + abs(dy) + abs(grow) == 0,
                    "zoom_in": grow > 1}[gt["motion"]]
        assert expected, gt["caption"]
        assert gt["caption"].startswith(f"a {gt['colour']} {gt['shape']}")
        assert f"on a {gt['background']} background" in gt["caption"]


def test_watermark_on_videos_only(world):
    """Bars of the template are brighter than the gaps between them in every video (measurable
    after h264), and absent from the clean images."""
    p, out = world
    template = np.load(out / "watermark.npz")["template"]
    x0, y0, x1, y1 = np.load(out / "watermark.npz")["box"]
    band = np.zeros_like(template, bool)
    band[y0:y1, x0:x1] = True
    bars, gaps = band & (template > 0), band & (template == 0)

    def contrast(frames: np.ndarray) -> np.ndarray:
        luma = frames.astype(np.float32).mean(-1)
        return luma[..., bars].mean(-1) - luma[..., gaps].mean(-1)

    vids = sorted((out / "videos").glob("*.mp4"))
    video_contrast = [contrast(decord.VideoReader(str(v)).get_batch([0, 1, 2]).asnumpy()).mean()
                      for v in vids]
    images = np.load(out / "images.npz")["images"]
    plain = [i for i, r in enumerate(_image_backgrounds(out)) if r in PLAIN_BACKGROUNDS]
    image_contrast = contrast(images[plain])
    assert np.median(video_contrast) > 25
    assert np.median(np.abs(image_contrast)) < 1


def _image_backgrounds(out: Path) -> list[str]:
    with open(out / "images.csv") as fh:
        return [r["background"] for r in csv.DictReader(fh)]


def test_zoom_in_magnifies_the_scene(world):
    p, out = world
    truth = json.loads((out / "ground_truth.json").read_text())
    for vid, gt in truth.items():
        if gt["motion"] != "zoom_in":
            continue
        frames = decord.VideoReader(str(out / "videos" / f"{vid}.mp4")).get_batch([0, p.frames - 1]).asnumpy()
        area = _object_mask(frames, gt["colour"], gt["background"]).sum(axis=(1, 2))
        ratio = (gt["sizes"][-1] / gt["sizes"][0]) ** 2
        assert area[1] / area[0] == pytest.approx(ratio, rel=0.35)


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("resolution", 30 + 1, "even"),
        ("shapes", ["circle", "hexagon"], "synth_data.shapes"),
        ("colours", ["red", "red"], "without repeats"),
        ("object_size_range", [0.3, 0.9], "0.6"),
        ("speed_range", [1.0, 0.5], "speed_range"),
        ("motion_lora_motion", "pan_left", "motion_lora_motion"),
        ("workers", 0, "workers"),
        ("codec", "vp9", "synth_data.codec"),
        ("watermark_alpha", 1.5, "watermark_alpha"),
        ("blur_sigma", -0.5, "blur_sigma"),
        ("crf", 60, "crf"),
    ],
)
def test_bad_params_rejected(micro_params_dict, key, value, fragment):
    micro_params_dict["synth_data"][key] = value
    with pytest.raises(ParamsError, match=fragment.replace(".", r"\.")):
        parse_params(micro_params_dict, "params.yaml")


def test_stage_runs_from_cli(workdir):
    from animatelab.cli import main

    assert main(["synth_data", "--set", "synth_data.num_images=4", "--set", "synth_data.num_train_videos=7",
                 "--set", "synth_data.num_heldout_videos=1",
                 "--set", "synth_data.num_motion_lora_videos=1"]) == 0
    assert len(list((workdir / "data/synth/videos").glob("*.mp4"))) == 9


def test_each_defect_switches_off_alone(micro_params_dict, tmp_path):
    """watermark_alpha 0, blur_sigma 0 and codec lossless each remove one defect: with all three off
    the decoded videos are the clean renders, bit for bit; with one on, only that one shows."""
    from animatelab.data.synth import read_ground_truth

    base = {"num_images": 2, "num_train_videos": 2, "num_heldout_videos": 1, "num_motion_lora_videos": 1, "workers": 1}
    off = {"watermark_alpha": 0.0, "blur_sigma": 0.0, "codec": "lossless"}

    def decoded(name: str, **defects):
        p = _params(micro_params_dict, tmp_path / name, **base, **{**off, **defects})
        generate(p)
        spec = clip_specs(p, "train", 1)[0]
        clean = render_clip(spec, p)  # float, as the stage degrades it
        r = decord.VideoReader(str(tmp_path / name / "videos" / f"{spec.videoid}.mp4"), num_threads=1)
        return p, spec, clean, r.get_batch(list(range(len(r)))).asnumpy()

    p, spec, clean, video = decoded("none")
    np.testing.assert_array_equal(video, np.clip(np.rint(clean), 0, 255).astype(np.uint8))
    assert read_ground_truth(tmp_path / "none")[spec.videoid]["watermark"] is False
    template, _ = watermark_template(p.resolution)
    _, _, clean, video = decoded("wm", watermark_alpha=0.35)
    np.testing.assert_array_equal(video, degrade(clean, template, 0.35, 0.0))
    _, _, clean, video = decoded("blur", blur_sigma=0.5)
    np.testing.assert_array_equal(video, degrade(clean, template, 0.0, 0.5))
    _, _, clean, video = decoded("h264", codec="h264")
    diff = np.abs(video.astype(int) - clean)
    assert diff.max() > 0 and diff[..., template > 0, :].mean() < 3 * diff.mean() + 1  # artefacts, no bars
