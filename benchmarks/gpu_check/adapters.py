"""The only place the GPU check calls the project: one small function per step it needs.

Other branches change these modules' internals (keyword arguments are only ever added), so every
call here passes keyword arguments, and a changed call is fixed in one function.

Every network built here has random weights: the pretrained files (Inception, VGG16, NVIDIA's
pickles) are not on the GPU machine. The architectures are the real ones, so the speed is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"   # the registered file names, holding random weights
VGG16_FILE = "vgg16-397923af.pth"


def build_generator(resolution: int, overrides: Mapping[str, Any], device: torch.device, seed: int = 0) -> Any:
    """Config F (preset ``f-mixing90``) at ``resolution`` with random weights, in eval mode on ``device``."""
    import reference_models as rm
    return rm.build_generator("f-mixing90", resolution=resolution, seed=seed, device=device,
                              **dict(overrides)).eval().requires_grad_(False)


def build_sg3_shaped(config: str, resolution: int, scale: int, device: torch.device) -> Any:
    """A StyleGAN3-shaped generator (tests/sg3_shaped.py, config 't' or 'r', channels / ``scale``), random
    weights, on ``device``. Its filtered leaky ReLU is written with plain torch ops, as NVIDIA's reference
    (non-CUDA-kernel) path computes it: on a GPU it is slower than their fused kernel."""
    from tests.sg3_shaped import make_generator
    return make_generator(config, resolution=resolution, scale=scale).to(device)


def save_generator(G: Any, folder: Path) -> Path:
    """A checkpoint folder (config.json + model.pt) that ``dmetrics score`` loads."""
    import reference_models as rm
    return Path(rm.save_checkpoint(G.cpu(), folder))


def build_classifiers(count: int, resolution: int, overrides: Mapping[str, Any], device: torch.device) -> list:
    """``count`` single-logit attribute classifiers (the paper's 40 networks), random weights."""
    import reference_models as rm
    return [rm.build_classifier(num_attributes=1, resolution=resolution, seed=1000 + k, device=device,
                                **dict(overrides)).eval().requires_grad_(False) for k in range(count)]


def random_inception(folder: Path, device: torch.device, calib_images: int = 6) -> Any:
    """The FID Inception-v3 extractor built from random calibrated weights in pytorch-fid's file format."""
    from disentangle_metrics.features import build_extractor
    from disentangle_metrics.features.random_weights import random_inception_state_dict
    path = folder / INCEPTION_FILE
    torch.save(random_inception_state_dict(seed=0, calib_images=calib_images), path)
    return build_extractor("inception-v3-tf", weights=str(path), device=device, allow_hash_mismatch=True)


def reference_stats(dim: int, count: int, device: torch.device) -> Any:
    """FID reference statistics of ``count`` random features (the speed of FID does not depend on them)."""
    from disentangle_metrics.functional.stats import FeatureStats
    g = torch.Generator(device="cpu").manual_seed(0)
    st = FeatureStats(dim, device=device)
    for _ in range(max(1, count // 1024)):
        st.update(torch.randn(1024, dim, generator=g).to(device))
    return st


def run_fid(G: Any, reference: Any, extractor: Any, num_gen: int, batch_size: int, device: torch.device) -> Any:
    """``dm.fid`` -> MetricResult (extras: shared_generate_s, images_per_s)."""
    from disentangle_metrics import fid
    return fid(G, reference=reference, num_samples=num_gen, batch_size=batch_size, seed=0, device=device,
               extractor=extractor)


VGG16_CONVS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def write_random_vgg16(path: Path, seed: int = 0) -> Path:
    """A random VGG16 trunk (He-normal 3x3 convolutions) in torchvision's file layout ``features.N.*``.

    Built from the layer table rather than torchvision.models.vgg16(), whose 120M-parameter
    classifier head LPIPS never reads and which takes seconds to initialise on a CPU.
    """
    g = torch.Generator().manual_seed(seed)
    sd, idx, cin = {}, 0, 3
    for v in VGG16_CONVS:
        if v == "M":
            idx += 1                                   # max-pool: no parameters
            continue
        sd[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.zeros(v)
        idx, cin = idx + 2, v                          # conv then ReLU
    torch.save(sd, path)
    return path


def random_lpips(folder: Path, device: torch.device) -> Any:
    """LPIPS-VGG (the ``lpips`` package's linear layers) on a random VGG16 trunk."""
    from disentangle_metrics.metrics.distances import build_distance
    path = write_random_vgg16(folder / VGG16_FILE)
    return build_distance("lpips-vgg", device=device, dtype=torch.float32,
                          weight_paths={"vgg16-torchvision": str(path)}, allow_hash_mismatch=True)


def wrap_distance(dist: Any, fn: Any) -> Any:
    """The Distance ``dist`` with its function replaced by ``fn`` (name and provenance kept)."""
    from disentangle_metrics.metrics.distances import Distance
    return Distance(name=dist.name, fn=fn, weights=dict(dist.weights), description=dist.description)


def run_ppl(G: Any, distance: Any, num_samples: int, batch_size: int, device: torch.device) -> Any:
    """``disentangle_metrics.metrics.ppl.ppl``: ppl_wfull, the v1 definition (crop, float32; ppl() turns TF32 off)."""
    from disentangle_metrics.metrics.ppl import ppl
    return ppl(G, space="w", sampling="full", num_samples=num_samples, crop=True, distance=distance,
               batch_size=batch_size, seed=0, device=device, mode="tf", dtype=torch.float32)


def run_ls_sampling(G: Any, classifiers: Sequence[Any], num_samples: int, batch_size: int,
                    device: torch.device) -> Any:
    """The sampling stage of separability (generate, box-downsample, classify) -> SampledLatents.

    Under ``metric_precision`` (TF32 off), as ``separability()`` runs it.
    """
    from disentangle_metrics._core.device import metric_precision
    from disentangle_metrics.metrics.separability import sample_latents_and_logits
    with metric_precision():
        return sample_latents_and_logits(G, list(classifiers), num_samples=num_samples, spaces=("z", "w"),
                                         batch_size=batch_size, seed=0, device=device)


def run_ls_svm(latents: Mapping[str, torch.Tensor], logits: torch.Tensor, num_keep: int, device: torch.device) -> Any:
    """The SVM stage: ``separability_from_samples`` with the batched torch solver on ``device`` (TF32 off,
    as ``separability()`` runs it)."""
    from disentangle_metrics._core.device import metric_precision
    from disentangle_metrics.metrics.separability import separability_from_samples
    with metric_precision():
        return separability_from_samples(dict(latents), logits, num_keep=num_keep, backend="torch", device=device)


def make_trainer(folder: Path, resolution: int, batch: int, g_overrides: Mapping[str, Any],
                 d_overrides: Mapping[str, Any], mirror: bool, device: torch.device) -> tuple[Any, Any]:
    """(Trainer of config F at a fixed resolution on random uint8 reals, its lod-0 schedule)."""
    import numpy as np
    from reference_models.train import TrainConfig, Trainer, schedule
    n = max(2 * batch, min(64, 2 ** 26 // (3 * resolution ** 2)))       # at most ~64 MB of reals
    reals = np.random.default_rng(0).integers(0, 256, (n, 3, resolution, resolution), dtype=np.uint8)
    np.save(folder / "reals.npy", reals)
    cfg = TrainConfig(preset="f-mixing90", resolution=resolution, data=str(folder / "reals.npy"), out=str(folder / "run"),
                      total_kimg=1e6, batch=batch, progressive=False, mirror=mirror, device=str(device), grid_size=2,
                      g_overrides=dict(g_overrides), d_overrides=dict(d_overrides))
    tr = Trainer(cfg, progress=False)
    return tr, schedule(cfg, 0)


def train_step(trainer: Any, sch: Any) -> None:
    """One training step (D step with R1, then G step)."""
    trainer.train_step(sch)


def close_trainer(trainer: Any) -> None:
    """Stop the trainer's prefetching loader."""
    trainer.loader.close()


def score_command(generator: Path, out: Path, num_samples: int, batch_size: int, device: str) -> list[str]:
    """Arguments of ``dmetrics score`` for the torchrun parity run: ppl_wend on the test-bed distance."""
    return ["score", str(generator), "--metrics", "ppl_wend", "--distance", "testbed-lpips",
            "--num-samples", str(num_samples), "--batch-size", str(batch_size), "--seed", "0",
            "--device", device, "--out", str(out), "--no-progress",
            "--no-check"]   # a randomly initialised generator overshoots [-1, 1]: this step checks torchrun, not G


def cli_main(argv: Sequence[str]) -> int:
    """Run the project's CLI (``cli.main``) in this process with ``argv``; returns its exit code."""
    from cli.main import main
    try:
        main(list(argv), standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def dist_backend() -> str:
    """The process group's backend after the project's own ``init_from_env`` ('none' without torchrun)."""
    import torch.distributed as dist
    from disentangle_metrics._core.distributed import init_from_env
    init_from_env()
    return str(dist.get_backend()) if dist.is_initialized() else "none"
