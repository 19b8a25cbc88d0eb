import json

from click.testing import CliRunner

from cli.demo import DEMO_GENERATOR
from cli.main import main


def test_embedded_generator_is_shipped():
    assert (DEMO_GENERATOR / "config.json").is_file() and (DEMO_GENERATOR / "model.pt").is_file()


def test_demo_quick_scores_every_offline_metric(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--quick", "--threads", "1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for name in ("fid256@testbed", "kid256_full@testbed", "ppl_zfull@testbed-lpips", "ppl_zend@testbed-lpips", "ppl_wfull@testbed-lpips",
                 "ppl_wend@testbed-lpips", "ls_z@testbed", "ls_w@testbed"):
        assert name in r.output
    lines = [json.loads(l) for l in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [l["metric"] for l in lines] == ["fid256@testbed", "kid256_full@testbed", "ppl_zfull@testbed-lpips", "ppl_zend@testbed-lpips",
                                           "ppl_wfull@testbed-lpips", "ppl_wend@testbed-lpips", "ls@testbed"]
    assert all(isinstance(l["value"], float) for l in lines)
    assert (tmp_path / "sheet.png").stat().st_size > 1000
