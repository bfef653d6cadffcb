"""Procedural 3DShapes (Burgess & Kim 2018): 64x64 RGB scenes ray-cast on demand.

Factors and their grid (the original dataset's, see docs/method.md):

| factor      | values                                          |
|-------------|-------------------------------------------------|
| floor_hue   | 10 hues in [0, 0.9] (HSV hue, 0 = red)          |
| wall_hue    | 10 hues in [0, 0.9]                             |
| object_hue  | 10 hues in [0, 0.9]                             |
| scale       | 8 values in [0.75, 1.25]                        |
| shape       | 4: cube, cylinder, sphere, capsule              |
| orientation | 15 angles in [-30, 30] degrees                  |

The scene: an object resting on a floor in front of a back wall, seen by a pinhole camera that
orbits the object's vertical axis by `orientation` (positive: the camera moves to its left
around the object, so the scene turns to the left in the image and the floor-wall edge
slants, rising to the right). Light comes from a fixed direction above, left and in front; the object is shaded
with Lambert diffuse and a Blinn-Phong highlight, and casts a shadow on the floor and wall.
The capsule lies horizontally along the world x axis, so the orientation also turns it.

Rendering is vectorised in torch, needs no data, and is deterministic: a factor-index tensor
always gives the same images. Shading is linear in the three colours, so each (shape, scale,
orientation) combination (480 of them) is ray-traced once into four grey layers (lit floor,
lit wall, object diffuse, object highlight) and cached; an image is then a weighted sum of its
layers with its floor, wall and object colours, which makes training on the fly cheap. The
full grid (480,000 images) is never built.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

IMAGE_SIZE = 64
FACTOR_NAMES: tuple[str, ...] = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES: tuple[int, ...] = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES: tuple[str, ...] = ("cube", "cylinder", "sphere", "capsule")
NUM_IMAGES = math.prod(FACTOR_SIZES)

# Scene, in world units: y up, the object's foot at the origin, the back wall the plane z = WALL_Z.
_WALL_Z = 3.0
_CAMERA_DISTANCE = 6.0
_CAMERA_HEIGHT = 2.4
_TARGET_HEIGHT = 0.7
_FIELD_OF_VIEW_DEG = 38.0
_LIGHT = (-0.55, 1.0, -0.75)  # towards the light
_AMBIENT, _DIFFUSE, _SPECULAR, _SHININESS = 0.32, 0.68, 0.45, 24.0
_SHADOW = 0.55  # brightness factor in shadow
_FADE = 0.03  # background brightness falls by this fraction per world unit beyond the object
_SATURATION = 0.85
# Object sizes at scale 1: cube half-side, cylinder radius and half-height, sphere radius,
# capsule radius and half-length of its axis segment.
_CUBE_HALF = 0.55
_CYLINDER_RADIUS, _CYLINDER_HALF_HEIGHT = 0.55, 0.6
_SPHERE_RADIUS = 0.65
_CAPSULE_RADIUS, _CAPSULE_HALF_LENGTH = 0.42, 0.55
# Bounding spheres per shape, in units of scale: (height of the centre, radius).
_BOUNDS = {0: (0.55, 0.96), 1: (0.6, 0.82), 2: (0.65, 0.66), 3: (0.42, 1.0)}
_NO_HIT = float("inf")
_EPS = 1e-6


@dataclass(frozen=True)
class Shapes3DBatch:
    """A labelled batch.

    images: (B, 3, 64, 64) float32 RGB in [0, 1].
    factors: (B, 6) int64 factor indices, columns in FACTOR_NAMES order.
    """

    images: torch.Tensor
    factors: torch.Tensor


def factor_values(factors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Map factor indices (B, 6) to physical values: hues in [0, 0.9], scale in [0.75, 1.25],
    orientation in degrees [-30, 30], shape as its index."""
    f = factors.long()
    return {
        "floor_hue": f[:, 0].float() / 10,
        "wall_hue": f[:, 1].float() / 10,
        "object_hue": f[:, 2].float() / 10,
        "scale": 0.75 + 0.5 * f[:, 3].float() / (FACTOR_SIZES[3] - 1),
        "shape": f[:, 4],
        "orientation": -30.0 + 60.0 * f[:, 5].float() / (FACTOR_SIZES[5] - 1),
    }


def hsv_to_rgb(hue: torch.Tensor, saturation: float, value: float) -> torch.Tensor:
    """Hues (B,) in [0, 1) -> RGB (B, 3) in [0, 1] (the standard hexcone formula)."""
    k = torch.tensor([5.0, 3.0, 1.0], device=hue.device)
    p = torch.remainder(k[None] + hue[:, None] * 6.0, 6.0)
    weight = torch.clamp(torch.minimum(p, 4.0 - p), 0.0, 1.0)
    return value - value * saturation * weight


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


def _normalise(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def _first_positive(*roots: torch.Tensor) -> torch.Tensor:
    """Smallest root > EPS per element (inf where none); roots are same-shaped tensors."""
    stacked = torch.stack(roots)
    stacked = torch.where(stacked > 1e-4, stacked, torch.full_like(stacked, _NO_HIT))
    return stacked.min(0).values


def _hit_sphere(o: torch.Tensor, d: torch.Tensor, centre: torch.Tensor, radius: torch.Tensor):
    """Rays o + t d (o, d: (..., 3)) against spheres (centre (..., 3), radius (...)):
    returns the nearest t > 0 (inf on a miss) and the unit normal there."""
    oc = o - centre
    b = _dot(oc, d)
    c = _dot(oc, oc) - radius**2
    disc = b * b - c  # d is unit length
    root = torch.sqrt(disc.clamp_min(0))
    t = _first_positive(-b - root, -b + root)
    t = torch.where(disc >= 0, t, torch.full_like(t, _NO_HIT))
    normal = _normalise(o + t.nan_to_num(0, 0, 0)[..., None] * d - centre)
    return t, normal


def _hit_box(o: torch.Tensor, d: torch.Tensor, half: torch.Tensor):
    """Rays against axis-aligned cubes of half-side `half` (...) standing on the floor at the
    origin (slab method). Returns nearest t and the face normal."""
    centre = torch.stack([torch.zeros_like(half), half, torch.zeros_like(half)], -1)
    safe_d = torch.where(d.abs() < _EPS, torch.full_like(d, _EPS), d)
    t1 = (centre - half[..., None] - o) / safe_d
    t2 = (centre + half[..., None] - o) / safe_d
    t_near_axes = torch.minimum(t1, t2)
    t_far = torch.maximum(t1, t2).min(-1).values
    t_near, axis = t_near_axes.max(-1)
    hit = (t_near <= t_far) & (t_near > 1e-4)
    t = torch.where(hit, t_near, torch.full_like(t_near, _NO_HIT))
    normal = torch.nn.functional.one_hot(axis, 3).to(d) * -torch.sign(safe_d)
    return t, normal


def _hit_cylinder(o: torch.Tensor, d: torch.Tensor, radius: torch.Tensor, half_height: torch.Tensor):
    """Rays against upright cylinders (axis y, foot on the floor at the origin) with a top cap."""
    height = 2 * half_height
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 2] * d[..., 2]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - radius**2
    disc = b * b - a * c
    root = torch.sqrt(disc.clamp_min(0))
    safe_a = a.clamp_min(_EPS)
    roots = []
    for t_side in ((-b - root) / safe_a, (-b + root) / safe_a):
        y = o[..., 1] + t_side * d[..., 1]
        ok = (disc >= 0) & (y >= 0) & (y <= height)
        roots.append(torch.where(ok, t_side, torch.full_like(t_side, _NO_HIT)))
    t_side = _first_positive(*roots)
    safe_dy = torch.where(d[..., 1].abs() < _EPS, torch.full_like(d[..., 1], -_EPS), d[..., 1])
    t_cap = (height - o[..., 1]) / safe_dy
    px, pz = o[..., 0] + t_cap * d[..., 0], o[..., 2] + t_cap * d[..., 2]
    cap_ok = (px**2 + pz**2 <= radius**2) & (t_cap > 1e-4)
    t_cap = torch.where(cap_ok, t_cap, torch.full_like(t_cap, _NO_HIT))
    t = torch.minimum(t_side, t_cap)
    p = o + t.nan_to_num(0, 0, 0)[..., None] * d
    side_normal = _normalise(torch.stack([p[..., 0], torch.zeros_like(t), p[..., 2]], -1))
    cap_normal = torch.zeros_like(side_normal)
    cap_normal[..., 1] = 1.0
    normal = torch.where((t_cap <= t_side)[..., None], cap_normal, side_normal)
    return t, normal


def _hit_capsule(o: torch.Tensor, d: torch.Tensor, radius: torch.Tensor, half_length: torch.Tensor):
    """Rays against horizontal capsules: the points within `radius` of the segment from
    (-L, r, 0) to (L, r, 0). The body is a cylinder along x; the ends are spheres."""
    # Body: distance to the x axis at height r.
    oy, oz = o[..., 1] - radius, o[..., 2]
    a = d[..., 1] ** 2 + d[..., 2] ** 2
    b = oy * d[..., 1] + oz * d[..., 2]
    c = oy**2 + oz**2 - radius**2
    disc = b * b - a * c
    root = torch.sqrt(disc.clamp_min(0))
    safe_a = a.clamp_min(_EPS)
    roots = []
    for t_body in ((-b - root) / safe_a, (-b + root) / safe_a):
        x = o[..., 0] + t_body * d[..., 0]
        ok = (disc >= 0) & (x.abs() <= half_length)
        roots.append(torch.where(ok, t_body, torch.full_like(t_body, _NO_HIT)))
    t = _first_positive(*roots)
    for sign in (-1.0, 1.0):
        centre = torch.stack([sign * half_length, radius, torch.zeros_like(radius)], -1)
        t_end, _ = _hit_sphere(o, d, centre, radius)
        t = torch.minimum(t, t_end)
    p = o + t.nan_to_num(0, 0, 0)[..., None] * d
    axis_point = torch.stack([p[..., 0].clamp(-half_length, half_length), radius, torch.zeros_like(radius)], -1)
    return t, _normalise(p - axis_point)


def _hit_object(o: torch.Tensor, d: torch.Tensor, shape: int, scale: torch.Tensor):
    """Rays o + t d (o, d: (R, 3), d unit length) against objects of one shape with a scale per
    ray (R,): nearest t (R,), inf on a miss, and the unit normal there (R, 3)."""
    if shape == 0:
        return _hit_box(o, d, _CUBE_HALF * scale)
    if shape == 1:
        return _hit_cylinder(o, d, _CYLINDER_RADIUS * scale, _CYLINDER_HALF_HEIGHT * scale)
    if shape == 2:
        r = _SPHERE_RADIUS * scale
        return _hit_sphere(o, d, torch.stack([torch.zeros_like(r), r, torch.zeros_like(r)], -1), r)
    return _hit_capsule(o, d, _CAPSULE_RADIUS * scale, _CAPSULE_HALF_LENGTH * scale)


def _trace_object(o: torch.Tensor, d: torch.Tensor, shape: int, scale: torch.Tensor):
    """_hit_object, traced only for the rays that pass within the shape's bounding sphere
    (centre (0, BOUND[shape][0] * s, 0), radius BOUND[shape][1] * s)."""
    height, radius = _BOUNDS[shape]
    oc = o - torch.stack([torch.zeros_like(scale), height * scale, torch.zeros_like(scale)], -1)
    b, distance2, radius2 = _dot(oc, d), _dot(oc, oc), (radius * scale) ** 2
    rows = torch.nonzero((distance2 - b * b <= radius2) & ((b < 0) | (distance2 <= radius2))).flatten()
    t = torch.full(scale.shape, _NO_HIT)
    normal = torch.zeros_like(d)
    t[rows], normal[rows] = _hit_object(o[rows], d[rows], shape, scale[rows])
    return t, normal


@functools.cache
def _camera(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera origins (15, 3) and unit ray directions (15, size*size, 3), one per orientation
    of the grid, pixel rows top to bottom.

    Steps: 1. the camera at (0, h, -D) looks at (0, target, 0); 2. pixel centres on the image
    plane at unit distance, spanning tan(fov / 2); 3. orbit: rotate origin and directions about
    the y axis by the orientation (positive angles take +z towards +x: the camera moves to the
    object's left)."""
    origin = torch.tensor([0.0, _CAMERA_HEIGHT, -_CAMERA_DISTANCE])
    forward = _normalise(torch.tensor([0.0, _TARGET_HEIGHT, 0.0]) - origin)
    right = _normalise(torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), forward))
    up = torch.linalg.cross(forward, right)
    half = math.tan(math.radians(_FIELD_OF_VIEW_DEG) / 2)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(-coords * half, coords * half, indexing="ij")  # (S, S): up, right
    rays = _normalise(forward + u.reshape(-1, 1) * right + v.reshape(-1, 1) * up)  # (N, 3)
    grid = torch.zeros(FACTOR_SIZES[5], len(FACTOR_SIZES), dtype=torch.long)
    grid[:, 5] = torch.arange(FACTOR_SIZES[5])
    angle = torch.deg2rad(factor_values(grid)["orientation"])
    cos, sin, zero, one = torch.cos(angle), torch.sin(angle), torch.zeros(len(angle)), torch.ones(len(angle))
    rotation = torch.stack([
        torch.stack([cos, zero, sin], -1),
        torch.stack([zero, one, zero], -1),
        torch.stack([-sin, zero, cos], -1),
    ], -2)  # (15, 3, 3)
    return rotation @ origin, (rays[None] @ rotation.transpose(1, 2)).contiguous()


def _trace_layers(shape: int, scale_index: torch.Tensor, orientation_index: torch.Tensor, supersample: int) -> torch.Tensor:
    """Ray-trace M combinations of one shape (scale and orientation grid indices (M,)) into
    layers (M, 4, 64, 64): lit floor, lit wall, object diffuse, object highlight, each the mean
    over a pixel's supersample x supersample sub-pixels.

    Steps:
    1. Rays of the orbiting camera; the room: floor y = 0 (normal +y) and back wall z = WALL_Z
       (normal -z); the camera looks along +z within 90 degrees, so every ray meets the wall.
    2. Object: its hit is kept where nearer than the floor or wall.
    3. Floor and wall: (ambient + diffuse * max(0, n.l)) * fade, where fade falls with distance
       (the perspective shows), times SHADOW where the ray towards the light meets the object.
    4. Object: highlight h = SPECULAR * max(0, n.half)^SHININESS (Blinn-Phong); the diffuse layer
       is (ambient + diffuse * max(0, n.l)) * (1 - h), so colour * diffuse + h stays in [0, 1]
       and the image is linear in the colours.
    """
    size = IMAGE_SIZE * supersample
    origins, directions = _camera(size)
    m, n = scale_index.numel(), size * size
    o = origins[orientation_index][:, None, :].expand(-1, n, -1).reshape(-1, 3)
    d = directions[orientation_index].reshape(-1, 3)
    grid = torch.zeros(m, len(FACTOR_SIZES), dtype=torch.long)
    grid[:, 3] = scale_index
    scale = factor_values(grid)["scale"].repeat_interleave(n)
    light = _normalise(torch.tensor(_LIGHT))

    t_floor = torch.where(d[:, 1] < -_EPS, -o[:, 1] / d[:, 1].clamp(max=-_EPS), torch.full_like(d[:, 1], _NO_HIT))
    t_wall = (_WALL_Z - o[:, 2]) / d[:, 2].clamp_min(_EPS)
    t_room = torch.minimum(t_floor, t_wall)
    t_object, normal = _trace_object(o, d, shape, scale)
    on_object = t_object < t_room
    on_floor = (t_floor <= t_wall) & ~on_object
    on_wall = (t_wall < t_floor) & ~on_object

    points = o + t_room[:, None] * d
    t_shadow, _ = _trace_object(points, light.expand_as(points), shape, scale)
    room = torch.exp(-_FADE * (t_room - _CAMERA_DISTANCE)) * torch.where(t_shadow < _NO_HIT, _SHADOW, 1.0)
    floor = on_floor * room * (_AMBIENT + _DIFFUSE * max(0.0, float(light[1])))
    wall = on_wall * room * (_AMBIENT + _DIFFUSE * max(0.0, -float(light[2])))
    highlight = _SPECULAR * _dot(normal, _normalise(light - d)).clamp_min(0) ** _SHININESS
    diffuse = (_AMBIENT + _DIFFUSE * _dot(normal, light).clamp_min(0)) * (1 - highlight)
    layers = torch.stack([floor, wall, on_object * diffuse, on_object * highlight], -1)
    layers = layers.reshape(m, size, size, 4).permute(0, 3, 1, 2)
    return torch.nn.functional.avg_pool2d(layers, supersample) if supersample > 1 else layers.contiguous()


_LAYER_CACHE: dict[tuple[int, int, int, int], torch.Tensor] = {}


def _layers(factors: torch.Tensor, supersample: int) -> torch.Tensor:
    """Layers (B, 4, 64, 64) for factor indices (B, 6) on the CPU; traces the combinations
    not yet cached (_trace_layers), one batch per shape."""
    keys = [(supersample, shape, scale, orientation) for shape, scale, orientation in factors[:, [4, 3, 5]].tolist()]
    missing = sorted(set(keys) - _LAYER_CACHE.keys())
    for shape in {key[1] for key in missing}:
        todo = [key for key in missing if key[1] == shape]
        traced = _trace_layers(shape, torch.tensor([key[2] for key in todo]), torch.tensor([key[3] for key in todo]), supersample)
        _LAYER_CACHE.update(zip(todo, traced, strict=True))
    return torch.stack([_LAYER_CACHE[key] for key in keys])


def render(factors: torch.Tensor, supersample: int = 2) -> torch.Tensor:
    """Render factor indices (B, 6) to images (B, 3, 64, 64), RGB in [0, 1], on factors' device.

    image = floor_layer * floor_rgb + wall_layer * wall_rgb + diffuse_layer * object_rgb +
    highlight_layer, the colours HSV(hue, SATURATION, 1) (_trace_layers has the scene)."""
    if supersample < 1:
        raise ValueError(f"supersample must be at least 1, got {supersample}")
    cpu_factors = factors.long().cpu()
    values = factor_values(cpu_factors)
    layers = _layers(cpu_factors, supersample)
    colours = [hsv_to_rgb(values[name], _SATURATION, 1.0)[:, :, None, None] for name in ("floor_hue", "wall_hue", "object_hue")]
    image = layers[:, 0:1] * colours[0] + layers[:, 1:2] * colours[1] + layers[:, 2:3] * colours[2] + layers[:, 3:4]
    return image.clamp(0, 1).to(factors.device)


def sample_factors(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform factor indices (n, 6): the same distribution as shuffling the full grid."""
    columns = [torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES]
    return torch.stack(columns, dim=1)


def sample_batch(n: int, generator: torch.Generator | None = None, supersample: int = 2) -> Shapes3DBatch:
    """A random labelled batch of n images."""
    factors = sample_factors(n, generator)
    return Shapes3DBatch(images=render(factors, supersample), factors=factors)
