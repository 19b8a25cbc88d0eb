from PIL import Image

from cli.pictures import picture_sheet, style_bands
from tests.toy_generators import ToyGenerator


def test_style_bands_cover_all_ws():
    for n in (4, 8, 12, 18):
        b = style_bands(n)
        covered = sum((list(range(n))[s] for s in b.values()), [])
        assert covered == list(range(n))
    assert style_bands(18)["coarse"] == slice(0, 4) and style_bands(18)["fine"] == slice(8, 18)


def test_picture_sheet_writes_png(tmp_path):
    G = ToyGenerator(z_dim=8, num_ws=6, res=8)
    p = picture_sheet(G, tmp_path / "sheet.png", scale=1)
    im = Image.open(p)
    # samples (2 rows) + mixing (1 + 3 bands x 3 rows) + Z strip + W strip, each 8 px tall, plus labels
    assert im.width == 8 * 8 and im.height == 8 * (2 + 10 + 1 + 1) + 14 * 4
