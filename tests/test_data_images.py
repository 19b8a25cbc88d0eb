"""Real-format image loaders: folder, zip, arrays; resize, flip, subsets, bad files."""

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from disentangle_metrics.data.images import (BadImageError, ImageDataset, iterate_batches, open_source,
                                             resize_image)


def _imgs(n=5, size=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _write_folder(root, arr, ext="png"):
    (root / "sub").mkdir(parents=True)
    for i, a in enumerate(arr):
        # names chosen so sorted path order differs from creation order
        Image.fromarray(a).save(root / ("sub" if i % 2 else ".") / f"img{i:02d}.{ext}")
    return root


def _sorted_order(n):
    names = sorted([f"sub/img{i:02d}.png" if i % 2 else f"img{i:02d}.png" for i in range(n)])
    return [int(s[-6:-4]) for s in names]


def test_folder_zip_and_arrays_agree(tmp_path):
    arr = _imgs()
    folder = _write_folder(tmp_path / "f", arr)
    (folder / "notes.txt").write_text("ignored")
    order = _sorted_order(len(arr))
    zpath = tmp_path / "d.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.rglob("*.png")):
            zf.write(p, p.relative_to(folder).as_posix())
    np.save(tmp_path / "a.npy", arr[order])
    np.savez(tmp_path / "a.npz", images=arr[order].transpose(0, 3, 1, 2))  # NCHW
    expected = torch.from_numpy(arr[order].transpose(0, 3, 1, 2).copy())
    for src in (folder, zpath, tmp_path / "a.npy", tmp_path / "a.npz"):
        ds = ImageDataset(src)
        batches = list(iterate_batches(ds, batch_size=2, num_threads=2))
        assert [b.shape[0] for b in batches] == [2, 2, 1] and batches[0].dtype == torch.uint8
        assert torch.equal(torch.cat(batches), expected), src


def test_grayscale_and_rgba_become_rgb(tmp_path):
    g = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(g, "L").save(tmp_path / "a.png")
    rgba = np.dstack([_imgs(1)[0], np.full((8, 8), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.png")
    ds = ImageDataset(tmp_path)
    assert torch.equal(ds[0], torch.from_numpy(np.stack([g] * 3)))
    assert torch.equal(ds[1], torch.from_numpy(rgba[:, :, :3].transpose(2, 0, 1).copy()))
    np.save(tmp_path / "gray.npy", g[None, :, :, None])
    assert ImageDataset(tmp_path / "gray.npy")[0].shape == (3, 8, 8)


def test_resize_box_for_power_of_two_else_lanczos():
    img = _imgs(1, 8)[0]
    box = resize_image(img, 2)
    expected = np.rint(img.reshape(2, 4, 2, 4, 3).astype(np.float64).mean(axis=(1, 3))).astype(np.uint8)
    assert np.array_equal(box, expected)
    lz = resize_image(img, 6)
    assert lz.shape == (6, 6, 3)
    assert np.array_equal(lz, np.asarray(Image.fromarray(img).resize((6, 6), Image.LANCZOS)))


def test_mirror_is_deterministic_and_flips_about_half(tmp_path):
    arr = _imgs(40, 4)
    np.save(tmp_path / "a.npy", arr)
    plain = ImageDataset(tmp_path / "a.npy")
    m1, m2 = ImageDataset(tmp_path / "a.npy", mirror=True, seed=3), ImageDataset(tmp_path / "a.npy", mirror=True, seed=3)
    flipped = [not torch.equal(m1[i], plain[i]) for i in range(40)]
    assert 10 < sum(flipped) < 30
    for i in range(40):
        assert torch.equal(m1[i], m2[i])
        assert torch.equal(m1[i], plain[i].flip(-1) if flipped[i] else plain[i])
    assert not np.array_equal(m1.flips, ImageDataset(tmp_path / "a.npy", mirror=True, seed=4).flips)


def test_subsets_are_deterministic(tmp_path):
    np.save(tmp_path / "a.npy", _imgs(30, 2))
    assert list(ImageDataset(tmp_path / "a.npy", num=4).indices) == [0, 1, 2, 3]
    r1 = ImageDataset(tmp_path / "a.npy", num=10, subset="random", seed=1).indices
    assert list(r1) == list(ImageDataset(tmp_path / "a.npy", num=10, subset="random", seed=1).indices)
    assert list(r1) == sorted(r1) and len(set(r1)) == 10
    assert list(r1) != list(ImageDataset(tmp_path / "a.npy", num=10, subset="random", seed=2).indices)
    with pytest.raises(ValueError, match="has 30"):
        ImageDataset(tmp_path / "a.npy", num=31)


def test_corrupt_file_error_and_skip_count(tmp_path):
    _write_folder(tmp_path / "f", _imgs(4))
    (tmp_path / "f" / "img99.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = ImageDataset(tmp_path / "f")
    with pytest.raises(BadImageError, match="img99.png.*skip_bad"):
        list(iterate_batches(ds, 8, num_threads=2))
    ds = ImageDataset(tmp_path / "f", skip_bad=True)
    out = torch.cat(list(iterate_batches(ds, 2, num_threads=2)))
    assert out.shape[0] == 4 and len(ds.skipped) == 1 and "img99.png" in ds.skipped[0]


def test_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        open_source(tmp_path / "empty")
    np.save(tmp_path / "f.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(BadImageError, match="uint8"):
        open_source(tmp_path / "f.npy")
    np.save(tmp_path / "amb.npy", np.zeros((2, 3, 4, 3), np.uint8))
    with pytest.raises(BadImageError, match="layout"):
        open_source(tmp_path / "amb.npy")
    assert open_source(tmp_path / "amb.npy", layout="NCHW").read(0).shape == (4, 3, 3)
    (tmp_path / "bad.zip").write_bytes(b"PK garbage")
    with pytest.raises(BadImageError, match="bad.zip"):
        open_source(tmp_path / "bad.zip")
    Image.fromarray(_imgs(1, 4)[0]).save(tmp_path / "empty" / "a.png")
    Image.fromarray(_imgs(1, 6)[0]).save(tmp_path / "empty" / "b.png")
    with pytest.raises(BadImageError, match="resolution"):
        list(iterate_batches(ImageDataset(tmp_path / "empty"), 2))
    assert next(iterate_batches(ImageDataset(tmp_path / "empty", resolution=4), 2)).shape == (2, 3, 4, 4)
