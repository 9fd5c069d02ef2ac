"""Video feature networks for FVD behind one interface: uint8 videos (N, F, H, W, 3) -> (N, d).

- :class:`SynthVideoNet`: the small 3-D CNN trained on the synthetic world (default FVD,
  reported as ``fvd_synth``; not comparable to published FVD).
- :class:`I3DFeatures`: the standard protocol (224x224, [-1, 1], 16 frames, 400-d logits)
  around a local StyleGAN-V TorchScript I3D (``torch.jit.load``) or any module of that
  interface. Nothing is downloaded: the weight file is a local path in params.
- :class:`VideoMAEFeatures`: mean-pooled tokens of a transformers ``VideoMAEModel`` from a local
  ``save_pretrained`` folder (VideoMAE-v2-style backbone, as in content-debiased FVD): a video
  transformer, reported to weigh motion more than I3D does (RQ1 is appearance vs. motion).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from animatelab.config import EvaluateParams


def to_unit_range(videos: torch.Tensor) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) -> float (N, 3, F, H, W) in [-1, 1]."""
    x = videos.permute(0, 4, 1, 2, 3).float()
    return x / 127.5 - 1.0


def resize_frames(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (N, C, F, H, W) frames to size x size (bilinear, per frame)."""
    n, c, f, h, w = x.shape
    if (h, w) == (size, size):
        return x
    frames = x.permute(0, 2, 1, 3, 4).reshape(n * f, c, h, w)
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    return frames.reshape(n, f, c, size, size).permute(0, 2, 1, 3, 4)


@dataclass
class SynthVideoNetConfig:
    """Config saved beside the weights (``video_net.json``) so the net rebuilds exactly."""

    resolution: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 16
    temporal_stride: int = 2  # every other frame: motion stays visible, compute halves
    heads: dict[str, list[str]] = field(default_factory=dict)  # head name -> class labels

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SynthVideoNetConfig":
        data = json.loads(Path(path).read_text())
        data["channels"] = tuple(data["channels"])
        return cls(**data)


def moment_pool(h: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, 6C): per channel and frame the mass and its x/y centre, then their
    means over time and mean frame-to-frame changes. Where things are and how they move survive
    pooling, which a plain global average would erase (it cannot tell left from right)."""
    n, c, t, hh, ww = h.shape
    v = torch.linspace(-1, 1, hh, device=h.device).view(1, 1, 1, hh, 1)
    u = torch.linspace(-1, 1, ww, device=h.device).view(1, 1, 1, 1, ww)
    m = torch.stack([h.mean((3, 4)), (h * u).mean((3, 4)), (h * v).mean((3, 4))], dim=2)  # (N, C, 3, T)
    change = (m[..., 1:] - m[..., :-1]).mean(-1) if t > 1 else torch.zeros_like(m[..., 0])
    return torch.cat([m.mean(-1), change * t], dim=2).flatten(1)


class SynthVideoNet(nn.Module):
    """3-D CNN classifying motion, shape, colour and background; its bottleneck feeds fvd_synth.

    The bottleneck is small (``feature_dim``) on purpose: an evaluation run has ~32 videos and
    the Fréchet distance needs more videos than feature dimensions.
    """

    def __init__(self, config: SynthVideoNetConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 6  # RGB + temporal difference (makes motion explicit for a tiny net)
        for i, c_out in enumerate(config.channels):
            stride = (1, 2, 2)
            layers += [nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(8, c_out), nn.SiLU()]
            c_in = c_out
        self.encoder = nn.Sequential(*layers)
        self.bottleneck = nn.Linear(6 * c_in, config.feature_dim)
        self.heads = nn.ModuleDict({k: nn.Linear(config.feature_dim, len(v)) for k, v in config.heads.items()})
        self.num_features = config.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, F, H, W) in [-1, 1] -> (N, feature_dim), pooled over space and time."""
        x = resize_frames(x[:, :, :: self.config.temporal_stride], self.config.resolution)
        diff = torch.cat([torch.zeros_like(x[:, :, :1]), x[:, :, 1:] - x[:, :, :-1]], dim=2)
        return self.bottleneck(moment_pool(self.encoder(torch.cat([x, diff], dim=1))))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.silu(self.features(x))
        return {k: head(h) for k, head in self.heads.items()}

    def save(self, weights_path: str | Path) -> None:
        from safetensors.torch import save_file

        weights_path = Path(weights_path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(weights_path))
        self.config.save(weights_path.with_suffix(".json"))

    @classmethod
    def load(cls, weights_path: str | Path) -> "SynthVideoNet":
        from safetensors.torch import load_file

        weights_path = Path(weights_path)
        net = cls(SynthVideoNetConfig.load(weights_path.with_suffix(".json")))
        net.load_state_dict(load_file(str(weights_path)))
        return net.eval()


class VideoFeatures(nn.Module):
    """Base of the FVD feature interface: ``num_features`` and uint8 videos -> (N, d)."""

    num_features: int
    name: str


class SynthFeatures(VideoFeatures):
    def __init__(self, net: SynthVideoNet):
        super().__init__()
        self.net = net.eval()
        self.num_features = net.config.feature_dim
        self.name = "synth"

    @torch.no_grad()
    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        return self.net.features(to_unit_range(videos))


class I3DFeatures(VideoFeatures):
    """Standard FVD protocol around an I3D with StyleGAN-V's TorchScript call signature.

    ``detector(x, rescale=False, resize=False, return_features=True)`` with ``x`` (N, 3, 16, 224, 224)
    in [-1, 1] returns the 400-d logits. Frames are resized per batch, so memory stays bounded.
    """

    def __init__(self, detector: nn.Module, num_frames: int = 16, resolution: int = 224, num_features: int = 400):
        super().__init__()
        self.detector = detector.eval()
        self.num_frames = num_frames
        self.resolution = resolution
        self.num_features = num_features
        self.name = "i3d"

    @torch.no_grad()
    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        if videos.shape[1] < self.num_frames:
            raise ValueError(f"I3D FVD protocol needs {self.num_frames} frames, got {videos.shape[1]}")
        x = resize_frames(to_unit_range(videos[:, : self.num_frames]), self.resolution)
        out = self.detector(x, rescale=False, resize=False, return_features=True)
        return out.reshape(out.shape[0], -1)


def load_i3d(path: str | Path, num_frames: int = 16) -> I3DFeatures:
    """A local StyleGAN-V ``i3d_torchscript.pt`` (TorchScript archive), loaded with torch.jit.load."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"I3D weights not found: {path} (download it yourself; nothing is fetched)")
    return I3DFeatures(torch.jit.load(str(path), map_location="cpu"), num_frames=num_frames)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # VideoMAE's normalisation


class VideoMAEFeatures(VideoFeatures):
    """(N, d) mean-pooled last-layer tokens of a ``VideoMAEModel`` (d = hidden size).

    Frames: the first ``config.num_frames``, resized to ``config.image_size`` and normalised with
    ImageNet mean/std, the input the model was trained on (its position embeddings fix both).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()
        cfg = model.config
        self.num_frames, self.resolution, self.num_features = cfg.num_frames, cfg.image_size, cfg.hidden_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False)
        self.name = "videomae"

    @torch.no_grad()
    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        if videos.shape[1] < self.num_frames:
            raise ValueError(f"VideoMAE FVD needs {self.num_frames} frames (its config), "
                             f"got {videos.shape[1]}")
        x = resize_frames(to_unit_range(videos[:, : self.num_frames]), self.resolution)  # (N, 3, F, H, W)
        x = ((x.permute(0, 2, 1, 3, 4) + 1) / 2 - self.mean) / self.std  # (N, F, 3, H, W) for VideoMAE
        return self.model(pixel_values=x).last_hidden_state.mean(1)


def load_videomae(path: str | Path) -> VideoMAEFeatures:
    """A local ``VideoMAEModel.save_pretrained`` folder (config.json + weights); never downloads."""
    from transformers import VideoMAEModel

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"VideoMAE folder not found or without config.json: {path} "
                                "(nothing is fetched)")
    return VideoMAEFeatures(VideoMAEModel.from_pretrained(str(path), local_files_only=True))


FVD_METRIC = {"synthetic": "fvd_synth", "i3d": "fvd_i3d", "videomae": "fvd_videomae"}  # backbone -> key


def feature_net_path(p: "EvaluateParams") -> str:
    """The weights path param of ``p.fvd_backbone``."""
    return {"i3d": p.i3d_path, "videomae": p.videomae_path}.get(p.fvd_backbone, p.video_net)


def load_feature_net(backbone: str, path: str | Path, num_frames: int = 16) -> VideoFeatures:
    """The FVD feature network named in params: ``synthetic`` (SynthVideoNet), ``i3d`` or ``videomae``."""
    if backbone == "synthetic":
        return SynthFeatures(SynthVideoNet.load(path))
    if backbone == "i3d":
        return load_i3d(path, num_frames)
    if backbone == "videomae":
        return load_videomae(path)
    raise ValueError(f"unknown FVD backbone {backbone!r}")
