"""Label files: CelebA's list_attr_celeba.txt layout and CSV, round trips and errors naming file and line."""

import numpy as np
import pytest

from disentangle_metrics.data.labels import (AttributeLabels, LabelFormatError, read_attributes,
                                             read_celeba_attributes, read_csv_attributes,
                                             write_celeba_attributes, write_csv_attributes)

CELEBA = """3
5_o_Clock_Shadow Arched_Eyebrows Male
000001.jpg -1  1 -1
000002.jpg -1 -1  1
000003.jpg  1 -1  1
"""


def _labels():
    rng = np.random.default_rng(0)
    return AttributeLabels([f"{i:06d}.png" for i in range(5)], ["male", "smiling", "hat"], rng.random((5, 3)) < 0.5)


def test_reads_the_real_celeba_layout(tmp_path):
    p = tmp_path / "list_attr_celeba.txt"
    p.write_text(CELEBA)
    lab = read_celeba_attributes(p)
    assert lab.names == ["5_o_Clock_Shadow", "Arched_Eyebrows", "Male"]
    assert lab.filenames == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert lab.values.tolist() == [[False, True, False], [False, False, True], [True, False, True]]
    assert lab.column("Male").tolist() == [False, True, True]


@pytest.mark.parametrize("ext,write,read", [(".txt", write_celeba_attributes, read_celeba_attributes),
                                            (".csv", write_csv_attributes, read_csv_attributes)])
def test_round_trip(tmp_path, ext, write, read):
    lab = _labels()
    p = tmp_path / f"labels{ext}"
    write(p, lab)
    for back in (read(p), read_attributes(p)):
        assert back.filenames == lab.filenames and back.names == lab.names
        assert np.array_equal(back.values, lab.values)


def test_csv_layout_is_filename_plus_01_columns(tmp_path):
    p = tmp_path / "l.csv"
    write_csv_attributes(p, AttributeLabels(["a.png", "b.png"], ["male", "hat"], [[1, 0], [0, 1]]))
    assert p.read_text() == "filename,male,hat\na.png,1,0\nb.png,0,1\n"


@pytest.mark.parametrize("text,match", [
    ("", "expected a count on line 1"),
    ("three\nMale\n", "line 1: expected the number of images, got 'three'"),
    ("1\nMale Male\nx.jpg 1 1\n", "line 2: duplicate attribute name 'Male'"),
    ("2\nMale Smiling\na.jpg 1 -1\nb.jpg 1\n", "line 4: expected a file name and 2 values, got 1 value"),
    ("1\nMale Smiling\na.jpg 1 0\n", "line 3: values must be \\+1 or -1, got '0' for a.jpg"),
    ("3\nMale\na.jpg 1\nb.jpg -1\n", "line 1 announces 3 images but 2 rows follow"),
    ("2\nMale\na.jpg 1\na.jpg -1\n", "duplicate file name 'a.jpg'"),
])
def test_celeba_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "list_attr_celeba.txt"
    p.write_text(text)
    with pytest.raises(LabelFormatError, match=match) as exc:
        read_celeba_attributes(p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("text,match", [
    ("", "empty file"),
    ("name,male\na.png,1\n", "line 1: the header must be 'filename,<attribute>,...'"),
    ("filename,male,male\na.png,1,0\n", "line 1: duplicate attribute name 'male'"),
    ("filename,male,hat\na.png,1,0\nb.png,1\n", "line 3: expected 3 columns like the header, got 2"),
    ("filename,male\na.png,-1\n", "line 2: values must be 0 or 1, got '-1' for a.png"),
    ("filename,male\na.png,1\na.png,0\n", "duplicate file name 'a.png'"),
])
def test_csv_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "labels.csv"
    p.write_text(text)
    with pytest.raises(LabelFormatError, match=match) as exc:
        read_csv_attributes(p)
    assert str(p) in str(exc.value)


def test_missing_images_are_reported_when_checked(tmp_path):
    p = tmp_path / "list_attr_celeba.txt"
    write_celeba_attributes(p, _labels())
    for name in ("000000.png", "000002.png", "000003.png", "000004.png"):
        (tmp_path / name).write_bytes(b"x")
    read_celeba_attributes(p)  # not checked: fine
    with pytest.raises(LabelFormatError, match="1 of 5 labelled files are missing from .*: 000001.png"):
        read_celeba_attributes(p, check_dir=tmp_path)


def test_corrupt_or_wrong_files_are_clear_errors(tmp_path):
    png = tmp_path / "list_attr_celeba.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    with pytest.raises(LabelFormatError, match="not a text file"):
        read_celeba_attributes(png)
    with pytest.raises(LabelFormatError, match="does not exist"):
        read_csv_attributes(tmp_path / "nope.csv")
    with pytest.raises(LabelFormatError, match="is a directory"):
        read_celeba_attributes(tmp_path)
    with pytest.raises(LabelFormatError, match="unknown label format '.json'"):
        read_attributes(tmp_path / "labels.json")


def test_labels_reject_names_that_cannot_be_written_back():
    with pytest.raises(ValueError, match="without spaces"):
        AttributeLabels(["a b.png"], ["male"], [[1]])
    with pytest.raises(ValueError, match="shape"):
        AttributeLabels(["a.png"], ["male", "hat"], [[1]])
