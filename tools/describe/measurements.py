"""Per-frame image measurements: what a person would read off one picture, as numbers.

Works on clean renders and on decoded VAE frames (blurry probability maps with soft edges and
faint ghosts), grey or colour, with a uniform background (dSprites, MNIST) or a structured one
(3DShapes' floor and wall, a portrait's background). Everything is vectorised over frames.

Steps (`measure_batch`):
1. Background palette: the border pixels (a strip of max(1, round(H / 32)) pixels) are
   clustered into up to three colours by k-means, started from the medians of the top strip,
   the bottom strip and the side strips; clusters holding under 10 % of the border are dropped,
   so an object that touches the edge does not become background.
2. Foreground: each pixel's distance d to the background (RGB Euclidean / sqrt(3), in [0, 1]):
   to the nearest palette colour, or to the segment between two palette colours where both
   are near (a blurred floor / wall boundary is a blend, not an object), or, in colour
   frames, to a darker shade of a saturated palette colour (a shadow cast on a coloured floor
   is floor, not object). The robust maximum of
   d (maximum of the 3x3 box mean, so lone noisy pixels do not count) is the foreground
   contrast m; under PRESENCE_FLOOR no object is present. The hard mask is the local
   half-maximum level set, d >= L / 2 with L the maximum of d within a few pixels: for a
   blurred object that level lies on its true edge, and an object whose parts stand out by
   different amounts (a red object over an orange floor and a blue wall) keeps all its parts.
   Only parts whose L is significant count: above SIGNIFICANT_SHARE x m and NOISE_FACTOR x
   the background's own variation (a high percentile of d on the border), never above m / 2.
   Soft weights ramp from 0 at L / 4 to 1 at 3L / 4 and give smooth moments on blurry frames;
   the core (d >= 3L / 4) gives the object's colour. In colour frames the hard mask is opened
   (3x3): spurs under 3 pixels thick, where a blurred floor-wall edge meets the object, are
   not the object, and the soft weights and the core keep only pixels within one pixel of it.
   Specks of grain are not the object: 8-connected pieces of the mask with at most
   SPECK_PIXELS pixels, under SPECK_SHARE of the largest piece's, whose contrast (highest d)
   stays under SPECK_SIGMAS x the frame's pixel noise (step 6). They leave the mask, and the
   soft weights keep only pixels near the pieces that stay. A clean frame has none (its
   pixel noise is about 0).
3. Geometry from the soft weights: centroid and area of all the pieces; of the largest piece
   (step 4, the soft weights near it) the second moments (principal axis, elongation,
   compactness, Hu's first two invariants) and complex moments c_n = sum w z^n (z = x + iy
   about its centroid, y up) for n = 2, 3, 4 plus c_1 = sum w |z|^2 z. |c_n| normalised is the
   strength of n-fold symmetry; arg(c_n) / n is a rotation angle modulo 360 / n degrees that
   exists for shapes with no principal axis: squares (n = 4), dSprites' heart (strongest at
   n = 3). The frame's rotation angle uses its strongest order.
4. Form of the object's largest piece (of the hard mask; parts up to two pixels apart are
   one piece): the form vector's elongation, compactness and symmetries (step 3), its solidity
   (pixel count over the convex hull of the pixel centres, grown by half a pixel; the hull from
   the support function in 32 directions of the rows' end pixels); a shape name (square,
   ellipse, heart, circle) when the form is close to a prototype (dSprites' shapes and the
   disc). Two blobs have no shape or rotation together: their joint moments swing with the
   pieces' sizes and spacing. The bounding box and extent are the whole mask's.
5. Colours: border (median), centre, top and bottom quarters and the background (mask
   excluded), the object (core) and the top third of the object (a portrait's hair), each with a common name (tools/describe/colour_names.py); global
   brightness (mean luma), contrast (std of luma), saturation (mean HSV saturation) and hue
   (of the mean colour, which is the chroma-weighted circular mean of the pixels' hues).
6. Pixel noise: the robust spread (median absolute deviation / 0.6745) of each pixel's
   difference from the mean of its four neighbours over the background away from the object,
   divided by sqrt(1.25) (that difference of white noise of spread s has spread sqrt(1.25) s);
   the RMS over colour channels. Smooth shading and clean renders give about 0; a diffusion
   model's grainy background gives its grain (tools/describe/noise.py uses it). Measured
   before the specks of step 2 are dropped, away from every piece of the mask.

Angles are in degrees, counterclockwise as a person sees it (image y grows downward; the
moments use y up). Positions and sizes are fractions of the image width / height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.describe.colour_names import name_colours, rgb_to_hsv
from tools.describe.vocabularies import DSPRITES_FLAT, FlatShapes
from tools.errors import UserError

PRESENCE_FLOOR = 0.1  # foreground contrast (distance to the background palette) below which no object is present
SIGNIFICANT_SHARE = 0.2  # share of the frame's foreground contrast a part of the object needs to count
NOISE_PERCENTILE = 97  # percentile of the border's distances to the palette taken as the background's own variation
NOISE_FACTOR = 2.0  # a part of the object must stand this many times above that variation
PALETTE_MIN_SHARE = 0.1  # border share a palette colour needs to count as background
BLEND_TOLERANCE = 0.15  # distance to a palette colour under which a pixel belongs to that background region
SHADOW_DEPTH = 0.45  # the darkest shade of a coloured background still taken for it (a cast shadow: 3DShapes' is 0.55)
SHADOW_MIN_SATURATION = 0.3  # saturation a palette colour needs for its darker shades to count as background
NOISE_MIN_PIXELS = 64  # background pixels needed to estimate the pixel noise (fewer: taken as 0)
SPECK_SHARE = 0.25  # a piece of the mask under this share of the largest piece's pixels,
SPECK_PIXELS = 16  # of at most this many pixels (grain makes specks of a few) and ...
SPECK_SIGMAS = 6.0  # ... whose contrast stays under this many times the pixel noise is a speck of grain
MERGE_DISTANCE = 0.075  # palette colours closer than this are one colour
HULL_DIRECTIONS = 32
KMEANS_STEPS = 5
MIN_SYMMETRY = 0.05  # symmetry strength below which a form has no usable rotation angle
# Moment quantities of the object's largest piece (the others: of all its pieces, step 3).
_PIECE_GEOMETRY = ("orientation_deg", "elongation", "compactness", "hu1", "hu2", "symmetry", "symmetry_phase")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Form vector: (log elongation, solidity, compactness, s1, s3, s4), each divided by the spread
# that pixelation and blur leave on one dSprites shape over scales, angles and positions, so a
# Euclidean distance of about 1 is "the same shape" and several units are a different one.
FORM_FEATURES: tuple[str, ...] = ("log_elongation", "solidity", "compactness", "symmetry_1", "symmetry_3", "symmetry_4")
FORM_SCALE = np.array([0.06, 0.05, 0.02, 0.02, 0.04, 0.1], dtype=np.float32)
# Prototype form vectors (unscaled feature values) of the named flat shapes and the radius
# within which one names a form: the dSprites flat pack (tools/describe/vocabularies.py DSPRITES_FLAT).
SHAPE_PROTOTYPES: dict[str, np.ndarray] = DSPRITES_FLAT.prototypes
SHAPE_MATCH_RADIUS = DSPRITES_FLAT.match_radius  # scaled form distance within which a prototype names the shape


@dataclass(frozen=True)
class FrameMeasurements:
    """Measurements of N frames as arrays; colours are (N, 3) RGB in [0, 1], NaN when the region
    is empty; object geometry is NaN when no object is present. `records()` gives JSON-able dicts."""

    brightness: np.ndarray
    contrast: np.ndarray
    saturation: np.ndarray
    hue_deg: np.ndarray
    border_colour: np.ndarray
    centre_colour: np.ndarray
    top_colour: np.ndarray
    bottom_colour: np.ndarray
    background_colour: np.ndarray
    object_colour: np.ndarray
    object_top_colour: np.ndarray
    object_luminance: np.ndarray
    background_luminance: np.ndarray
    object_saturation: np.ndarray
    background_saturation: np.ndarray
    foreground_contrast: np.ndarray
    noise_level: np.ndarray
    present: np.ndarray
    area: np.ndarray
    centroid_x: np.ndarray
    centroid_y: np.ndarray
    bbox: np.ndarray
    orientation_deg: np.ndarray
    elongation: np.ndarray
    compactness: np.ndarray
    hu1: np.ndarray
    hu2: np.ndarray
    symmetry: np.ndarray
    symmetry_phase: np.ndarray
    rotation_deg: np.ndarray
    symmetry_order: np.ndarray
    solidity: np.ndarray
    extent: np.ndarray
    form: np.ndarray
    shape_name: np.ndarray

    def records(self) -> list[dict[str, float | str | None]]:
        """One flat dict per frame; NaN becomes None so the dicts are strict JSON."""
        scalars = {
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "hue_deg": self.hue_deg,
            "object_luminance": self.object_luminance,
            "background_luminance": self.background_luminance,
            "foreground_contrast": self.foreground_contrast,
            "noise_level": self.noise_level,
            "object_present": self.present.astype(np.float32),
            "area_fraction": self.area,
            "centroid_x": self.centroid_x,
            "centroid_y": self.centroid_y,
            "bbox_x0": self.bbox[:, 0],
            "bbox_y0": self.bbox[:, 1],
            "bbox_x1": self.bbox[:, 2],
            "bbox_y1": self.bbox[:, 3],
            "orientation_deg": self.orientation_deg,
            "rotation_deg": self.rotation_deg,
            "symmetry_order": self.symmetry_order.astype(np.float32),
            "elongation": self.elongation,
            "compactness": self.compactness,
            "solidity": self.solidity,
            "extent": self.extent,
            "hu1": self.hu1,
            "hu2": self.hu2,
        }
        for order in range(4):
            scalars[f"symmetry_{order + 1}"] = self.symmetry[:, order]
        colours = {
            "border": self.border_colour,
            "centre": self.centre_colour,
            "top": self.top_colour,
            "bottom": self.bottom_colour,
            "background": self.background_colour,
            "object": self.object_colour,
            "object_top": self.object_top_colour,
        }
        colour_names = {region: name_colours(rgb) for region, rgb in colours.items()}
        records: list[dict[str, float | str | None]] = []
        for i in range(len(self.brightness)):
            record: dict[str, float | str | None] = {key: _json_float(values[i]) for key, values in scalars.items()}
            for region, rgb in colours.items():
                for channel, letter in enumerate("rgb"):
                    record[f"{region}_colour_{letter}"] = _json_float(rgb[i, channel])
                record[f"{region}_colour_name"] = str(colour_names[region][i])
            record["shape_name"] = str(self.shape_name[i])
            records.append(record)
        return records


def measure_frames(frames: np.ndarray) -> list[dict[str, float | str | None]]:
    """frames: (N, C, H, W) float in [0, 1], C = 1 or 3. One JSON-able dict per frame (see
    FrameMeasurements and the module docstring for every key; None where a value is undefined,
    e.g. the centroid of an absent object)."""
    return measure_batch(frames).records()


def measure_batch(frames: np.ndarray, shapes: FlatShapes = DSPRITES_FLAT) -> FrameMeasurements:
    """frames: (N, C, H, W) float in [0, 1], C = 1 or 3 -> FrameMeasurements of N frames.
    shapes: the flat forms shape names come from (tools/describe/vocabularies.py)."""
    rgb = _as_planes(frames)  # (N, 3, H, W)
    n, _, height, width = rgb.shape
    border = max(1, round(height / 32))

    # 1-2. Background palette and foreground.
    colour_planes = rgb[:, :1] if frames.shape[1] == 1 else rgb  # grey frames: one plane is enough
    palette, valid = _background_palette(colour_planes, border)
    distance = _palette_distance(colour_planes, palette, valid, border + 1)
    contrast_max = _box_mean(distance).reshape(n, -1).max(axis=1)
    border_noise = np.percentile(_border_pixels(distance[:, None], border)[0][:, 0], NOISE_PERCENTILE, axis=1)
    significant = np.maximum(np.maximum(PRESENCE_FLOOR, SIGNIFICANT_SHARE * contrast_max), NOISE_FACTOR * border_noise)
    significant = np.minimum(significant, 0.5 * contrast_max)
    present = contrast_max >= PRESENCE_FLOOR
    local = _max_filter(distance, border + 1)
    local_level = np.where(present[:, None, None] & (local >= significant[:, None, None]), local, np.inf)
    mask = distance >= 0.5 * local_level
    core = distance >= 0.75 * local_level
    with np.errstate(invalid="ignore"):
        weights = np.nan_to_num(np.clip((distance - 0.25 * local_level) / (0.5 * local_level), 0.0, 1.0))
    if frames.shape[1] == 3:  # colour: drop thin spurs along background edges (step 2)
        mask = _opening(mask)
        weights = weights * _max_filter(mask.astype(np.float32), 1)
        core = core & mask
    noise_level = _pixel_noise(colour_planes, _max_filter(mask.astype(np.float32), border + 1) > 0.5)
    grainy = np.flatnonzero(SPECK_SIGMAS * noise_level > PRESENCE_FLOOR)  # only there can grain make a piece
    if len(grainy):  # specks are background; every weight lies within border + 1 of the mask
        object_mask = mask[grainy] & ~_specks(mask[grainy], distance[grainy], SPECK_SIGMAS * noise_level[grainy])
        weights[grainy] *= _max_filter(object_mask.astype(np.float32), border + 1)
        mask[grainy] = object_mask
        core[grainy] &= object_mask
    labels, counts = _pieces(mask, join=True)
    piece = (labels == counts.argmax(axis=1)[:, None, None]) & mask  # the largest piece (label 0 is off the mask)

    # 3. Moments of the soft weights: position and area of all pieces, the rest of the largest.
    geometry = _moment_geometry(weights)
    several = (piece != mask).reshape(n, -1).any(axis=1)
    if several.any():  # the soft weights near the largest piece
        own = _moment_geometry(weights[several] * _max_filter(piece[several].astype(np.float32), border + 1))
        for key in _PIECE_GEOMETRY:
            geometry[key][several] = own[key]

    # 4. Form of the largest piece of the hard mask.
    hull = _convex_hull_area(piece)
    piece_area = piece.reshape(n, -1).sum(axis=1).astype(np.float32)
    mask_area = mask.reshape(n, -1).sum(axis=1).astype(np.float32)
    bbox = _bounding_box(mask)
    bbox_area = (bbox[:, 2] - bbox[:, 0]) * width * (bbox[:, 3] - bbox[:, 1]) * height
    with np.errstate(invalid="ignore", divide="ignore"):
        solidity = np.minimum(piece_area / hull, 1.0)
        extent = mask_area / bbox_area
        log_elongation = np.log(geometry["elongation"])
    form = np.stack(
        [
            log_elongation,
            solidity,
            geometry["compactness"],
            geometry["symmetry"][:, 0],
            geometry["symmetry"][:, 2],
            geometry["symmetry"][:, 3],
        ],
        axis=1,
    )

    # 5. Colours and global statistics.
    red, green, blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    luma = LUMA[0] * red + LUMA[1] * green + LUMA[2] * blue  # (N, H, W)
    top_value = np.maximum(np.maximum(red, green), blue)
    chroma = top_value - np.minimum(np.minimum(red, green), blue)
    pixel_saturation = np.where(top_value > 0, chroma / np.maximum(top_value, 1e-6), 0.0)
    planes = np.concatenate([rgb, luma[:, None], pixel_saturation[:, None]], axis=1)  # (N, 5, H, W)
    quarter = max(1, height // 4)
    top_region = np.zeros((height, width), dtype=bool)
    top_region[:quarter] = True
    bottom_region = np.zeros((height, width), dtype=bool)
    bottom_region[height - quarter :] = True
    centre_region = np.zeros((height, width), dtype=bool)
    centre_region[height // 4 : height - height // 4, width // 4 : width - width // 4] = True
    background = ~mask
    object_core = core & present[:, None, None]
    top_third = np.nan_to_num(bbox[:, 1] + (bbox[:, 3] - bbox[:, 1]) / 3.0) * height  # rows above it: the object's top
    object_top = object_core & (np.arange(height)[None, :, None] + 0.5 < top_third[:, None, None])
    regions = np.stack(
        [
            np.broadcast_to(centre_region, mask.shape),
            background & top_region,
            background & bottom_region,
            background,
            object_core,
            object_top,
        ],
        axis=1,
    )  # (N, 6 regions, H, W)
    centre, top, bottom, back, obj, obj_top = np.moveaxis(_region_means(planes, regions), 1, 0)  # each (N, 5 planes)

    absent = ~present
    for key in ("area", "centroid_x", "centroid_y", "orientation_deg", "elongation", "compactness", "hu1", "hu2"):
        geometry[key] = np.where(absent, np.nan, geometry[key]).astype(np.float32)
    for key in ("symmetry", "symmetry_phase"):
        geometry[key] = np.where(absent[:, None], np.nan, geometry[key]).astype(np.float32)
    rotation_deg, symmetry_order = _dominant_rotation(geometry["symmetry"], geometry["symmetry_phase"])
    form = np.where(absent[:, None], np.nan, form).astype(np.float32)
    luma_flat = luma.reshape(n, -1)
    mean_rgb = rgb.reshape(n, 3, -1).mean(axis=2)
    return FrameMeasurements(
        brightness=luma_flat.mean(axis=1),
        contrast=luma_flat.std(axis=1),
        saturation=pixel_saturation.reshape(n, -1).mean(axis=1).astype(np.float32),
        hue_deg=_hue_of_mean(mean_rgb),
        border_colour=np.median(_border_pixels(rgb, border)[0], axis=2),
        centre_colour=centre[:, :3],
        top_colour=top[:, :3],
        bottom_colour=bottom[:, :3],
        background_colour=back[:, :3],
        object_colour=obj[:, :3],
        object_top_colour=obj_top[:, :3],
        object_luminance=obj[:, 3],
        background_luminance=back[:, 3],
        object_saturation=obj[:, 4],
        background_saturation=back[:, 4],
        foreground_contrast=contrast_max.astype(np.float32),
        noise_level=noise_level,
        present=present,
        area=geometry["area"],
        centroid_x=geometry["centroid_x"],
        centroid_y=geometry["centroid_y"],
        bbox=np.where(absent[:, None], np.nan, bbox).astype(np.float32),
        orientation_deg=geometry["orientation_deg"],
        elongation=geometry["elongation"],
        compactness=geometry["compactness"],
        hu1=geometry["hu1"],
        hu2=geometry["hu2"],
        symmetry=geometry["symmetry"],
        symmetry_phase=geometry["symmetry_phase"],
        rotation_deg=rotation_deg,
        symmetry_order=symmetry_order,
        solidity=np.where(absent, np.nan, solidity).astype(np.float32),
        extent=np.where(absent, np.nan, extent).astype(np.float32),
        form=form,
        shape_name=name_shapes(form, shapes),
    )


def form_distance(form_a: np.ndarray, form_b: np.ndarray) -> np.ndarray:
    """Scaled Euclidean distance between form vectors (..., 6) -> (...); about 1 is within the
    spread of one shape, several units is a different shape. NaN when either is NaN."""
    return np.sqrt((((form_a - form_b) / FORM_SCALE) ** 2).sum(axis=-1))


def name_shapes(form: np.ndarray, shapes: FlatShapes = DSPRITES_FLAT) -> np.ndarray:
    """form: (N, 6) form vectors -> (N,) names: the nearest of shapes' prototypes (dSprites'
    by default, SHAPE_PROTOTYPES) within its match radius (SHAPE_MATCH_RADIUS), "unknown"
    otherwise, "none" when no object is present."""
    names = list(shapes.prototypes)
    prototypes = np.stack([shapes.prototypes[name] for name in names])
    distances = form_distance(form[:, None, :], prototypes[None, :, :])
    nearest = np.nanargmin(np.where(np.isnan(distances), np.inf, distances), axis=1)
    best = distances[np.arange(len(form)), nearest]
    labels = np.array(names, dtype=object)[nearest]
    labels = np.where(best <= shapes.match_radius, labels, "unknown")
    return np.where(np.isnan(form).any(axis=1), "none", labels).astype(object)


def _as_planes(frames: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1], C = 1 or 3 -> (N, 3, H, W) float32; raises UserError otherwise.
    A torch tensor (on any device) is accepted too."""
    frames = frames_to_numpy(frames)
    if frames.ndim != 4 or frames.shape[1] not in (1, 3) or min(frames.shape) < 1:
        raise UserError(f"frames have shape {frames.shape}; expected (N, C, H, W) with C = 1 or 3")
    if frames.shape[2] < 8 or frames.shape[3] < 8:
        raise UserError(f"frames of {frames.shape[2]}x{frames.shape[3]} pixels are too small; need at least 8x8")
    frames = frames.astype(np.float32, copy=False)
    if not np.isfinite(frames).all():
        raise UserError("frames contain NaN or infinite values; expected values in [0, 1]")
    low, high = float(frames.min()), float(frames.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise UserError(f"frames range over [{low:.3g}, {high:.3g}]; expected values in [0, 1]")
    frames = np.clip(frames, 0.0, 1.0)
    return np.ascontiguousarray(np.broadcast_to(frames, (frames.shape[0], 3, *frames.shape[2:])))


def frames_to_numpy(frames: np.ndarray) -> np.ndarray:
    """An array, or a torch tensor on any device (duck-typed, so torch is not imported)."""
    if hasattr(frames, "detach") and hasattr(frames, "cpu"):
        frames = frames.detach().cpu().float().numpy()
    return np.asarray(frames)


def _border_pixels(planes: np.ndarray, border: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(N, C, H, W) -> all border pixels (N, C, P) and the [top, bottom, sides] strips."""
    n, c = planes.shape[:2]
    top = planes[:, :, :border].reshape(n, c, -1)
    bottom = planes[:, :, -border:].reshape(n, c, -1)
    sides = np.concatenate(
        [
            planes[:, :, border:-border, :border].reshape(n, c, -1),
            planes[:, :, border:-border, -border:].reshape(n, c, -1),
        ],
        axis=2,
    )
    return np.concatenate([top, bottom, sides], axis=2), [top, bottom, sides]


def _background_palette(planes: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k = 3) of the border pixels of (N, C, H, W) -> centres (N, C, 3) and valid
    (N, 3). Centres closer than MERGE_DISTANCE are merged (a uniform border is one colour);
    a centre is valid when it then holds at least PALETTE_MIN_SHARE of the border."""
    pixels, strips = _border_pixels(planes, border)  # (N, C, P)
    channels = planes.shape[1]
    centres = np.stack([np.median(strip, axis=2) for strip in strips], axis=2)  # (N, C, K)
    for _ in range(KMEANS_STEPS):
        squared = _squared_norm(pixels[:, :, :, None] - centres[:, :, None, :])  # (N, P, K)
        closest = np.minimum(np.minimum(squared[..., 0], squared[..., 1]), squared[..., 2])
        one_hot = (squared == closest[..., None]).astype(np.float32)
        one_hot /= one_hot.sum(axis=2, keepdims=True)  # ties share a pixel
        counts = one_hot.sum(axis=1)  # (N, K)
        sums = np.einsum("ncp,npk->nck", pixels, one_hot)
        centres = np.where(counts[:, None, :] > 0, sums / np.maximum(counts, 1e-6)[:, None, :], centres)
    alive = counts > 0
    for j in range(1, centres.shape[2]):
        for i in range(j):
            close = _squared_norm(centres[:, :, i] - centres[:, :, j]) <= channels * MERGE_DISTANCE**2
            merge = alive[:, i] & alive[:, j] & close
            counts[:, i] += np.where(merge, counts[:, j], 0.0)
            alive[:, j] &= ~merge
    valid = alive & (counts / pixels.shape[2] >= PALETTE_MIN_SHARE)
    return centres.astype(np.float32), valid


def _palette_distance(planes: np.ndarray, palette: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """Distance of every pixel of (N, C, H, W) to the background: (N, H, W) in [0, 1], the
    Euclidean distance over channels divided by sqrt(C) (RGB / sqrt(3); grey: the difference).

    1. The distance to the nearest valid palette colour (palette (N, C, K), valid (N, K)).
    2. A pixel with pixels close to two palette colours within `radius` (closer than
       BLEND_TOLERANCE) may be a blend of the two (a blurred boundary between floor and wall):
       its distance to the segment between those colours counts too.
    3. Colour frames: a darker shade of a saturated palette colour (saturation >=
       SHADOW_MIN_SATURATION) is that background in shadow (the object's cast shadow on a
       coloured floor or wall): its distance to the segment from SHADOW_DEPTH x the colour to
       the colour counts too. Grey and weakly coloured backgrounds are left out, so a dark
       object on a white or grey backdrop stays an object."""
    channels, colours = planes.shape[1], palette.shape[2]
    per_colour = [
        np.where(valid[:, k, None, None], _squared_norm(planes - palette[:, :, k, None, None]), np.inf)
        for k in range(colours)
    ]
    nearest = np.minimum.reduce(per_colour)
    near: dict[int, np.ndarray] = {}
    for i in range(colours):
        for j in range(i + 1, colours):
            if not (valid[:, i] & valid[:, j]).any():
                continue
            for k in (i, j):
                if k not in near:
                    near[k] = -_max_filter(-per_colour[k], radius) <= channels * BLEND_TOLERANCE**2
            both = near[i] & near[j]
            if not both.any():
                continue
            start = palette[:, :, i, None, None]
            segment = palette[:, :, j, None, None] - start  # (N, C, 1, 1)
            offset = planes - start
            along = (offset * segment).sum(axis=1) / np.maximum(_squared_norm(segment), 1e-9)
            squared = _squared_norm(offset - np.clip(along, 0.0, 1.0)[:, None] * segment)
            nearest = np.where(both, np.minimum(nearest, squared), nearest)
    if channels == 3:
        _, saturation, _ = rgb_to_hsv(np.moveaxis(palette, 1, 2))  # (N, K)
        for k in range(colours):
            shaded = valid[:, k] & (saturation[:, k] >= SHADOW_MIN_SATURATION)
            if not shaded.any():
                continue
            top = palette[:, :, k, None, None]
            segment = top * (1.0 - SHADOW_DEPTH)  # from SHADOW_DEPTH x colour up to the colour
            offset = planes - top * SHADOW_DEPTH
            along = (offset * segment).sum(axis=1) / np.maximum(_squared_norm(segment), 1e-9)
            squared = _squared_norm(offset - np.clip(along, 0.0, 1.0)[:, None] * segment)
            nearest = np.where(shaded[:, None, None], np.minimum(nearest, squared), nearest)
    return np.sqrt(nearest / channels)


def _squared_norm(values: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm over axis 1 (channels, 1 or 3), summed plane by plane."""
    total = values[:, 0] ** 2
    for channel in range(1, values.shape[1]):
        total = total + values[:, channel] ** 2
    return total


def _box_mean(images: np.ndarray) -> np.ndarray:
    """3x3 box mean with edge padding: (N, H, W) -> (N, H, W)."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    height, width = images.shape[1:]
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:])[:, :height, :width] / 9.0


def _opening(mask: np.ndarray) -> np.ndarray:
    """Morphological opening of boolean masks (N, H, W) by a 3x3 square: erosion then
    dilation; parts thinner than 3 pixels go, thicker ones keep their outline."""
    eroded = -_max_filter(-mask.astype(np.float32), 1) > 0.5
    return _max_filter(eroded.astype(np.float32), 1) > 0.5


def _max_filter(images: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2 radius + 1) square window, edges padded: (N, H, W) -> (N, H, W)."""
    height, width = images.shape[1:]
    padded = np.pad(images, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    rows = padded[:, :height, :]
    for shift in range(1, 2 * radius + 1):
        rows = np.maximum(rows, padded[:, shift : shift + height, :])
    out = rows[:, :, :width]
    for shift in range(1, 2 * radius + 1):
        out = np.maximum(out, rows[:, :, shift : shift + width])
    return out


def _moment_geometry(weights: np.ndarray) -> dict[str, np.ndarray]:
    """Moments of soft weights (N, H, W) -> centroid (fractions, x right, y down), area
    fraction, principal-axis angle (degrees, counterclockwise), elongation (axis ratio >= 1),
    compactness (1 for a disc), Hu's I1 and I2, symmetry strengths (N, 4) for orders 1..4 and
    their phases (N, 4) in radians (counterclockwise)."""
    n, height, width = weights.shape
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    mass = weights.reshape(n, -1).sum(axis=1)
    safe_mass = np.maximum(mass, 1e-6)
    cx = np.einsum("nw,w->n", weights.sum(axis=1), xs) / safe_mass
    cy = np.einsum("nh,h->n", weights.sum(axis=2), ys) / safe_mass
    dx = xs[None, None, :] - cx[:, None, None]
    dy = cy[:, None, None] - ys[None, :, None]  # y up
    z = (dx + 1j * dy).astype(np.complex64)  # (N, H, W)
    radius2 = (dx * dx + dy * dy).astype(np.float32)
    radius = np.sqrt(radius2)
    z2 = z * z
    flat_weights = weights.reshape(n, -1).astype(np.float32)

    def total(values: np.ndarray) -> np.ndarray:
        """Weighted sum over pixels: (N, H, W) -> (N,)."""
        return np.einsum("np,np->n", flat_weights.astype(values.dtype), values.reshape(n, -1))

    radius3 = radius2 * radius
    mu_sum, norm3, norm4 = total(radius2), total(radius3), total(radius2 * radius2)  # mu_sum = mu20 + mu02
    z3 = z2 * z
    c1, c2, c3, c4 = total(radius2 * z), total(z2), total(z3), total(z2 * z2)  # c2 = (mu20 - mu02) + 2i mu11
    norms = (norm3, mu_sum, norm3, norm4)
    with np.errstate(invalid="ignore", divide="ignore"):
        symmetry = np.stack(
            [np.abs(c) / np.maximum(m, 1e-9) for c, m in zip((c1, c2, c3, c4), norms, strict=True)], axis=1
        )
        phase = np.stack([np.angle(c) for c in (c1, c2, c3, c4)], axis=1)
        anisotropy = np.abs(c2)
        major = 0.5 * (mu_sum + anisotropy)
        minor = np.maximum(0.5 * (mu_sum - anisotropy), 1e-9)
        elongation = np.sqrt(major / minor)
        compactness = mass**2 / np.maximum(2 * np.pi * mu_sum, 1e-9)
        hu1 = mu_sum / np.maximum(mass, 1e-9) ** 2
        hu2 = anisotropy**2 / np.maximum(mass, 1e-9) ** 4
    return {
        "area": mass / (height * width),
        "centroid_x": cx / width,
        "centroid_y": cy / height,
        "orientation_deg": np.degrees(np.angle(c2) / 2),
        "elongation": elongation,
        "compactness": compactness,
        "hu1": hu1,
        "hu2": hu2,
        "symmetry": symmetry,
        "symmetry_phase": phase,
    }


def _dominant_rotation(symmetry: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angle from the strongest symmetry order: (N, 4), (N, 4) -> angle in degrees
    in [0, 360 / n) and the order n (NaN and 0 when no order stands out, e.g. a disc)."""
    filled = np.nan_to_num(symmetry, nan=0.0)
    order_index = filled.argmax(axis=1)
    strength = filled[np.arange(len(filled)), order_index]
    order = order_index + 1
    angle = np.mod(np.degrees(phase[np.arange(len(phase)), order_index]) / order, 360.0 / order)
    undefined = strength < MIN_SYMMETRY
    return np.where(undefined, np.nan, angle).astype(np.float32), np.where(undefined, 0, order)


def _pixel_noise(planes: np.ndarray, near_object: np.ndarray) -> np.ndarray:
    """Spread of white pixel noise in (N, C, H, W) frames, from the pixels outside near_object
    (N, H, W) (module docstring, step 6) -> (N,); 0 where fewer than NOISE_MIN_PIXELS remain."""
    n, channels = planes.shape[:2]
    padded = np.pad(planes, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    neighbours = padded[:, :, :-2, 1:-1] + padded[:, :, 2:, 1:-1] + padded[:, :, 1:-1, :-2] + padded[:, :, 1:-1, 2:]
    residual = np.abs(planes - 0.25 * neighbours)
    level = np.zeros(n, dtype=np.float32)
    for i in range(n):
        outside = ~near_object[i]
        if outside.sum() < NOISE_MIN_PIXELS:
            continue
        spreads = np.median(residual[i][:, outside], axis=1) / (0.6745 * np.sqrt(1.25))  # (C,)
        level[i] = np.sqrt(np.mean(spreads**2))
    return level


def _specks(mask: np.ndarray, distance: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Specks of grain in boolean masks (N, H, W) -> (N, H, W) bool: the 8-connected pieces of
    at most SPECK_PIXELS pixels, under SPECK_SHARE of the largest piece's, whose highest
    distance to the background (distance (N, H, W)) stays under `reach` (N,), the contrast the
    frame's grain can reach."""
    n = len(mask)
    labels, counts = _pieces(mask, join=False)
    peak = np.zeros(counts.shape, dtype=np.float32)
    rows = np.repeat(np.arange(n), labels[0].size)
    np.maximum.at(peak, (rows, labels.ravel()), distance.reshape(-1).astype(np.float32))
    small = (counts <= SPECK_PIXELS) & (counts < SPECK_SHARE * counts.max(axis=1, keepdims=True))
    speck = small & (peak < reach[:, None])
    speck[:, 0] = False
    return np.take_along_axis(speck, labels.reshape(n, -1), axis=1).reshape(mask.shape)


def _pieces(mask: np.ndarray, join: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected pieces of boolean masks (N, H, W), parts up to two pixels apart being
    one piece when `join` (the half-maximum level splits a face's dark hair from its lighter
    skin, not the background) -> labels (N, H, W) int32 (0 off the mask) and counts
    (N, H W + 1): the mask pixels of each label (counts[:, 0] = 0).

    1. Grow the mask by one pixel (3x3) when joining; label each pixel of the grown mask with
       its own number; repeat: each pixel takes the largest label in its 3x3 neighbourhood
       within the grown mask, until no label changes (each 8-connected piece ends with one
       label; only the frames still changing are updated).
    2. Keep the labels on the mask; count the pixels of each label per frame."""
    n, height, width = mask.shape
    grown_mask = _max_filter(mask.astype(np.float32), 1) > 0.5 if join else mask
    numbers = np.arange(1, height * width + 1, dtype=np.int32).reshape(height, width)
    labels = np.where(grown_mask, numbers[None], 0).astype(np.int32)
    changing = np.flatnonzero(mask.reshape(n, -1).any(axis=1))
    while len(changing):
        grown = np.where(grown_mask[changing], _max_filter(labels[changing], 1), 0)
        moved = (grown != labels[changing]).reshape(len(changing), -1).any(axis=1)
        labels[changing] = grown
        changing = changing[moved]
    labels = np.where(mask, labels, 0)
    slots = height * width + 1
    offsets = (np.arange(n, dtype=np.int64) * slots)[:, None]
    counts = np.bincount((labels.reshape(n, -1) + offsets).ravel(), minlength=n * slots).reshape(n, slots)
    counts[:, 0] = 0
    return labels, counts


def _convex_hull_area(mask: np.ndarray) -> np.ndarray:
    """Area (pixels) of the convex hull of each mask (N, H, W), NaN when empty.

    The hull of the pixel centres is taken from its support function in HULL_DIRECTIONS
    directions (the rows' end pixels suffice), then grown by half a pixel all round
    (area + perimeter / 2 + pi / 4), which makes a digitised convex shape's hull about its
    pixel count whatever its angle."""
    n, height, width = mask.shape
    filled = mask.any(axis=2)  # (N, H)
    left = mask.argmax(axis=2).astype(np.float32) + 0.5
    right = (width - mask[:, :, ::-1].argmax(axis=2)).astype(np.float32) - 0.5
    rows = np.broadcast_to(np.arange(height, dtype=np.float32) + 0.5, (n, height))
    xs = np.concatenate([left, right], axis=1)  # (N, 2H)
    ys = np.concatenate([rows, rows], axis=1)
    usable = np.concatenate([filled, filled], axis=1)
    angles = np.linspace(0, 2 * np.pi, HULL_DIRECTIONS, endpoint=False).astype(np.float32)
    cos, sin = np.cos(angles), np.sin(angles)
    projection = xs[:, :, None] * cos + ys[:, :, None] * sin  # (N, 2H, D)
    support = np.where(usable[:, :, None], projection, -np.inf).max(axis=1)  # (N, D)
    support = np.where(np.isfinite(support), support, 0.0)
    support_next = np.roll(support, -1, axis=1)
    cos_next, sin_next = np.roll(cos, -1), np.roll(sin, -1)
    det = np.sin(2 * np.pi / HULL_DIRECTIONS)
    vx = (support * sin_next - support_next * sin) / det
    vy = (support_next * cos - support * cos_next) / det
    vx_next, vy_next = np.roll(vx, -1, axis=1), np.roll(vy, -1, axis=1)
    area = 0.5 * np.abs((vx * vy_next - vx_next * vy).sum(axis=1))
    perimeter = np.hypot(vx_next - vx, vy_next - vy).sum(axis=1)
    grown = area + 0.5 * perimeter + np.pi / 4
    return np.where(filled.any(axis=1), grown, np.nan).astype(np.float32)


def _bounding_box(mask: np.ndarray) -> np.ndarray:
    """(N, H, W) masks -> (N, 4) boxes (x0, y0, x1, y1) as fractions of width / height,
    edges on pixel boundaries; NaN for an empty mask."""
    n, height, width = mask.shape
    cols, rows = mask.any(axis=1), mask.any(axis=2)
    x0 = cols.argmax(axis=1)
    x1 = width - cols[:, ::-1].argmax(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = height - rows[:, ::-1].argmax(axis=1)
    box = np.stack([x0 / width, y0 / height, x1 / width, y1 / height], axis=1).astype(np.float32)
    return np.where(cols.any(axis=1)[:, None], box, np.nan)


def _region_means(planes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Means of planes (N, C, H, W) over boolean regions (N, R, H, W) -> (N, R, C); NaN where
    a region is empty."""
    n = planes.shape[0]
    weights = regions.reshape(n, regions.shape[1], -1).astype(np.float32)
    count = weights.sum(axis=2)  # (N, R)
    sums = np.einsum("nrp,ncp->nrc", weights, planes.reshape(n, planes.shape[1], -1))  # (N, R, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / count[:, :, None]
    return np.where(count[:, :, None] > 0, means, np.nan).astype(np.float32)


def _hue_of_mean(mean_rgb: np.ndarray) -> np.ndarray:
    """Hue (degrees, [0, 360)) of the mean colour (N, 3): the chroma-weighted circular mean of
    the pixels' hues in the hexagonal approximation; NaN when the mean colour is grey
    (chroma under 0.02)."""
    red, green, blue = mean_rgb[:, 0], mean_rgb[:, 1], mean_rgb[:, 2]
    alpha = red - 0.5 * (green + blue)
    beta = (np.sqrt(3.0) / 2.0) * (green - blue)
    hue = np.mod(np.degrees(np.arctan2(beta, alpha)), 360.0)
    return np.where(np.hypot(alpha, beta) < 0.02, np.nan, hue).astype(np.float32)


def _json_float(value: float) -> float | None:
    """A finite float, or None for NaN."""
    value = float(value)
    return None if np.isnan(value) else value
