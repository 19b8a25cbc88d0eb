"""The GPU check's report: the paper-scale extrapolation and the Markdown rendering of the JSON.

Extrapolation, written out in the report so it can be checked by hand:

    fid50k minutes = (50,000 / generated img/s + 50,000 / reals' feature img/s) / 60
    ppl minutes    = 100,000 / PPL samples/s / 60                      (each of the four ppl metrics)
    ls minutes     = (200,000 / sampling samples/s + SVM seconds at 200k x 512, both spaces) / 60

beside the paper code's minutes on one V100 (16, 55 and 600).
"""

from __future__ import annotations

from typing import Any, Optional

from .plan import PAPER_SAMPLES, STEP_TITLES, STEPS, V100_MINUTES


def _get(steps: dict[str, Any], step: str, key: str) -> Optional[float]:
    v = steps.get(step, {}).get("result", {}).get(key)
    return float(v) if isinstance(v, (int, float)) and v > 0 else None


def extrapolate(steps: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per paper job: the measured rates, the paper's sample counts, minutes, V100 minutes."""
    rows = []
    gen, feat = _get(steps, "fid", "images_per_s"), _get(steps, "fid", "features_images_per_s")
    n = PAPER_SAMPLES["fid50k"]
    mins = (n / gen + n / feat) / 60 if gen and feat else None
    rows.append(dict(job="fid50k", rates=f"generated {_fmt(gen)} img/s, reals' features {_fmt(feat)} img/s",
                     samples=f"{n:,} generated + {n:,} real",
                     arithmetic=f"({n} / {_fmt(gen)} + {n} / {_fmt(feat)}) / 60" if mins else "not measured",
                     minutes=mins, v100_minutes=V100_MINUTES["fid50k"]))
    rate = _get(steps, "ppl", "samples_per_s")
    n = PAPER_SAMPLES["ppl"]
    mins = n / rate / 60 if rate else None
    rows.append(dict(job="ppl (each of zfull, wfull, zend, wend)", rates=f"{_fmt(rate)} samples/s",
                     samples=f"{n:,} pairs", arithmetic=f"{n} / {_fmt(rate)} / 60" if mins else "not measured",
                     minutes=mins, v100_minutes=V100_MINUTES["ppl"]))
    rate, svm = _get(steps, "ls", "sampling_samples_per_s"), _get(steps, "ls", "svm_s")
    svm_n = steps.get("ls", {}).get("result", {}).get("svm_samples")
    n = PAPER_SAMPLES["ls"]
    full_svm = svm_n == n
    mins = (n / rate + svm) / 60 if rate and svm and full_svm else None
    rows.append(dict(job="ls (z and w)", rates=f"sampling {_fmt(rate)} samples/s, SVM {_fmt(svm)} s"
                     + ("" if full_svm or svm is None else f" (on {svm_n:,} samples, not the paper's {n:,})"),
                     samples=f"{n:,} images, SVM on the 100,000 kept x 40 attributes x 2 spaces",
                     arithmetic=f"({n} / {_fmt(rate)} + {_fmt(svm)}) / 60" if mins else
                     ("not measured" if not (rate and svm) else "not extrapolated: the SVM ran below paper size"),
                     minutes=mins, v100_minutes=V100_MINUTES["ls"]))
    for r in rows:
        r["speedup_vs_v100"] = r["v100_minutes"] / r["minutes"] if r["minutes"] else None
    return rows


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _measurements(steps: dict[str, Any]) -> list[tuple[str, str, str]]:
    r = {k: steps.get(k, {}).get("result", {}) for k in STEPS}
    return [
        ("FID generation + features", f"{_fmt(r['fid'].get('images_per_s'))} img/s",
         f"{_fmt(r['fid'].get('images'))} images, batch {_fmt(r['fid'].get('batch_size'))}, {r['fid'].get('generator', '-')}"),
        ("Inception features alone (reals)", f"{_fmt(r['fid'].get('features_images_per_s'))} img/s",
         f"{_fmt(r['fid'].get('features_images'))} uint8 images at the generator's resolution"),
        ("DINOv2 ViT-L/14 features (FD_DINOv2)", f"{_fmt(r['feature_spaces'].get('dinov2_images_per_s'))} img/s",
         f"{_fmt(r['feature_spaces'].get('dinov2_images'))} images, batch {_fmt(r['feature_spaces'].get('batch_size'))}, "
         f"{r['feature_spaces'].get('scale', '-')}"),
        ("CLIP ViT-L/14@336 embeddings (CMMD)", f"{_fmt(r['feature_spaces'].get('clip_images_per_s'))} img/s",
         f"{_fmt(r['feature_spaces'].get('clip_images'))} images, batch {_fmt(r['feature_spaces'].get('batch_size'))}"),
        ("PPL (ppl_wfull, v1)", f"{_fmt(r['ppl'].get('samples_per_s'))} samples/s",
         f"{_fmt(r['ppl'].get('samples'))} pairs, {_fmt(r['ppl'].get('batch_pairs'))} per minibatch; distance saw "
         f"{(r['ppl'].get('distance_saw') or {}).get('image_shape', '-')}, TF32 off: {_fmt(r['ppl'].get('tf32_off'))}"),
        ("PPL, StyleGAN3-T shape (ppl_wfull)", f"{_fmt((r['ppl'].get('sg3') or {}).get('samples_per_s'))} samples/s",
         f"{_fmt((r['ppl'].get('sg3') or {}).get('samples'))} pairs, {_fmt((r['ppl'].get('sg3') or {}).get('images_per_call'))} "
         f"images per generator call; {(r['ppl'].get('sg3') or {}).get('generator', '-')}"),
        ("PPL, StyleGAN3-T shape, the authors' sampler", f"{_fmt((r['ppl'].get('sg3') or {}).get('theirs_samples_per_s'))} samples/s",
         f"{_fmt((r['ppl'].get('sg3') or {}).get('theirs_samples'))} pairs, "
         f"{_fmt((r['ppl'].get('sg3') or {}).get('theirs_batch_pairs'))} per minibatch (transcribed, benchmarks/ppl_anchor.py); "
         f"ours / theirs {_fmt((r['ppl'].get('sg3') or {}).get('ours_over_theirs'))}x"),
        ("ls sampling", f"{_fmt(r['ls'].get('sampling_samples_per_s'))} samples/s",
         f"{_fmt(r['ls'].get('sampling_samples'))} images, {_fmt(r['ls'].get('classifiers'))} single-logit classifiers at "
         f"{_fmt(r['ls'].get('classifier_resolution'))}"),
        ("ls SVM stage", f"{_fmt(r['ls'].get('svm_s'))} s",
         f"{_fmt(r['ls'].get('svm_samples'))} x {_fmt(r['ls'].get('svm_dim'))} latents, keep {_fmt(r['ls'].get('svm_keep'))}, "
         f"{_fmt(r['ls'].get('svm_attributes'))} attributes, spaces {r['ls'].get('svm_spaces', '-')}; per space "
         f"{ {k: round(v, 2) for k, v in (r['ls'].get('svm_s_per_space') or {}).items()} }"),
        ("Training, big", f"{_fmt(r['train1024'].get('images_per_s'))} img/s",
         f"{r['train1024'].get('settings', {}).get('resolution', '-')}px, batch {r['train1024'].get('settings', {}).get('batch', '-')}, "
         f"bf16 {_fmt(r['train1024'].get('amp_bf16'))}, channels_last {_fmt(r['train1024'].get('channels_last'))}"),
        ("Training, mini recipe", f"{_fmt(r['train32'].get('images_per_s'))} img/s",
         f"{r['train32'].get('settings', {}).get('resolution', '-')}px, batch {r['train32'].get('settings', {}).get('batch', '-')}"),
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown page of a report dict (as written to gpu_check.json)."""
    steps = report.get("steps", {})
    hw, sw = report.get("hardware", {}), report.get("software", {})
    L = [f"# GPU check ({report.get('mode')} mode)", "",
         f"**All networks have random weights** (the real architectures: config F, Inception-v3, LPIPS-VGG16, "
         f"attribute classifiers): the speeds are real, every metric value is meaningless.", ""]
    if report.get("mode") == "smoke":
        L += ["**Smoke mode**: tiny networks on the CPU; it checks the pipeline, its figures say nothing about "
              "paper-scale speed.", ""]
    L += [f"- started {report.get('started_utc')}, wall {_fmt(report.get('wall_s'))} s of a {_fmt(report.get('budget_s'))} s budget",
          f"- device: {hw.get('device')}; {hw.get('gpu_memory_gib', '-')} GiB; CPU cores {hw.get('cpu_count')}"
          + (f"; nvidia-smi: {hw['nvidia_smi']}" if hw.get("nvidia_smi") else ""),
          f"- python {sw.get('python')}, torch {sw.get('torch')} (CUDA {sw.get('cuda')}, cuDNN {sw.get('cudnn')}), "
          f"torchvision {sw.get('torchvision')}, lpips {sw.get('lpips')}",
          f"- commit {report.get('commit')}"]
    missing = [k for k, v in sw.items() if v is None and k not in ("cuda", "cudnn") and not k.endswith("_error")]
    if missing:
        L += [f"- **missing packages: {', '.join(missing)}**: prepare wheels here with `make gpu-wheels` and install "
              "them there (`python -m benchmarks.gpu_check --help`)"]
    L += ["",
          "## Steps", "", "| step | status | seconds | budget |", "|---|---|---:|---:|"]
    for name in report.get("steps_run", STEPS):
        s = steps.get(name, {})
        L.append(f"| {STEP_TITLES.get(name, name)} | {s.get('status', 'not run')} | {_fmt(s.get('wall_s'))} | {_fmt(s.get('budget_s'))} |")
    tests = steps.get("gpu_tests", {}).get("result", {}).get("tests")
    if tests:
        L += ["", "## GPU-marked tests", "", "| test | outcome | seconds |", "|---|---|---:|"]
        L += [f"| `{t['id']}` | {t['outcome']} | {_fmt(t.get('seconds'))} |" for t in tests]
    L += ["", "## Measurements", "", "| what | rate | details |", "|---|---|---|"]
    L += [f"| {a} | {b} | {c} |" for a, b, c in _measurements(steps)]
    L += ["", "## Paper-scale extrapolation", "",
          "| job | measured | paper's samples | arithmetic | minutes here | V100 minutes (paper code) | speed-up |",
          "|---|---|---|---|---:|---:|---:|"]
    for r in report.get("extrapolation", []):
        L.append(f"| {r['job']} | {r['rates']} | {r['samples']} | `{r['arithmetic']}` | {_fmt(r['minutes'])} | "
                 f"{_fmt(r['v100_minutes'])} | {_fmt(r['speedup_vs_v100'], 3)}{'x' if r['speedup_vs_v100'] else ''} |")
    L += ["", "V100 minutes: the official StyleGAN (v1) README, one V100: fid50k 16 min, each ppl 55 min, ls 10 h."]
    tr = steps.get("torchrun", {}).get("result", {})
    L += ["", "## torchrun parity", ""]
    if "single_value" in tr:
        L += [f"`{tr.get('metric')}` on {_fmt(tr.get('samples'))} samples: single process {tr['single_value']!r}, "
              f"torchrun (1 process, backend {tr.get('backend')}, expected {tr.get('backend_expected')}) "
              f"{tr['torchrun_value']!r}; bit-identical {tr.get('bit_identical')}, relative difference "
              f"{_fmt(tr.get('relative_difference'))}."]
    else:
        L += [f"not completed: {steps.get('torchrun', {}).get('status', 'not run')}"]
    failures = [(n, s) for n, s in steps.items() if s.get("status") not in ("ok", "skipped: no CUDA")]
    if failures:
        L += ["", "## Problems", ""]
        for n, s in failures:
            err = s.get("result", {}).get("error") or ""
            L += [f"- **{n}**: {s.get('status')} {err}".rstrip()]
            if s.get("log_tail"):
                L += ["", "```", s["log_tail"].strip()[-1500:], "```", ""]
    return "\n".join(L) + "\n"
