"""`dmetrics compare`, `dmetrics metrics` and `dmetrics score` on a folder of generated images."""

import json

import numpy as np
from click.testing import CliRunner

from cli.main import main
from tests.fid_helpers import ToyGenerator  # noqa: F401  (registers test-pixel-stats)
from tests.suite_helpers import nvidia_standins  # noqa: F401
from tests.test_image_metrics import _export


def _folders(tmp_path):
    gen = _export(ToyGenerator(seed=1), tmp_path / "gen", 100)
    real = _export(ToyGenerator(seed=5, shift=0.4), tmp_path / "real", 110, seed=2)
    return str(gen), str(real)


def test_compare_two_folders_and_two_stats_files(tmp_path, nvidia_standins):
    gen, real = _folders(tmp_path)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["compare", gen, real, "--metrics", "fid,kid,pr,is", "--extractor", "test-pixel-stats",
                                  "--kid-subset-size", "20", "--kid-subsets", "4", "--device", "cpu", "--no-progress",
                                  "--weights", f"vgg16-nvidia={nvidia_standins['vgg16-nvidia']}",
                                  "--weights", f"inception-v3-tf={nvidia_standins['inception-v3-tf']}",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["metric"] for x in lines] == ["fid100_full@test-pixel-stats", "kid100_full@test-pixel-stats", "pr1003_full",
                                           "is100"]
    fid = lines[0]["value"]
    assert fid > 0 and lines[0]["config"]["num_real"] == 110 and "fid100_full@test-pixel-stats" in r.output
    # the same FID from two statistics files
    for name, folder in (("g.npz", gen), ("r.npz", real)):
        s = CliRunner().invoke(main, ["stats", folder, "--out", str(tmp_path / name), "--extractor", "test-pixel-stats",
                                      "--device", "cpu", "--no-progress", "--no-cache"])
        assert s.exit_code == 0, s.output
    r2 = CliRunner().invoke(main, ["compare", str(tmp_path / "g.npz"), str(tmp_path / "r.npz")])
    assert r2.exit_code == 0, r2.output
    line = next(x for x in r2.output.splitlines() if x.startswith("fid100_full@test-pixel-stats "))
    assert np.isclose(float(line.split()[1]), fid, rtol=0, atol=1e-4)   # named like the image route, 6 digits
    r3 = CliRunner().invoke(main, ["compare", str(tmp_path / "g.npz"), real, "--metrics", "kid"])
    assert r3.exit_code != 0 and "only FID can be computed" in r3.output


def test_score_takes_a_folder_and_refuses_latent_metrics(tmp_path, nvidia_standins):
    gen, real = _folders(tmp_path)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["score", gen, "--metrics", "is30,ppl_wend", "--num-samples", "30", "--device", "cpu",
                                  "--weights", f"inception-v3-tf={nvidia_standins['inception-v3-tf']}",
                                  "--out", str(out), "--no-progress"])
    assert r.exit_code == 1
    assert "ppl_wend" in r.output and "holds images only" in r.output
    assert json.loads(out.read_text().splitlines()[0])["metric"] == "is30"


def test_metrics_lists_descriptions_and_extractors():
    r = CliRunner().invoke(main, ["metrics"])
    assert r.exit_code == 0
    for name in ("fid50k_full", "kid50k", "pr50k3_full", "pr50k3@vgg16-torchvision", "is50k", "ls", "ppl_wend"):
        assert f"\n{name}\n" in "\n" + r.output
    assert "generated 50k, real up to 200,000" in r.output and "anchor:" in r.output
    e = CliRunner().invoke(main, ["metrics", "--extractors"])
    assert "vgg16-nvidia" in e.output and "inception-v3-tf-logits" in e.output


def test_resume_on_image_folders_follows_their_content(tmp_path):
    # a folder of samples (or of reals) is identified by its listing: changed images are scored afresh
    import os
    gen, real = _folders(tmp_path)
    out = tmp_path / "r.jsonl"

    def score():
        return CliRunner().invoke(main, ["score", gen, "--metrics", "kid30_full@test-pixel-stats", "--num-samples", "30",
                                         "--reference", real, "--device", "cpu", "--resume", "--out", str(out),
                                         "--no-progress"])
    assert score().exit_code == 0
    r = score()
    assert r.exit_code == 0 and "skipped: already in" in r.output
    first = sorted(os.listdir(gen))[0]
    os.utime(os.path.join(gen, first), ns=(1, 1))        # a regenerated sample: same name, new content
    r = score()
    assert r.exit_code == 0 and "skipped" not in r.output
    os.utime(os.path.join(real, sorted(os.listdir(real))[0]), ns=(1, 1))
    r = score()
    assert r.exit_code == 0 and "skipped" not in r.output
    keys = [json.loads(x)["extras"]["resume_key"] for x in out.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 3
