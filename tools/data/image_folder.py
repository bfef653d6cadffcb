"""A user's own images: a folder of PNG / JPEG files -> square tensors, with optional labels.

Layout:
- unlabelled: the images sit directly in FOLDER;
- labelled: each sub-folder of FOLDER is a class named after it (sorted by name), holding its
  images at any depth, as in torchvision's ImageFolder convention.
A folder with images both at its top and in sub-folders is refused (which would the top-level
ones belong to?), as is a folder without images. Files and folders whose names start with "."
are ignored.

Each image is centre-cropped to a square (the shorter side) and resized with Pillow's Lanczos
filter to size x size, then converted to RGB (channels=3) or grey (channels=1). Images are
kept as uint8 to hold large folders in memory; batches are float32 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tools.errors import UserError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageFolderData:
    """images: (N, C, S, S) uint8. labels: (N,) int64 class indices, or None when unlabelled.
    class_names: the sub-folder names, label i is class_names[i] (empty when unlabelled).
    paths: each image's file, in row order."""

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: tuple[str, ...]
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _images_under(folder: Path) -> list[Path]:
    """Image files at any depth under folder, sorted, skipping hidden files and folders."""
    found = [
        path for path in folder.rglob("*")
        if _is_image(path) and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(found)


def list_image_files(folder: str | Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """The images of a folder and their labels: (paths, labels or None, class names).

    Raises UserError for a missing folder, a folder without images, or images both at the top
    and in class sub-folders."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"image folder {str(folder)!r} does not exist or is not a folder")
    top = sorted(path for path in root.iterdir() if _is_image(path))
    classes = [
        child for child in sorted(root.iterdir())
        if child.is_dir() and not child.name.startswith(".") and _images_under(child)
    ]
    if top and classes:
        names = ", ".join(child.name for child in classes)
        raise UserError(
            f"image folder {str(folder)!r} has images at its top level and in sub-folders ({names}); "
            "put every image in a class sub-folder, or none")
    if top:
        return top, None, []
    if not classes:
        raise UserError(f"image folder {str(folder)!r} holds no {', '.join(IMAGE_SUFFIXES)} images")
    paths, labels = [], []
    for label, child in enumerate(classes):
        files = _images_under(child)
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, labels, [child.name for child in classes]


def _load_image(path: Path, size: int, channels: int) -> torch.Tensor:
    """One file -> (C, size, size) uint8: centre crop to a square, Lanczos resize."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if channels == 3 else "L")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"cannot read image {str(path)!r}: {error}") from None
    return data.reshape(size, size, channels).permute(2, 0, 1).contiguous()


def load_image_folder(folder: str | Path, size: int = 64, channels: int = 3) -> ImageFolderData:
    """Read every image of a folder (layout in the module docstring) as (N, C, size, size) uint8."""
    if channels not in (1, 3):
        raise UserError(f"image channels must be 1 (grey) or 3 (RGB), got {channels}")
    if size < 8:
        raise UserError(f"image size must be at least 8 pixels, got {size}")
    paths, labels, class_names = list_image_files(folder)
    images = torch.stack([_load_image(path, size, channels) for path in paths])
    return ImageFolderData(
        images=images,
        labels=None if labels is None else torch.tensor(labels, dtype=torch.int64),
        class_names=tuple(class_names),
        paths=tuple(str(path) for path in paths),
    )


def sample_batch(data: ImageFolderData, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n images drawn uniformly with replacement: (n, C, S, S) float32 in [0, 1], and their
    labels (n,) int64 or None."""
    index = torch.randint(len(data), (n,), generator=generator)
    images = data.images[index].float() / 255.0
    return images, None if data.labels is None else data.labels[index]
