"""Training of the stand-in evaluation networks of the embedded default (real weights can't be fetched).

- :func:`train_video_net`: the 3-D CNN classifying motion, shape, colour and background of the
  synthetic clips; its bottleneck features give ``fvd_synth``.
- :func:`train_domain_net`: the clean-image vs video-frame classifier (``domain_video_frac``).
- :func:`train_clip`: a tiny ``clip.model.CLIP`` (ViT, widths multiples of 64) trained
  contrastively on clean images and video frames with their captions, saved as a state dict
  that ``clip.load(path, jit=False)`` also loads.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from animatelab.config import LoopParams
from animatelab.eval.domain_classifier import DomainNet, DomainNetConfig, pixels
from animatelab.eval.features import SynthVideoNet, SynthVideoNetConfig, to_unit_range

if TYPE_CHECKING:
    from animatelab.train.randomness import StepRandom

ATTRIBUTES = ("motion", "shape", "colour", "background")


def appearance_caption(shape: str, colour: str, background: str) -> str:
    """The clean-image caption format of the synthetic world (no motion phrase)."""
    from animatelab.world import caption_for

    return caption_for(shape, colour, background)


@dataclass
class LabelledClips:
    frames: np.ndarray  # (N, F, H, W, 3) uint8
    captions: list[str]
    labels: list[dict[str, str]]  # attribute -> class name


def load_labelled_clips(folder: str | Path, ground_truth: dict, max_videos: int | None = None) -> LabelledClips:
    """Prepared clips of one split with their ground-truth attributes (joined on ``videoid``)."""
    from animatelab.data.shards import list_shards, load_shard

    frames, captions, labels = [], [], []
    count = 0
    for shard in list_shards(folder):
        x, meta = load_shard(shard)
        for clip, m in zip(x, meta):
            gt = ground_truth.get(str(m["videoid"]))
            if gt is None:
                continue
            frames.append(clip)
            captions.append(m.get("caption") or gt["caption"])
            labels.append({a: str(gt[a]) for a in ATTRIBUTES})
            count += 1
            if max_videos is not None and count >= max_videos:
                return LabelledClips(np.stack(frames), captions, labels)
    if not frames:
        raise FileNotFoundError(f"no labelled clips in {folder}")
    return LabelledClips(np.stack(frames), captions, labels)


def data_digest(*arrays: np.ndarray) -> str:
    """Content hash of training arrays: a checkpoint of a net trained on other data is not resumed."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:16]


def train_video_net(train: LabelledClips, heldout: LabelledClips, loop: LoopParams, config: SynthVideoNetConfig,
                    checkpoint_dir: str | Path) -> tuple[SynthVideoNet, dict[str, float]]:
    """Multi-head classification through the shared loop (``train.loop.fit``, seeded by ``loop.seed``);
    returns the net and its held-out accuracy per attribute."""
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import TensorDict, fit

    classes = {a: sorted({lab[a] for lab in train.labels + heldout.labels}) for a in ATTRIBUTES}
    config.heads = classes
    torch.manual_seed(loop.seed)
    net = SynthVideoNet(config)
    labels = {f"y_{a}": torch.tensor([classes[a].index(lab[a]) for lab in train.labels]) for a in ATTRIBUTES}

    def loss_fn(batch: dict, rng: "StepRandom") -> torch.Tensor:
        out = net(to_unit_range(batch["frames"]))
        return sum(F.cross_entropy(out[a], batch[f"y_{a}"]) for a in ATTRIBUTES)

    fit(trainable=net, compute_loss=loss_fn, dataset=TensorDict(frames=torch.from_numpy(train.frames), **labels),
        loop=loop, checkpoint_dir=checkpoint_dir, run_name="video_net", component="video_net",
        fingerprint=params_fingerprint(loop, repr(config), data_digest(train.frames)))
    net.eval()
    return net, video_net_accuracy(net, heldout)


@torch.no_grad()
def video_net_accuracy(net: SynthVideoNet, clips: LabelledClips, batch_size: int = 64) -> dict[str, float]:
    correct = {a: 0 for a in net.config.heads}
    for i in range(0, len(clips.frames), batch_size):
        out = net(to_unit_range(torch.from_numpy(clips.frames[i : i + batch_size])))
        for a, names in net.config.heads.items():
            pred = out[a].argmax(-1).tolist()
            correct[a] += sum(names[p] == lab[a] for p, lab in zip(pred, clips.labels[i : i + batch_size]))
    return {a: c / len(clips.frames) for a, c in correct.items()}


@dataclass
class TinyClipConfig:
    embed_dim: int = 64
    width: int = 64
    layers: int = 2
    patch_size: int = 4
    image_resolution: int = 32
    context_length: int = 32

    def build(self) -> torch.nn.Module:
        from clip.model import CLIP

        for name in ("width", "embed_dim"):
            if getattr(self, name) % 64:
                raise ValueError(f"clip {name} must be a multiple of 64 (clip.load derives heads as width // 64)")
        return CLIP(
            embed_dim=self.embed_dim, image_resolution=self.image_resolution, vision_layers=self.layers,
            vision_width=self.width, vision_patch_size=self.patch_size, context_length=self.context_length,
            vocab_size=49408, transformer_width=self.width, transformer_heads=self.width // 64,
            transformer_layers=self.layers,
        )


def _normalise_images(x: torch.Tensor) -> torch.Tensor:
    from animatelab.eval.clip_scores import CLIP_MEAN, CLIP_STD

    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255 - mean) / std


def train_clip(images: np.ndarray, captions: list[str], loop: LoopParams, config: TinyClipConfig,
               checkpoint_dir: str | Path) -> torch.nn.Module:
    """Contrastive training through the shared loop; pairs with the same caption count as positives
    (soft targets), since a small world repeats captions within a batch."""
    import clip

    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import TensorDict, fit

    torch.manual_seed(loop.seed)
    model = config.build().float()
    uniq = sorted(set(captions))
    cap_id = np.array([uniq.index(c) for c in captions])
    tokens = clip.tokenize(uniq, context_length=config.context_length, truncate=True)

    def loss_fn(batch: dict, rng: "StepRandom") -> torch.Tensor:
        ids = batch["ids"]
        img = F.normalize(model.encode_image(_normalise_images(batch["images"])), dim=-1)
        txt = F.normalize(model.encode_text(tokens.to(ids.device)[ids]), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.t()
        same = (ids[:, None] == ids[None]).float()
        target = same / same.sum(1, keepdim=True)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))

    fit(trainable=model, compute_loss=loss_fn,
        dataset=TensorDict(images=torch.from_numpy(images), ids=torch.from_numpy(cap_id)),
        loop=loop, checkpoint_dir=checkpoint_dir, run_name="clip", component="clip",
        fingerprint=params_fingerprint(loop, repr(config), uniq, data_digest(images, cap_id)))
    return model.eval()


@torch.no_grad()
def clip_retrieval_accuracy(model: torch.nn.Module, images: np.ndarray, captions: list[str], candidates: list[str]) -> float:
    """Top-1 image -> text retrieval among ``candidates`` (every distinct appearance caption)."""
    import clip

    txt = F.normalize(model.encode_text(clip.tokenize(candidates, context_length=model.context_length, truncate=True)), dim=-1)
    img = F.normalize(model.encode_image(_normalise_images(torch.from_numpy(images))), dim=-1)
    pred = (img @ txt.t()).argmax(-1).tolist()
    return float(np.mean([candidates[p] == c for p, c in zip(pred, captions)]))


def save_clip(model: torch.nn.Module, path: str | Path) -> None:
    """A plain state dict (``clip.load(path, jit=False)`` loads it; :func:`load_clip` exactly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, path)


def write_report(path: str | Path, report: dict) -> None:
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


class ImageFramePairs(Dataset):
    """Item i: clean image ``i // len(frames)`` and video frame ``i % len(frames)``: a uniform draw of items
    is an independent uniform draw of each, so every batch is balanced (half images, half frames)."""

    def __init__(self, images: np.ndarray, frames: np.ndarray) -> None:
        self.images, self.frames = images, frames

    def __len__(self) -> int:
        return len(self.images) * len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": torch.from_numpy(self.images[i // len(self.frames)]),
                "frame": torch.from_numpy(self.frames[i % len(self.frames)])}


def train_domain_net(images: np.ndarray, frames: np.ndarray, loop: LoopParams, config: DomainNetConfig,
                     checkpoint_dir: str | Path) -> DomainNet:
    """Through the shared loop (``train.loop.fit``), on batches of ``loop.batch_size`` (image, frame) pairs of
    uint8 (N, H, W, 3) arrays, with random horizontal flips so that the net cannot key on where objects tend to be."""
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit

    torch.manual_seed(loop.seed)
    net = DomainNet(config)

    def flipped(x: torch.Tensor, rng: "StepRandom") -> torch.Tensor:
        return torch.where((rng.rand(len(x)) < 0.5).view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)

    def loss_fn(batch: dict, rng: "StepRandom") -> torch.Tensor:
        x = torch.cat([flipped(pixels(batch["image"]), rng), flipped(pixels(batch["frame"]), rng)])
        y = torch.cat([torch.zeros(len(batch["image"])), torch.ones(len(batch["frame"]))]).to(x.device)
        return F.binary_cross_entropy_with_logits(net(x), y)

    fit(trainable=net, compute_loss=loss_fn, dataset=ImageFramePairs(images, frames), loop=loop,
        checkpoint_dir=checkpoint_dir, run_name="domain_net", component="domain_net",
        fingerprint=params_fingerprint(loop, asdict(config), data_digest(images, frames)))
    return net.eval()
