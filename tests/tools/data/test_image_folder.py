import pytest
import torch
from PIL import Image

from agent.errors import UserError
from tools.data.image_folder import list_image_files, load_image_folder, sample_batch


def _write(path, size=(20, 12), colour=(255, 0, 0), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)


def test_class_subfolders_become_labels(tmp_path):
    _write(tmp_path / "cats" / "a.png", colour=(255, 0, 0))
    _write(tmp_path / "cats" / "deeper" / "b.JPG", colour=(250, 0, 0), fmt="JPEG")
    _write(tmp_path / "dogs" / "c.jpeg", size=(9, 30), colour=(0, 0, 255), fmt="JPEG")
    _write(tmp_path / "dogs" / ".hidden.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path, size=16)
    assert data.images.shape == (3, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.class_names == ("cats", "dogs")
    assert data.labels.tolist() == [0, 0, 1]
    assert data.paths[2].endswith("c.jpeg")
    dog = data.images[2].float() / 255
    assert dog[2].mean() > 0.9 and dog[0].mean() < 0.1  # blue stays blue through JPEG and resizing


def test_centre_crop_and_grey(tmp_path):
    image = Image.new("RGB", (30, 10), (0, 0, 255))
    image.paste((255, 255, 255), (10, 0, 20, 10))  # a white centre square between blue sides
    image.save(tmp_path / "wide.png")
    grey = load_image_folder(tmp_path, size=10, channels=1)
    assert grey.labels is None and grey.class_names == ()
    assert grey.images.shape == (1, 1, 10, 10)
    assert grey.images.float().mean() > 240  # only the white centre survives the crop


def test_sample_batch_gives_floats_and_labels(tmp_path):
    for i in range(3):
        _write(tmp_path / ("a" if i else "b") / f"{i}.png", colour=(i * 100, 0, 0))
    data = load_image_folder(tmp_path, size=8)
    images, labels = sample_batch(data, 5, torch.Generator().manual_seed(0))
    assert images.shape == (5, 3, 8, 8) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1 and labels.shape == (5,)
    for image, label in zip(images, labels, strict=True):  # each image keeps its own label
        assert (image[0].mean() < 0.05) == (label.item() == 1)


def test_bad_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        list_image_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no"):
        list_image_files(tmp_path / "empty")
    _write(tmp_path / "mixed" / "top.png")
    _write(tmp_path / "mixed" / "cls" / "x.png")
    with pytest.raises(UserError, match="top level and in sub-folders"):
        list_image_files(tmp_path / "mixed")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="bad.png"):
        load_image_folder(tmp_path / "broken")
    with pytest.raises(UserError, match="channels"):
        load_image_folder(tmp_path / "mixed" / "cls", channels=2)
