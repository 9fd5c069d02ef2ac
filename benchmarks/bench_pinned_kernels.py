"""Training numerics and speed with torch's CPU kernels pinned to AVX2 vs chosen by the CPU.

Trained weights differ between CPU kinds (README, Reproducibility) because ATen, oneDNN and MKL pick
kernels by instruction set. Pinning all three to AVX2 (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``,
``MKL_CBWR``) is the candidate fix; this measures, on this machine, whether the pin changes the numbers
at all (it must, if kernel choice is the cause) and what it costs. Each variant runs in a fresh process:
the same seeded UNet-sized model, 30 AdamW steps on fixed random data, 2 threads.

    .venv/bin/python benchmarks/bench_pinned_kernels.py [OUT.json]

Writes reports/bench/pinned_kernels.json (or OUT.json). Run it on two CPU kinds and compare the
``weights_sha256`` of each variant: equal digests mean that variant's kernels agree across them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
STEPS = 30

CHILD = r"""
import hashlib, json, time, torch
from diffusers import UNet2DConditionModel
torch.set_num_threads(2)
torch.manual_seed(0)
unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(64, 128),
                            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=2,
                            cross_attention_dim=64, attention_head_dim=8, norm_num_groups=32)
opt = torch.optim.AdamW(unet.parameters(), lr=5e-4)
g = torch.Generator().manual_seed(1)
x, text, noise = torch.randn(64, 4, 8, 8, generator=g), torch.randn(64, 8, 64, generator=g), torch.randn(64, 4, 8, 8, generator=g)
t = torch.randint(0, 1000, (64,), generator=g)
losses, start = [], None
for step in range(STEPS):
    if step == 1:
        start = time.perf_counter()
    loss = torch.nn.functional.mse_loss(unet(x, t, text).sample, noise)
    opt.zero_grad(); loss.backward(); opt.step()
    losses.append(loss.item())
seconds = (time.perf_counter() - start) / (STEPS - 1)
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in unet.parameters())).hexdigest()
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "seconds_per_step": round(seconds, 4),
                  "loss_first_last": [losses[0], losses[-1]], "weights_sha256": digest}))
""".replace("STEPS", str(STEPS))


def run(extra_env: dict[str, str]) -> dict:
    env = {**os.environ, **extra_env, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_field(name: str) -> str:
    """A field of /proc/cpuinfo's first processor: weights are compared between CPU kinds by these."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return "unknown"


def main() -> None:
    default = run({})
    pinned = run(PINNED)
    again = run(PINNED)
    report = {
        "steps": STEPS, "batch": 64, "latent": "4x8x8", "unet_block_out_channels": [64, 128], "pinned_env": PINNED,
        "default": default, "pinned": pinned,
        "pinned_repeat_same_weights": pinned["weights_sha256"] == again["weights_sha256"],
        "pin_changes_weights": pinned["weights_sha256"] != default["weights_sha256"],
        "speed_ratio_pinned_over_default": round(default["seconds_per_step"] / pinned["seconds_per_step"], 3),
        "cpu": cpu_field("model name"),
        "cpu_family_model": f"{cpu_field('cpu family')}/{cpu_field('model')}",   # AMD 25 = Zen 3/4, 26 = Zen 5
    }
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "reports/bench/pinned_kernels.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))  # one line: benchmarks/run_all.py reads the last JSON line


if __name__ == "__main__":
    main()
