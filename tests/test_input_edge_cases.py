"""Image inputs a new user hands over (issue 23): hidden entries, file types, PNG modes, array dtypes and
layouts, links, and the score/compare flags the messages name (--resolution, --array-key, --num)."""

import io
import json
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from cli.main import main
from disentangle_metrics.data.images import (IMAGE_EXTENSIONS, BadImageError, ImageDataset, iterate_batches,
                                             open_source)
from disentangle_metrics.generators.sources import ImageSource
from disentangle_metrics.functional.stats import is_stats_file
from tests.fid_helpers import ToyGenerator  # noqa: F401  (registers test-pixel-stats)


def _imgs(n=4, size=8, seed=0):
    return np.random.default_rng(seed).integers(2, 256, (n, size, size, 3), dtype=np.uint8)


def _read_all(path, **kw):
    return torch.cat(list(iterate_batches(ImageDataset(path, **kw), 4, num_threads=0)))


def _save(arr, path, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)


# -- which files a folder or zip contributes ------------------------------------------------------

def test_hidden_entries_are_skipped_in_folders_and_zips_with_a_warning(tmp_path):
    arr = _imgs(3)
    for i, a in enumerate(arr):
        _save(a, tmp_path / "f" / f"{i}.png")
    junk = _imgs(4, seed=9)
    _save(junk[0], tmp_path / "f" / ".thumb.png")          # '.' sorts before digits: was taken first
    _save(junk[1], tmp_path / "f" / "._0.png")
    _save(junk[2], tmp_path / "f" / ".ipynb_checkpoints" / "0-checkpoint.png")
    _save(junk[3], tmp_path / "f" / "__MACOSX" / "0.png")
    with pytest.warns(UserWarning, match=r"skipped 4 hidden entries \(\._0.png, \.ipynb_checkpoints, \.thumb.png, \.\.\.\)"):
        src = open_source(tmp_path / "f")
    assert src.files == ["0.png", "1.png", "2.png"]
    assert torch.equal(_read_all(tmp_path / "f"), torch.from_numpy(arr).permute(0, 3, 1, 2))
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((tmp_path / "f").rglob("*.png")):
            zf.write(p, "set/" + p.relative_to(tmp_path / "f").as_posix())
    with pytest.warns(UserWarning, match="skipped 4 hidden entries"):
        zsrc = open_source(z)
    assert [zi.filename for zi in zsrc.infos] == ["set/0.png", "set/1.png", "set/2.png"]
    with zipfile.ZipFile(tmp_path / "dot.zip", "w") as zf:     # members stored as ./x by some tools
        zf.writestr(zipfile.ZipInfo("./set/0.png"), (tmp_path / "f" / "0.png").read_bytes())
    assert [zi.filename for zi in open_source(tmp_path / "dot.zip").infos] == ["./set/0.png"]
    _save(arr[0], tmp_path / ".cache" / "set" / "0.png")       # only entries below the given path count
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_source(tmp_path / ".cache" / "set").files == ["0.png"]
    only_hidden = tmp_path / "h"
    _save(junk[0], only_hidden / ".ipynb_checkpoints" / "a.png")
    with pytest.raises(FileNotFoundError, match="1 hidden entries were skipped"):
        open_source(only_hidden)


def test_a_reference_folder_is_listed_once_per_request(tmp_path):
    """score (the protocol check, FID's statistics, KID's features) and compare open the reference once,
    so its hidden-entry warning shows once, not once per step."""
    import disentangle_metrics as dm
    ref = tmp_path / "ref"
    for i, a in enumerate(_imgs(40, size=16, seed=3)):
        _save(a, ref / f"{i:03d}.png")
    _save(_imgs(1, size=16)[0], ref / ".thumb.png")
    gen = tmp_path / "gen"
    for i, a in enumerate(_imgs(40, size=16, seed=4)):
        _save(a, gen / f"{i:03d}.png")
    kw = dict(extractor="test-pixel-stats", device="cpu", num_samples=40, progress=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = dm.score(ToyGenerator(resolution=16), ["fid40_full", "kid40_full"], reference=str(ref), **kw)
    assert all(np.isfinite(r.value) for r in out)
    assert sum("skipped 1 hidden entry" in str(w.message) for w in seen) == 1, [str(w.message) for w in seen]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = CliRunner().invoke(main, ["compare", str(gen), str(ref), "--metrics", "fid,kid", "--extractor",
                                      "test-pixel-stats", "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert sum("skipped 1 hidden entry" in str(w.message) for w in seen) == 1, [str(w.message) for w in seen]


def test_every_listed_extension_in_any_case_is_read(tmp_path):
    a = _imgs(1)[0]
    for ext in (".png", ".PNG", ".bmp", ".tif", ".TIFF", ".ppm", ".Bmp"):
        _save(a, tmp_path / f"x{ext}")
    Image.fromarray(a).save(tmp_path / "y.webp", lossless=True)
    _save(a[:, :, 0], tmp_path / "z.pgm", "L")
    Image.fromarray(a).save(tmp_path / "q.jpg", quality=95)
    Image.fromarray(a).convert("P").save(tmp_path / "g.gif")
    src = open_source(tmp_path)
    assert len(src) == 11 and {os.path.splitext(f)[1].lower() for f in src.files} <= set(IMAGE_EXTENSIONS)
    for i, f in enumerate(src.files):
        if f[0] in "xy":
            assert np.array_equal(src.read(i), a), f
    assert np.array_equal(src.read(src.files.index("z.pgm")), np.repeat(a[:, :, :1], 3, 2))


def test_other_image_types_are_ignored_with_a_warning(tmp_path):
    _save(_imgs(1)[0], tmp_path / "a.png")
    Image.fromarray(_imgs(1)[0]).save(tmp_path / "b.ico")
    (tmp_path / "notes.txt").write_text("not an image type: ignored without a word")
    with pytest.warns(UserWarning, match=r"ignored 1 files of image types not read here \(1 .ico\)"):
        assert open_source(tmp_path).files == ["a.png"]


def test_symbolic_links_are_followed_once_and_a_broken_one_is_a_bad_image(tmp_path):
    arr = _imgs(4)
    for i in range(2):
        _save(arr[i], tmp_path / "set" / "part1" / f"{i}.png")
        _save(arr[i + 2], tmp_path / "elsewhere" / f"{i + 2}.png")
    os.symlink(tmp_path / "elsewhere", tmp_path / "set" / "part2")
    os.symlink(tmp_path / "set", tmp_path / "set" / "part1" / "loop")   # a cycle: walked once
    src = open_source(tmp_path / "set")
    assert src.files == ["part1/0.png", "part1/1.png", "part2/2.png", "part2/3.png"]
    assert torch.equal(_read_all(tmp_path / "set"), torch.from_numpy(arr).permute(0, 3, 1, 2))
    os.symlink(tmp_path / "nowhere.png", tmp_path / "set" / "part1" / "9.png")
    src = open_source(tmp_path / "set")
    assert len(src.listing()) == 5
    with pytest.raises(BadImageError, match="9.png.*skip_bad"):
        _read_all(tmp_path / "set")
    ds = ImageDataset(tmp_path / "set", skip_bad=True)
    assert torch.cat(list(iterate_batches(ds, 8, num_threads=0))).shape[0] == 4 and len(ds.skipped) == 1


# -- how every PNG mode decodes -------------------------------------------------------------------

def test_16_bit_grayscale_keeps_its_high_byte(tmp_path):
    g = np.arange(64, dtype=np.uint16).reshape(8, 8) * 4
    Image.fromarray(g.astype(np.uint8), "L").save(tmp_path / "a8.png")
    Image.fromarray(g * 257).save(tmp_path / "a16.png")    # the same picture at 16 bits: I;16
    v = np.array([[0, 255, 256, 0x80FF], [0xFF00, 0xFFFF, 1000, 40000]], np.uint16)
    Image.fromarray(v).save(tmp_path / "b16.png")
    assert Image.open(tmp_path / "a16.png").mode.startswith("I")
    src = open_source(tmp_path)
    assert np.array_equal(src.read(0), src.read(1))          # was all white: convert('RGB') clips at 255
    assert np.array_equal(src.read(2)[:, :, 0], (v >> 8).astype(np.uint8))
    assert np.array_equal(src.read(2)[:, :, 1], src.read(2)[:, :, 2])


def _png16_rgb(arr):
    """A 48-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_rgb_and_gray_agree(tmp_path):
    v = np.random.default_rng(0).integers(0, 65536, (4, 4), dtype=np.uint16)
    (tmp_path / "rgb16.png").write_bytes(_png16_rgb(np.repeat(v[:, :, None], 3, 2)))
    Image.fromarray(v).save(tmp_path / "gray16.png")
    src = open_source(tmp_path)
    assert np.array_equal(src.read(0), src.read(1))


def test_palette_alpha_one_bit_and_cmyk_modes(tmp_path):
    a = _imgs(1)[0]
    pal = Image.fromarray(a).convert("P")
    pal.save(tmp_path / "p.png", transparency=0)
    g = a[:, :, 0]
    Image.fromarray(g, "L").convert("LA").save(tmp_path / "la.png")
    Image.fromarray(g, "L").convert("1").save(tmp_path / "one.png")
    Image.fromarray(np.dstack([a, np.zeros_like(g)]), "RGBA").save(tmp_path / "rgba.png")   # fully transparent
    src = open_source(tmp_path)
    got = {f: src.read(i) for i, f in enumerate(src.files)}
    assert np.array_equal(got["p.png"], np.asarray(pal.convert("RGB")))     # alpha dropped, palette colours kept
    assert np.array_equal(got["la.png"], np.repeat(g[:, :, None], 3, 2))
    assert set(np.unique(got["one.png"])) <= {0, 255}
    assert np.array_equal(got["rgba.png"], a)                                # not composited onto a background
    Image.fromarray(a).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    assert np.abs(open_source(tmp_path).read(0).astype(int) - a).mean() < 8


def test_multi_frame_float_and_wide_integer_images_are_refused(tmp_path):
    frames = [Image.fromarray(x) for x in _imgs(2)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(BadImageError, match="2 frames"):
        open_source(tmp_path).read(0)
    (tmp_path / "a.gif").unlink()
    Image.fromarray(np.full((4, 4), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(BadImageError, match="floating-point"):
        open_source(tmp_path).read(0)
    (tmp_path / "f.tif").unlink()
    Image.fromarray(np.full((4, 4), 70000, np.int32), "I").save(tmp_path / "i.tif")
    with pytest.raises(BadImageError, match="32-bit integer"):
        open_source(tmp_path).read(0)


def test_unit_range_uint8_is_refused_for_arrays_and_files(tmp_path):
    x = np.random.default_rng(0).random((6, 8, 8, 3))
    np.save(tmp_path / "a.npy", x.astype(np.uint8) + (x > 0.5))     # [0, 1] floats cast without * 255
    with pytest.raises(BadImageError, match=r"only 0 and 1.*x \* 255"):
        _read_all(tmp_path / "a.npy")
    for i in range(6):
        _save((x[i] > 0.5).astype(np.uint8), tmp_path / "f" / f"{i}.png")
    with pytest.raises(BadImageError, match="only 0 and 1"):
        _read_all(tmp_path / "f")
    np.save(tmp_path / "ok.npy", (x > 0.5).astype(np.uint8) * 255)    # a binary set in [0, 255] is fine
    assert _read_all(tmp_path / "ok.npy").shape == (6, 3, 8, 8)


# -- which array layouts and dtypes are accepted --------------------------------------------------

@pytest.mark.parametrize("arr, hint", [
    (np.full((2, 4, 4, 3), 200.0, np.float32), r"np.rint\(x\)"),
    (np.full((2, 4, 4, 3), 0.5, np.float32), r"x \* 255"),
    (np.full((2, 4, 4, 3), -0.5, np.float32), r"x \* 127.5 \+ 128"),
    (np.full((2, 4, 4, 3), np.nan, np.float32), "NaN or inf"),
    (np.ones((2, 4, 4, 3), bool), r"astype\(np.uint8\) \* 255"),
    (np.full((2, 4, 4, 3), 200, np.int64), r"np.rint\(x\)"),
    (np.full((2, 4, 4, 3), 60000, np.uint16), "x >> 8"),
    (np.full((2, 4, 4, 3), 2.0, np.float16), r"np.rint\(x\)"),
])
def test_other_dtypes_are_refused_with_the_conversion_to_make(tmp_path, arr, hint):
    np.save(tmp_path / "a.npy", arr)
    with pytest.raises(BadImageError, match=hint):
        open_source(tmp_path / "a.npy")


def test_array_shapes_and_upper_case_suffixes(tmp_path):
    np.save(tmp_path / "g.npy", np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(BadImageError, match=r"x\[\.\.\., None\]"):
        open_source(tmp_path / "g.npy")
    np.save(tmp_path / "e.npy", np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(BadImageError, match="holds no images"):
        open_source(tmp_path / "e.npy")
    arr = _imgs(3)
    with open(tmp_path / "a.NPZ", "wb") as f:
        np.savez(f, images=arr)
    with open(tmp_path / "b.NPY", "wb") as f:
        np.save(f, arr)
    for name in ("a.NPZ", "b.NPY"):
        assert torch.equal(_read_all(tmp_path / name), torch.from_numpy(arr).permute(0, 3, 1, 2)), name
    with open(tmp_path / "s.NPZ", "wb") as f:
        np.savez(f, mu=np.zeros(2), sigma=np.eye(2))
    assert is_stats_file(tmp_path / "s.NPZ") and not is_stats_file(tmp_path / "a.NPZ")
    with open(tmp_path / "z.npy", "wb") as f:
        np.savez(f, images=arr)
    with pytest.raises(BadImageError, match="not a single array"):
        open_source(tmp_path / "z.npy")


# -- the generated side: ImageSource and the CLI flags --------------------------------------------

def test_image_source_resolution_and_array_key(tmp_path):
    for i, s in enumerate([8, 8, 16]):
        _save(_imgs(1, s, seed=i)[0], tmp_path / "m" / f"{i}.png")
    with pytest.raises(ValueError, match="--resolution R"):
        list(ImageSource(tmp_path / "m", device="cpu").batches(3, 3))
    src = ImageSource(tmp_path / "m", device="cpu", resolution=8)
    assert src.resolution == 8 and src.describe()["resized_to"] == 8
    assert torch.cat([b.images for b in src.batches(3, 2)]).shape == (3, 3, 8, 8)
    np.savez(tmp_path / "two.npz", images=_imgs(3), labels=np.arange(3))
    with pytest.raises(BadImageError, match="--array-key KEY"):
        ImageSource(tmp_path / "two.npz", device="cpu")
    assert ImageSource(tmp_path / "two.npz", device="cpu", array_key="images").num_available == 3


def test_a_bad_generated_image_is_never_sent_to_skip_bad(tmp_path):
    for i, a in enumerate(_imgs(3)):
        _save(a, tmp_path / f"{i}.png")
    (tmp_path / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(BadImageError) as info:
        list(ImageSource(tmp_path, device="cpu").batches(4, 4))
    assert "3.png" in str(info.value) and "regenerate" in str(info.value) and "skip" not in str(info.value).replace(
        "never skipped", "")


def _sets(tmp_path, n=100):
    rng = np.random.default_rng(0)
    gen = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    real = np.clip(gen.astype(int) + rng.integers(-40, 41, gen.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "two.npz", images=gen, labels=np.arange(n))
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "gen.npy", gen)
    return str(tmp_path / "two.npz"), str(tmp_path / "real.npy")


def _cli(args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(main, args)


def _value(output):
    """The value on compare's result line (after any note lines)."""
    return output.strip().splitlines()[-1].split()[1]


def test_compare_takes_array_key_resolution_and_speaks_of_num(tmp_path):
    two, real = _sets(tmp_path)
    base = ["--extractor", "test-pixel-stats", "--device", "cpu", "--no-progress"]
    r = _cli(["compare", two, real, *base])
    assert r.exit_code != 0 and "--array-key KEY" in r.output
    r = _cli(["compare", two, real, "--array-key", "images", *base])
    assert r.exit_code == 0, r.output
    same = _cli(["compare", str(tmp_path / "gen.npy"), real, *base])
    assert same.exit_code == 0 and _value(same.output) == _value(r.output)
    r8 = _cli(["compare", two, real, "--array-key", "images", "--resolution", "8", *base])
    assert r8.exit_code == 0, r8.output
    assert _value(r8.output) != _value(r.output)
    for num, says in (("101", "--num 101: .* holds 100 images; pass --num 100 or less"), ("0", "0 is not in the range")):
        r = _cli(["compare", str(tmp_path / "gen.npy"), real, "--num", num, *base])
        assert r.exit_code != 0 and "--num-samples" not in r.output
        assert __import__("re").search(says, r.output), r.output


def test_score_takes_array_key_and_resolution_for_images_only(tmp_path):
    two, real = _sets(tmp_path)
    out = tmp_path / "r.jsonl"
    base = ["--metrics", "fid50k_full", "--num-samples", "100", "--reference", real, "--extractor", "test-pixel-stats", "--device", "cpu",
            "--no-progress", "--out", str(out)]
    r = _cli(["score", two, "--array-key", "images", "--resolution", "8", *base])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[0])
    assert line["extras"]["request"]["options"]["image_resolution"] == 8
    assert line["extras"]["request"]["options"]["array_key"] == "images"
    r = _cli(["score", "tests.fid_helpers:make_toy_generator", "--resolution", "8", *base])
    assert r.exit_code != 0 and "apply to generated images" in r.output


def test_exif_orientation_is_not_applied(tmp_path):
    a = _imgs(1, 8)[0][:, :4]                    # 8 high, 4 wide as stored
    exif = Image.Exif()
    exif[0x0112] = 6                             # "rotate 90 degrees to display"
    Image.fromarray(a).save(tmp_path / "r.png", exif=exif)
    assert Image.open(tmp_path / "r.png").getexif().get(0x0112) == 6
    assert np.array_equal(open_source(tmp_path).read(0), a)   # the stored grid, as pytorch-fid & co read it
