"""The measured steps of the GPU check; each runs in a process of its own:

    python -m benchmarks.gpu_check.steps STEP [STEP ...] --mode paper|smoke --device cuda --out-dir DIR --budget STEP=S

(the step ``gpu_tests`` is :mod:`.gpu_tests`, with the same arguments, and imports no torch).

A step writes its results to ``--out-dir/STEP.json`` after every measurement (see :mod:`.record`), so what it
measured survives when the runner kills it at its budget. Timed phases are sized from a short
calibration run so they last about ``Sizes.target_s`` seconds whatever the device's speed.
All networks have random weights of the real architectures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from . import adapters as A
from .plan import PAPER_LS_KEEP, PAPER_SAMPLES, Sizes, sizes_for
from .record import PYTHON, Recorder, count_for, env_with_repo, run_bounded, tail, timed

REPO = Path(__file__).resolve().parents[2]


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def step_fid(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """Generation + Inception features through ``fid()``, then the extractor alone (for the reals)."""
    G = A.build_generator(sz.resolution, sz.g_overrides, dev)
    ext, t_build = timed(lambda: A.random_inception(tmp, dev, sz.inception_calib_images), None)
    ref = A.reference_stats(ext.feature_dim, 4096 if sz.mode == "paper" else 64, dev)
    b = sz.fid_batch
    rec.put(generator=f"f-mixing90 {sz.resolution}x{sz.resolution}", generator_params=_params(G),
            extractor="inception-v3-tf (random calibrated weights)", extractor_build_s=t_build, batch_size=b)
    n = sz.min_timed * b
    if sz.calibrate:
        _, t_warm = timed(lambda: A.run_fid(G, ref, ext, b, b, dev), dev)      # cuDNN choice, allocator
        rec.put(warmup_s=t_warm)
        r = A.run_fid(G, ref, ext, 2 * b, b, dev)
        n = count_for(r.extras["images_per_s"], sz.target_s["fid"], b, n, PAPER_SAMPLES["fid50k"])
        rec.put(calibration_images_per_s=r.extras["images_per_s"])
    r = A.run_fid(G, ref, ext, n, b, dev)
    rec.put(images=n, generate_s=r.extras["shared_generate_s"], images_per_s=r.extras["images_per_s"],
            fid_value_random_weights=r.value, result_device=r.device)
    x = torch.randint(0, 256, (b, 3, sz.resolution, sz.resolution), dtype=torch.uint8, device=dev)
    with torch.inference_mode():
        _, t1 = timed(lambda: ext(x), dev)
        k = count_for(b / max(t1, 1e-9), sz.target_s["fid_features"], b, b, 100_000) // b
        _, t = timed(lambda: [ext(x) for _ in range(k)], dev)
    rec.put(features_images=k * b, features_s=t, features_images_per_s=k * b / t)
    return True


def step_feature_spaces(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """DINOv2 ViT-L/14 (FD_DINOv2, EDM2's preprocessing) and CLIP ViT-L/14@336 (CMMD's) per-image throughput,
    uint8 256x256 batches in, features out, float32 with TF32 off (random weights: speed only)."""
    from disentangle_metrics.features.clip import CLIPImageEmbedding
    from disentangle_metrics.features.clip_net import VIT_L14_336, VisionTransformer, VisualConfig
    from disentangle_metrics.features.dinov2 import DINOv2Extractor
    from disentangle_metrics.features.dinov2_net import DEPTH, EMBED_DIM, NUM_HEADS, DinoV2ViT
    s, b = sz.vit_scale, sz.vit_batch
    nets = {
        "dinov2": lambda: DINOv2Extractor(DinoV2ViT(EMBED_DIM // s, max(1, DEPTH // s), max(1, NUM_HEADS // s)),
                                          "torch"),
        "clip": lambda: CLIPImageEmbedding(VisionTransformer(VisualConfig(
            width=VIT_L14_336.width // s, layers=max(1, VIT_L14_336.layers // s), heads=max(1, VIT_L14_336.heads // s),
            output_dim=VIT_L14_336.output_dim // s))),
    }
    rec.put(scale=f"widths and depths / {s}" if s > 1 else "ViT-L (full size)", batch_size=b,
            input="uint8 256x256 (resized by each extractor's own preprocessing)")
    x = torch.randint(0, 256, (b, 3, 256, 256), dtype=torch.uint8, device=dev)
    for name, make in nets.items():
        ext, t_build = timed(lambda: make().to(dev).eval(), dev)
        with torch.inference_mode():
            _, t_warm = timed(lambda: ext(x), dev)
            _, t1 = timed(lambda: ext(x), dev)
            k = count_for(b / max(t1, 1e-9), sz.target_s[name], b, b, 100_000) // b if sz.calibrate else sz.min_timed
            _, t = timed(lambda: [ext(x) for _ in range(k)], dev)
        rec.put(**{f"{name}_build_s": t_build, f"{name}_warmup_s": t_warm, f"{name}_images": k * b,
                   f"{name}_images_per_s": k * b / t, f"{name}_params": _params(ext)})
        del ext
    return True


def step_ppl(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """ppl_wfull with LPIPS-VGG (random trunk); records the TF32 flags and image size the distance sees."""
    G = A.build_generator(sz.resolution, sz.g_overrides, dev)
    dist = A.random_lpips(tmp, dev)
    seen: dict[str, Any] = {}

    def spy(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        if not seen:
            seen.update(tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32,
                        float32_matmul_precision=torch.get_float32_matmul_precision(),
                        image_shape=list(img0.shape), image_dtype=str(img0.dtype))
        return dist.fn(img0, img1)

    d = A.wrap_distance(dist, spy)
    b = sz.ppl_batch
    rec.put(generator=f"f-mixing90 {sz.resolution}x{sz.resolution}", distance="lpips-vgg (random VGG16 trunk)",
            batch_pairs=b, definition="ppl_wfull, v1: crop, epsilon 1e-4, float32, 1st/99th percentile filter")
    n = max(2, sz.min_timed * b)
    if sz.calibrate:
        _, t_warm = timed(lambda: A.run_ppl(G, d, 2 * b, b, dev), dev)
        rec.put(warmup_s=t_warm)
        r = A.run_ppl(G, d, 2 * b, b, dev)
        n = count_for(r.extras["samples_per_s"], sz.target_s["ppl"], b, n, PAPER_SAMPLES["ppl"])
    r = A.run_ppl(G, d, n, b, dev)
    ok = not seen["tf32_matmul"] and not seen["tf32_cudnn"] and seen["image_dtype"] == "torch.float32"
    rec.put(samples=n, wall_s=r.wall_time_s, samples_per_s=r.extras["samples_per_s"], distance_saw=dict(seen),
            ppl_value_random_weights=r.value, tf32_off=ok, images_per_call=r.config["images_per_call"])
    del G
    return _ppl_sg3(sz, dev, rec, d, b) and ok


def _ppl_sg3(sz: Sizes, dev: torch.device, rec: Recorder, d: Any, b: int) -> bool:
    """The same PPL on a StyleGAN3-T-shaped generator (issue 27: PPL throughput per generator family)."""
    G = A.build_sg3_shaped("t", sz.ppl_sg3_resolution, sz.ppl_sg3_scale, dev)
    info = dict(generator=f"StyleGAN3-T shape {sz.ppl_sg3_resolution}x{sz.ppl_sg3_resolution}, channels / "
                f"{sz.ppl_sg3_scale} (tests/sg3_shaped.py; filtered leaky ReLU in plain torch ops, not NVIDIA's kernel)",
                generator_params=_params(G), batch_pairs=b)
    rec.put(sg3=info)
    n = max(2, sz.min_timed * b)
    if sz.calibrate:
        _, t_warm = timed(lambda: A.run_ppl(G, d, b, b, dev), dev)
        r = A.run_ppl(G, d, 2 * b, b, dev)
        n = count_for(r.extras["samples_per_s"], sz.target_s["ppl_sg3"], b, n, PAPER_SAMPLES["ppl"])
        info.update(warmup_s=t_warm)
    r = A.run_ppl(G, d, n, b, dev)
    info.update(samples=n, samples_per_s=r.extras["samples_per_s"], images_per_call=r.config["images_per_call"],
                images_per_call_rule=r.config["images_per_call_rule"], adapter=r.config["generator"]["adapter"],
                ppl_value_random_weights=r.value)
    rec.put(sg3=info)
    # the authors' sampler (transcribed: 2 pairs per minibatch, one synthesis call each) on the same G and
    # distance, so the record holds issue 27's ratio measured on the device
    from benchmarks.ppl_anchor import NoSplit, run_theirs
    tb = 2
    n_theirs = max(2 * tb, sz.min_timed * tb)
    if sz.calibrate:
        run_theirs(G, d, 2 * tb, tb, NoSplit(), sampling="full")                 # warm-up
        rate, _, _ = run_theirs(G, d, 4 * tb, tb, NoSplit(), sampling="full")
        n_theirs = count_for(rate, sz.target_s["ppl_sg3_theirs"], tb, n_theirs, PAPER_SAMPLES["ppl"])
    rate, _, value = run_theirs(G, d, n_theirs, tb, NoSplit(), sampling="full")
    info.update(theirs_samples=n_theirs, theirs_batch_pairs=tb, theirs_samples_per_s=rate,
                theirs_value_random_weights=value, ours_over_theirs=info["samples_per_s"] / rate if rate > 0 else None)
    rec.put(sg3=info)
    return info["adapter"] == "stylegan3" and r.value == r.value       # recognised, and not NaN


def step_ls(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """Sampling with one single-logit classifier per attribute, then the SVM stage at the paper's size."""
    G = A.build_generator(sz.resolution, sz.g_overrides, dev)
    clfs = A.build_classifiers(sz.ls_attributes, sz.ls_classifier_resolution, sz.ls_classifier_overrides, dev)
    b = sz.ls_batch
    rec.put(generator=f"f-mixing90 {sz.resolution}x{sz.resolution}", classifiers=sz.ls_attributes,
            classifier_resolution=sz.ls_classifier_resolution, classifier_params_each=_params(clfs[0]), batch_size=b)
    n, t_warm = sz.min_timed * b, None
    if sz.calibrate:
        _, t_warm = timed(lambda: A.run_ls_sampling(G, clfs, b, b, dev), dev)
        _, t2 = timed(lambda: A.run_ls_sampling(G, clfs, 2 * b, b, dev), dev)
        n = count_for(2 * b / t2, sz.target_s["ls_sampling"], b, n, PAPER_SAMPLES["ls"])
    _, t = timed(lambda: A.run_ls_sampling(G, clfs, n, b, dev), dev)
    rec.put(warmup_s=t_warm, sampling_samples=n, sampling_s=t, sampling_samples_per_s=n / t)
    del G, clfs
    # Synthetic latents: z ~ N(0, I), w a random leaky-ReLU map of z, logits linear in w plus noise,
    # so every attribute has a learnable, imperfect boundary as with a real generator.
    N, D, Aa = sz.svm_samples, sz.svm_dim, sz.ls_attributes
    g = torch.Generator().manual_seed(0)
    z = torch.randn(N, D, generator=g)
    w = torch.nn.functional.leaky_relu(z @ (torch.randn(D, D, generator=g) / D ** 0.5), 0.2)
    logits = 3 * w @ (torch.randn(D, Aa, generator=g) / D ** 0.5) + torch.randn(N, Aa, generator=g)
    lat = {"z": z.to(dev), "w": w.to(dev)}
    logits = logits.to(dev)
    keep = PAPER_LS_KEEP if N == PAPER_SAMPLES["ls"] else N // 2
    res, t_svm = timed(lambda: A.run_ls_svm(lat, logits, keep, dev), dev)
    status = {s: {k: v.count(k) for k in set(v)} for s, v in res.status.items()}
    rec.put(svm_samples=N, svm_keep=keep, svm_dim=D, svm_attributes=Aa, svm_spaces=sorted(lat),
            svm_s=t_svm, svm_s_per_space=res.svm_time_s, svm_status=status,
            svm_scores_synthetic=res.scores)
    return not any("failed" in v for v in status.values())       # a fit that failed is a real problem


def _train(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, settings: dict, target_s: float) -> bool:
    tr, sch = A.make_trainer(tmp, device=dev, **settings)
    try:
        rec.put(settings={k: v for k, v in settings.items()}, amp_bf16=tr.amp, channels_last=tr.channels_last,
                G_params=_params(tr.G), D_params=_params(tr.D))
        k, t_warm = sz.min_timed, None
        if sz.calibrate:
            _, t_warm = timed(lambda: [A.train_step(tr, sch) for _ in range(2)], dev)
            _, t1 = timed(lambda: A.train_step(tr, sch), dev)
            k = count_for(1 / t1, target_s, 1, k, 100_000)
        _, t = timed(lambda: [A.train_step(tr, sch) for _ in range(k)], dev)
        ips = k * settings["batch"] / t
        rec.put(warmup_s=t_warm, steps=k, seconds=t, images_per_s=ips, kimg_per_hour=ips * 3.6,
                skipped_steps=int(tr.progress["skipped_steps"]))
        return int(tr.progress["skipped_steps"]) == 0
    finally:
        A.close_trainer(tr)


def step_train1024(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """Training img/s of config F at the paper's resolution (lod 0, one-GPU minibatch 4)."""
    return _train(sz, dev, rec, tmp, sz.train_big, sz.target_s["train1024"])


def step_train32(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """Training img/s of the mini recipe (32x32, fmap_base 256, fmap_max 32, latent 128, batch 32)."""
    return _train(sz, dev, rec, tmp, sz.train_mini, sz.target_s["train32"])


def _read_metric(path: Path) -> dict[str, Any]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    if len(lines) != 1:
        raise RuntimeError(f"{path}: expected one result line, found {len(lines)}")
    return lines[0]


def step_torchrun(sz: Sizes, dev: torch.device, rec: Recorder, tmp: Path, budget: float) -> bool:
    """``dmetrics score`` under torchrun (1 process, the project's backend choice: NCCL on CUDA) vs plain."""
    G = A.build_generator(32, sz.torchrun_g_overrides, torch.device("cpu"))
    gdir = A.save_generator(G, tmp / "generator")
    env = env_with_repo(REPO)
    env["GPU_CHECK_THREADS"] = str(torch.get_num_threads())   # float32 sums depend on the thread count
    deadline = time.perf_counter() + budget - 10
    runs = {}
    for kind in ("single", "torchrun"):
        out, probe, log = tmp / f"{kind}.jsonl", tmp / f"{kind}-probe.json", tmp / f"{kind}.log"
        args = [str(probe), *A.score_command(gdir, out, sz.torchrun_samples, 16 if sz.mode == "paper" else 4, dev.type)]
        if kind == "single":            # in this process: no torchrun variables, so no process group
            from .dist_probe import main as probe_main
            t_start = time.perf_counter()
            rc = probe_main(args)
            secs = time.perf_counter() - t_start
            log.write_text("(ran in the step's own process: its output is in the step's log)\n")
        else:
            cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                   "-m", "benchmarks.gpu_check.dist_probe", *args]
            rc, secs = run_bounded(cmd, deadline - time.perf_counter(), cwd=REPO, env=env, log=log)
        runs[kind] = dict(rc=rc, seconds=secs, log_tail=tail(log, 1500))
        if rc == 0:
            res = _read_metric(out)
            runs[kind].update(metric=res["metric"], value=res["value"], device=res.get("device"),
                              backend=json.loads(probe.read_text())["backend"])
        rec.put(runs=runs)
        if rc != 0:
            return False
    a, b = runs["single"]["value"], runs["torchrun"]["value"]
    want = "nccl" if dev.type == "cuda" else "gloo"
    identical = a == b
    close = abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-30)
    rec.put(metric=runs["single"]["metric"], samples=sz.torchrun_samples, single_value=a, torchrun_value=b,
            bit_identical=identical, relative_difference=abs(a - b) / max(abs(a), 1e-30),
            backend=runs["torchrun"]["backend"], backend_expected=want, single_backend=runs["single"]["backend"])
    return close and runs["torchrun"]["backend"] == want


STEP_FUNCS: dict[str, Callable[..., bool]] = {
    "fid": step_fid, "feature_spaces": step_feature_spaces, "ppl": step_ppl, "ls": step_ls,
    "train1024": step_train1024, "train32": step_train32,
    "torchrun": step_torchrun,
}


def parse_step_args(argv: list[str] | None, choices: list[str]) -> argparse.Namespace:
    """The command line of a step process (shared with :mod:`.gpu_tests`)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="+", choices=choices, help="steps to run in this process, in order")
    ap.add_argument("--mode", choices=("paper", "smoke"), required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--out-dir", type=Path, required=True, help="each step writes STEP.json here")
    ap.add_argument("--budget", action="append", default=[], metavar="STEP=SECONDS",
                    help="the seconds the runner allows a step (its subprocesses are bounded by it)")
    a = ap.parse_args(argv)
    a.budgets = {k: float(v) for k, _, v in (b.partition("=") for b in a.budget)}
    return a


def run_steps(names: list[str], funcs: dict[str, Callable[..., bool]], a: argparse.Namespace) -> bool:
    """Run ``names`` one after the other, each recorded in ``out_dir/NAME.json``; True when all passed."""
    sz = sizes_for(a.mode)
    all_ok = True
    for name in names:
        rec = Recorder(a.out_dir / f"{name}.json")
        rec.put(step=name, mode=a.mode, device=a.device)
        t0 = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix=f"gpu-check-{name}-") as tmp:
                ok = bool(funcs[name](sz, torch.device(a.device), rec, Path(tmp), a.budgets.get(name, 60.0)))
            rec.put(done=True, ok=ok, wall_s=time.perf_counter() - t0)
        except Exception as exc:       # recorded and reported; the next step still runs
            traceback.print_exc()
            ok = False
            rec.put(done=True, ok=False, error=f"{type(exc).__name__}: {exc}", wall_s=time.perf_counter() - t0)
        print(f"[step] {name}: {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f} s)", flush=True)
        all_ok &= ok
    return all_ok


def main(argv: list[str] | None = None) -> None:
    """Run the named steps; exit 0 when every one passed its own checks, 1 when not."""
    a = parse_step_args(argv, sorted(STEP_FUNCS))
    if a.mode == "smoke":
        torch.set_num_threads(1)      # tiny problems on a shared CPU: one thread is fastest
    sys.exit(0 if run_steps(a.steps, STEP_FUNCS, a) else 1)


if __name__ == "__main__":
    main()
