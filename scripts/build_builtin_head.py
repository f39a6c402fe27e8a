"""Build the built-in head (``backend/heads/data/builtin_head.npz``) from procedural rules.

    .venv/bin/python scripts/build_builtin_head.py [--out backend/heads/data/builtin_head.npz]

Build tooling: the extension ships the data file, not this script (``backend/heads/builtin.py``
reads it).

The skin is a star-shaped surface around a centre inside the head: for every direction on
a grid (longitude ``theta`` about Y, 0 = face front, positive toward the character's left
= +X; latitude ``lat``) a radius comes from a smooth union of ellipsoids (cranium, face,
neck) plus painted features (nose, brows, sockets, lips, chin, ears). Eyelids are a layer
just outside the eyeball that dives behind it inside the lid opening, so blinks and
squints are the same surface evaluated with other lid curves. The mouth is a slit: the
row on the lip line is duplicated across the mouth so the jaw can open it. Eyeballs,
a mouth cavity and a tongue are separate closed parts. Everything is deterministic.

The mouth parts (``mouth_parts``) are stored beside the head, as meshes of their own: the
head's vertices and their order are what the model's losses and the lip-sync evaluation
measure, so they never change. Rigs show these parts instead of the head's own closed
inner mouth: upper teeth fixed to the head, lower teeth and tongue on the jaw, and a dark
cavity open toward the lips, its lower half following the jaw.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the backend package, when run as a script

from backend.expression_spaces import ARKIT_BLENDSHAPES, ARKIT_JAW_OPEN_RADIANS  # noqa: E402
from backend.heads.lbs import JOINT_NAMES  # noqa: E402
from backend.rotations import rodrigues  # noqa: E402

DEFAULT_OUT = ROOT / "backend" / "heads" / "data" / "builtin_head.npz"
PARTS = ("skin", "sclera", "iris", "pupil", "mouth", "tongue", "teeth", "lips")

CENTRE = np.array([0.0, 0.015, -0.01])
EYE_RADIUS = 0.0125
EYES = {"left": np.array([0.031, 0.031, 0.0565]), "right": np.array([-0.031, 0.031, 0.0565])}
JOINTS = np.array([
    [0.0, -0.035, -0.02],   # root: head rotation pivots near the top of the neck
    [0.0, -0.03, -0.02],    # neck
    [0.0, -0.012, 0.0],     # jaw: the temporomandibular joints' midpoint
    EYES["left"], EYES["right"],
])
MOUTH_LAT = np.radians(-26.0)      # latitude of the lip line at the front
MOUTH_HALF_WIDTH = np.radians(14.0)
N_THETA, N_LAT = 176, 132


def _density_samples(n, lo, hi, bumps, closed):
    """n angles in [lo, hi], denser near each (peak, width, gain) of ``bumps`` (Gaussian bumps of density)."""
    grid = np.linspace(lo, hi, 4001)
    density = 1.0 + sum(gain * np.exp(-0.5 * ((grid - peak) / width) ** 2) for peak, width, gain in bumps)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    targets = np.linspace(0.0, cdf[-1], n + 1 if closed else n)[: n]
    return np.interp(targets, cdf, grid)


def _gauss(theta, lat, t0, l0, st, sl):
    return np.exp(-0.5 * (((theta - t0) / st) ** 2 + ((lat - l0) / sl) ** 2))


def _ray_ellipsoid(d, centre, radii):
    """Distance along unit rays d (N, 3) from CENTRE to an ellipsoid's surface (CENTRE inside)."""
    o = (CENTRE - centre) / radii
    v = d / radii
    a = (v * v).sum(-1)
    b = 2 * (v @ o)
    c = o @ o - 1.0
    disc = b * b - 4 * a * c
    # CENTRE may lie outside the jaw ellipsoid: rays that miss it contribute nothing.
    return np.where(disc >= 0, (-b + np.sqrt(np.maximum(disc, 0))) / (2 * a), -np.inf)


def _smooth_max(values, k):
    stack = np.stack(values)
    top = stack.max(0)
    return top + k * np.log(np.exp((stack - top) / k).sum(0))


def _lid_curves(dx, side, upper_open=1.0, lower_raise=0.0):
    """Upper and lower lid heights (relative to the eye centre) across the eye, in metres."""
    half = 0.0135
    u = np.clip(dx * (1 if side == "left" else -1) / half, -1, 1)   # +1 = outer corner
    bulge = np.clip(1 - u * u, 0, 1) ** 0.9
    tilt = 0.0012 * u
    lower = -0.0042 * bulge * (1 - 0.15 * u) + tilt + lower_raise * bulge
    upper = 0.0056 * bulge * (1 + 0.12 * u) + tilt
    upper = lower + (upper - lower) * upper_open
    return upper, lower, np.abs(u) < 1


def _lid_layer(d, lids):
    """Radius of the eyelid layer along rays d; -inf where a ray misses both eyeballs."""
    out = np.full(len(d), -np.inf)
    for side, centre in EYES.items():
        upper_open, lower_raise = lids[side]
        o = CENTRE - centre
        b = d @ o
        disc = b * b - (o @ o - EYE_RADIUS ** 2)
        hit = disc > 0
        r = -b[hit] + np.sqrt(disc[hit])   # the far root: the eyeball's front as seen from inside
        p = CENTRE + r[:, None] * d[hit]
        dx, dy = p[:, 0] - centre[0], p[:, 1] - centre[1]
        upper, lower, inside_x = _lid_curves(dx, side, upper_open, lower_raise)
        # Signed distance-ish to the lid opening: negative inside it.
        sd = np.maximum(np.maximum(dy - upper, lower - dy), np.where(inside_x, -1, 1) * 1e-3)
        # Fully covered on the lid line itself, so lids that meet close the eye.
        cover = np.clip(1.0 + sd / 0.0016, 0, 1)
        cover = cover * cover * (3 - 2 * cover)
        out[hit] = np.maximum(out[hit], r + 0.0018 * cover - 0.003 * (1 - cover))
    return out


def skin_radius(theta, lat, lids):
    """Skin radius from CENTRE for directions (theta, lat) with lid state ``lids``."""
    d = np.stack([np.sin(theta) * np.cos(lat), np.sin(lat), np.cos(theta) * np.cos(lat)], -1)
    cranium = _ray_ellipsoid(d, np.array([0.0, 0.028, -0.018]), np.array([0.077, 0.097, 0.098]))
    face = _ray_ellipsoid(d, np.array([0.0, -0.02, 0.012]), np.array([0.069, 0.07, 0.073]))
    # Every ellipsoid contains CENTRE, so every ray hits each one and the union has no seams.
    jaw = _ray_ellipsoid(d, np.array([0.0, -0.03, -0.008]), np.array([0.066, 0.066, 0.075]))
    # Neck: a vertical cylinder cut by the plane y = -0.17.
    nc, nr = np.array([0.0, -0.03]), 0.05
    dxz = d[:, [0, 2]]
    oxz = CENTRE[[0, 2]] - nc
    a = (dxz * dxz).sum(-1)
    b = 2 * dxz @ oxz
    c = oxz @ oxz - nr * nr
    neck = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a + 1e-12)
    floor = np.where(d[:, 1] < -1e-6, (-0.17 - CENTRE[1]) / np.minimum(d[:, 1], -1e-6), np.inf)
    neck = np.minimum(neck, floor)
    # Fade the neck in with the ray's downward slope: a hard cut at the horizon leaves a seam.
    fade = np.clip(-d[:, 1] / 0.6, 0, 1)
    neck = neck * fade * fade * (3 - 2 * fade)
    r = _smooth_max([cranium, face, jaw, neck], 0.011)

    t, l = theta, lat
    deg = np.radians
    front = np.clip(np.cos(t), 0, 1)
    # Nose: a ridge growing from the bridge to the tip, then the columella and wings.
    ridge = np.interp(l, deg([-17, -14, -11.5, -8.5, -5, 0, 8, 14, 20]), [0, 0.005, 0.013, 0.019, 0.018, 0.0145, 0.008, 0.004, 0])
    width = np.interp(l, deg([-14, -9, -4, 4, 14]), deg([7.0, 7.5, 6.0, 5.0, 4.5]))
    r += ridge * np.exp(-0.5 * (t / width) ** 2)
    for s in (-1, 1):
        r += 0.006 * _gauss(t, l, s * deg(8), deg(-10.5), deg(3.2), deg(3.0))         # nose wing
        r -= 0.002 * _gauss(t, l, s * deg(4.2), deg(-13.5), deg(1.8), deg(1.2))       # nostril
        r -= 0.017 * _gauss(t, l, s * deg(23.5), deg(12.5), deg(6.0), deg(5.5))    # eye socket
        r += 0.008 * _gauss(t, l, s * deg(24), deg(24), deg(12), deg(3.5))        # brow ridge
        r += 0.006 * _gauss(t, l, s * deg(40), deg(0), deg(9), deg(7))            # cheekbone
        r -= 0.004 * _gauss(t, l, s * deg(36), deg(-24), deg(8), deg(8))          # cheek hollow
        r += 0.006 * _gauss(t, l, s * deg(20), deg(-28), deg(6), deg(6))          # mouth corner mound
        ear = _gauss(t, l, s * deg(93), deg(6), deg(6), deg(11))
        r += 0.014 * ear - 0.006 * _gauss(t, l, s * deg(93), deg(4), deg(2.5), deg(4))
    # Lips: vermilion bulges either side of a crease on the lip line, thinning to the corners.
    across = np.clip(1 - (t / (MOUTH_HALF_WIDTH * 1.05)) ** 2, 0, 1)
    dl = l - MOUTH_LAT
    r += 0.0052 * across ** 0.8 * np.exp(-0.5 * ((dl - deg(2.2)) / deg(2.0)) ** 2)
    r += 0.0065 * across ** 0.8 * np.exp(-0.5 * ((dl + deg(2.8)) / deg(2.5)) ** 2)
    r -= 0.003 * across ** 0.5 * np.exp(-0.5 * (dl / deg(0.6)) ** 2)
    r -= 0.0015 * _gauss(t, l, 0, MOUTH_LAT + deg(7), deg(2.0), deg(3))          # philtrum
    r -= 0.003 * _gauss(t, l, 0, MOUTH_LAT - deg(9), deg(10), deg(2.5))          # chin crease
    r += 0.015 * _gauss(t, l, 0, deg(-44), deg(13), deg(6))                      # chin
    r += 0.006 * front * _gauss(t, l, 0, deg(35), deg(32), deg(12))              # forehead
    r = _smooth_max([r, _lid_layer(d, lids)], 0.0012)
    return CENTRE + r[:, None] * d


def _sphere(centre, radii, n_lon, n_lat):
    """A closed UV sphere: vertices (N, 3), quads/triangles as triangles (F, 3), latitudes (N,)."""
    lat = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 1)[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    L, O = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.cos(L) * np.sin(O), np.sin(L), np.cos(L) * np.cos(O)], -1).reshape(-1, 3)
    verts = np.concatenate([ring, [[0, -1, 0], [0, 1, 0]]]) * radii + centre
    faces = []
    idx = lambda i, j: i * n_lon + j % n_lon  # noqa: E731
    for i in range(n_lat - 2):
        for j in range(n_lon):
            faces += [[idx(i, j), idx(i, j + 1), idx(i + 1, j + 1)], [idx(i, j), idx(i + 1, j + 1), idx(i + 1, j)]]
    south, north = len(ring), len(ring) + 1
    for j in range(n_lon):
        faces += [[south, idx(0, j + 1), idx(0, j)], [north, idx(n_lat - 2, j), idx(n_lat - 2, j + 1)]]
    return verts, np.array(faces), np.concatenate([np.degrees(L).ravel(), [-90, 90]])


class Builder:
    """Holds the grid and the per-vertex angles; ``skin(lids)`` re-evaluates the surface."""

    def __init__(self):
        self.theta = _density_samples(N_THETA, -np.pi, np.pi, [(0.0, np.radians(35), 3.5)], closed=True)
        # Dense on the face, and again on the neck, whose surface lies far from CENTRE.
        bumps = [(np.radians(-5), np.radians(28), 4.0), (np.radians(-65), np.radians(12), 2.0)]
        lats = _density_samples(N_LAT, -np.pi / 2 + 1e-3, np.pi / 2 - 1e-3, bumps, closed=False)[::-1].copy()
        # Put one row exactly on the lip line so the slit follows the lips.
        self.mouth_row = int(np.argmin(np.abs(lats - MOUTH_LAT)))
        lats[self.mouth_row] = MOUTH_LAT
        self.lats = lats
        T, L = np.meshgrid(self.theta, lats)
        self.grid_theta, self.grid_lat = T.ravel(), L.ravel()
        n = len(self.grid_theta)
        # Slit: the lip-line row's inner columns get a twin that belongs to the lower lip.
        slit_cols = np.flatnonzero(np.abs(self.theta) < MOUTH_HALF_WIDTH - 1e-6)
        self.slit_upper = self.mouth_row * N_THETA + slit_cols
        self.slit_lower = n + np.arange(len(slit_cols))
        twin = dict(zip(self.slit_upper.tolist(), self.slit_lower.tolist()))
        faces = []
        for i in range(N_LAT - 1):
            for j in range(N_THETA):
                a, b = i * N_THETA + j, i * N_THETA + (j + 1) % N_THETA
                c, d = a + N_THETA, b + N_THETA
                if i == self.mouth_row:   # faces below the lip line use the lower twins
                    a, b = twin.get(a, a), twin.get(b, b)
                faces += [[a, c, d], [a, d, b]]
        top, bottom = n + len(slit_cols), n + len(slit_cols) + 1
        last = (N_LAT - 1) * N_THETA
        for j in range(N_THETA):
            faces += [[top, j, (j + 1) % N_THETA], [bottom, last + (j + 1) % N_THETA, last + j]]
        self.skin_faces = np.array(faces)
        self.n_skin = bottom + 1
        self.vertex_theta = np.concatenate([self.grid_theta, self.theta[slit_cols], [0, 0]])
        self.vertex_lat = np.concatenate([self.grid_lat, np.full(len(slit_cols), MOUTH_LAT), [np.pi / 2, -np.pi / 2]])
        self.lower_twin = np.zeros(self.n_skin, bool)
        self.lower_twin[self.slit_lower] = True

    def skin(self, lids=None, remap=None):
        lids = lids or {"left": (1.0, 0.0), "right": (1.0, 0.0)}
        theta, lat = self.vertex_theta, self.vertex_lat
        if remap is not None:
            theta, lat = remap(theta, lat)
        return skin_radius(theta, lat, lids)


def _angles(points):
    rel = points - CENTRE
    return np.arctan2(rel[:, 0], rel[:, 2]), np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2]))


def lid_remap(neutral, lids):
    """A remap of vertex directions that slides lid skin to new lid curves (see ``skin``).

    Upper-lid skin between the open lid line and a fold 9 mm above it is stretched so the
    lid line lands on the new upper curve; the hidden band inside the opening is scaled
    with it; the lower lid likewise over 6 mm.
    """
    def remap(theta, lat):
        points = neutral.copy()
        for side, centre in EYES.items():
            upper_open, lower_raise = lids[side]
            dx, dy = points[:, 0] - centre[0], points[:, 1] - centre[1]
            up0, lo0, _ = _lid_curves(dx, side)
            up1, lo1, _ = _lid_curves(dx, side, upper_open, lower_raise)
            fold, cheek = up0 + 0.009, lo0 - 0.006
            new = dy.copy()
            band = (dy >= lo0) & (dy <= up0)
            s = (dy - lo0) / np.maximum(up0 - lo0, 1e-9)
            new[band] = (lo1 + s * (up1 - lo1))[band]
            above = (dy > up0) & (dy < fold)
            new[above] = (up1 + (dy - up0) * (fold - up1) / (fold - up0))[above]
            below = (dy < lo0) & (dy > cheek)
            new[below] = (cheek + (dy - cheek) * (lo1 - cheek) / (lo0 - cheek))[below]
            # Fade out beyond the eye corners and away from the face front.
            half = 0.0135
            fade = np.clip((half + 0.004 - np.abs(dx)) / 0.005, 0, 1) * (points[:, 2] > centre[2] - 0.01)
            points[:, 1] = centre[1] + dy + fade * (new - dy)
        new_theta, new_lat = _angles(points)
        moved = np.abs(points[:, 1] - neutral[:, 1]) > 0
        return np.where(moved, new_theta, theta), np.where(moved, new_lat, lat)
    return remap


def _falloff(values, lo, hi):
    """1 at or below lo, 0 at or above hi, smooth between."""
    t = np.clip((values - lo) / (hi - lo), 0, 1)
    return 1 - t * t * (3 - 2 * t)


def build():
    """All arrays of the built-in head, as a dict ready for ``np.savez_compressed``."""
    b = Builder()
    skin = b.skin()
    n_skin = len(skin)
    # Lips: the vermilion either side of the slit, narrowing to the corners.
    face_theta = b.vertex_theta[b.skin_faces].mean(1)
    face_dl = b.vertex_lat[b.skin_faces].mean(1) - MOUTH_LAT
    reach = np.radians(np.where(face_dl > 0, 4.6, 5.6)) * np.sqrt(np.clip(1 - (face_theta / MOUTH_HALF_WIDTH) ** 2, 0, 1))
    lips = np.abs(face_dl) < reach
    parts, faces, part_of_face = [skin], [b.skin_faces], [np.where(lips, PARTS.index("lips"), 0)]
    offset = n_skin

    def add(verts, tris, face_part):
        nonlocal offset
        parts.append(verts)
        faces.append(tris + offset)
        part_of_face.append(face_part)
        offset += len(verts)

    eye_slices = {}
    for side, centre in EYES.items():
        verts, tris, lat = _sphere(np.zeros(3), np.full(3, EYE_RADIUS), 32, 24)
        verts, tris = verts[:, [0, 2, 1]], tris[:, ::-1]   # pole along +Z: the gaze
        polar = 90 - lat                                 # angle from the gaze direction
        face_polar = polar[tris].mean(1)
        face_part = np.select([face_polar < 10, face_polar < 26], [PARTS.index("pupil"), PARTS.index("iris")], PARTS.index("sclera"))
        # A slight corneal bulge.
        verts[:, 2] += 0.0008 * np.clip(np.cos(np.radians(polar)), 0, 1) ** 8
        eye_slices[side] = slice(offset, offset + len(verts))
        add(verts + centre, tris, face_part)

    # Mouth cavity (a dark bag behind the lips), tongue, and upper and lower teeth arcs.
    cavity_v, cavity_f, _ = _sphere(np.array([0.0, -0.040, 0.048]), np.array([0.027, 0.022, 0.034]), 28, 16)
    cavity_slice = slice(offset, offset + len(cavity_v))
    add(cavity_v, cavity_f[:, ::-1], np.full(len(cavity_f), PARTS.index("mouth")))
    tongue_v, tongue_f, _ = _sphere(np.array([0.0, -0.047, 0.055]), np.array([0.019, 0.0065, 0.028]), 20, 10)
    tongue_slice = slice(offset, offset + len(tongue_v))
    add(tongue_v, tongue_f, np.full(len(tongue_f), PARTS.index("tongue")))
    teeth_slices = {}
    for name, y, height in (("upper", -0.0375, 0.0055), ("lower", -0.0440, 0.0045)):
        angle = np.radians(np.linspace(-62, 62, 24))
        arc = np.stack([0.0255 * np.sin(angle), np.zeros_like(angle), 0.058 + 0.024 * (np.cos(angle) - 1)], -1)
        top = arc + [0, y + height / 2, 0]
        bottom = arc + [0, y - height / 2, 0]
        inner_top, inner_bottom = top * [0.85, 1, 1] + [0, 0, -0.003], bottom * [0.85, 1, 1] + [0, 0, -0.003]
        verts = np.concatenate([top, bottom, inner_top, inner_bottom])
        n = len(angle)
        tris = []
        for ring_a, ring_b in ((0, n), (n, 3 * n), (3 * n, 2 * n), (2 * n, 0)):
            for k in range(n - 1):
                tris += [[ring_a + k, ring_b + k, ring_b + k + 1], [ring_a + k, ring_b + k + 1, ring_a + k + 1]]
        teeth_slices[name] = slice(offset, offset + len(verts))
        add(verts, np.array(tris), np.full(len(tris), PARTS.index("teeth")))

    template = np.concatenate(parts)
    faces = np.concatenate(faces)
    face_parts = np.concatenate(part_of_face)
    n = len(template)

    # Skinning: the jaw takes the lower face below the lip line (the lower-lip twins
    # included), fading toward the cheeks and under the chin; the head belongs to the neck
    # bone and the bottom of the neck to the root.
    theta = np.zeros(n)
    lat = np.zeros(n)
    theta[:n_skin], lat[:n_skin] = b.vertex_theta, b.vertex_lat
    x, y, z = template.T
    weights = np.zeros((n, len(JOINT_NAMES)))
    below_lips = np.clip((MOUTH_LAT - lat[:n_skin]) / np.radians(1.2), 0, 1)
    below_lips[b.lower_twin] = 1.0
    below_lips[b.slit_upper] = 0.0
    sideways = _falloff(np.abs(theta[:n_skin]), np.radians(26), np.radians(62))
    jaw_line = np.clip((y[:n_skin] - (-0.125)) / 0.03, 0, 1)   # fades into the throat
    jaw = below_lips * sideways * jaw_line * (z[:n_skin] > -0.03)
    neck = np.clip((y[:n_skin] + 0.135) / 0.04, 0, 1)
    weights[:n_skin, 2] = jaw
    weights[:n_skin, 1] = (1 - jaw) * neck
    weights[:n_skin, 0] = (1 - jaw) * (1 - neck)
    weights[eye_slices["left"], 3] = 1
    weights[eye_slices["right"], 4] = 1
    for region in (cavity_slice,):
        lower = np.clip((MOUTH_LAT + 0.03 - _angles(template[region])[1]) / 0.12, 0, 1)
        weights[region, 2] = lower
        weights[region, 1] = 1 - lower
    weights[tongue_slice, 2] = 1
    weights[teeth_slices["lower"], 2] = 1
    weights[teeth_slices["upper"], 1] = 1

    shapes = arkit_shapes(b, template, weights, eye_slices, tongue_slice, n_skin)
    landmarks = builtin_landmarks(b, template, eye_slices)
    return {
        "template": template, "faces": faces, "face_parts": face_parts, "weights": weights,
        "joints": JOINTS, "shapes": shapes, "landmarks": landmarks, "mouth_parts": mouth_parts(),
    }


# (width along the arch, height) of the teeth from the middle outward, in metres
UPPER_TEETH = ((0.0043, 0.0088), (0.0035, 0.0078), (0.0037, 0.0082), (0.0036, 0.0072), (0.0036, 0.0068), (0.0046, 0.0064))
LOWER_TEETH = ((0.0030, 0.0078), (0.0031, 0.0078), (0.0035, 0.0080), (0.0036, 0.0070), (0.0037, 0.0066), (0.0046, 0.0062))


def _arch(front_z, half_width, depth):
    """A dental arch in the mouth's plane: (x, z) of a parameter a in [-pi/2, pi/2]."""
    return lambda a: np.stack([half_width * np.sin(a), front_z - depth * (1 - np.cos(a))], -1)


def _teeth(arch, sizes, edge_y, thickness, upper):
    """One closed, rounded block per tooth along ``arch``, edges on ``edge_y``, both sides."""
    a = np.linspace(0, np.pi / 2, 2001)
    xz = arch(a)
    length = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(xz, axis=0), axis=1))])
    verts, faces = [], []
    for side in (1, -1):
        along = 0.0
        for width, height in sizes:
            centre_a = np.interp(along + width / 2, length, a)
            along += width
            x, z = arch(np.array([centre_a]))[0]
            dx, dz = np.gradient(arch(np.array([centre_a - 1e-4, centre_a + 1e-4])), axis=0)[0]
            turn = np.arctan2(dx, dz) - np.pi / 2    # the tooth's width along the arch's tangent
            centre_y = edge_y + (height / 2 if upper else -height / 2)
            radii = np.array([width * 0.5, height / 2, thickness / 2])
            v, f, _ = _sphere(np.zeros(3), radii, 12, 8)
            # Squared off across and up the tooth (a superellipsoid), rounded front to back.
            unit = v / radii
            v = np.sign(unit) * np.abs(unit) ** [0.45, 0.55, 1.0] * radii
            v = v @ rodrigues(np.array([0.0, turn, 0.0])).T + [side * x, centre_y, z - thickness / 2]
            faces.append(f + sum(len(p) for p in verts))
            verts.append(v)
    return np.concatenate(verts), np.concatenate(faces)


def _inside_skin(points, margin):
    """Whether ``points`` lie at least ``margin`` inside the neutral skin (it is star-shaped about CENTRE)."""
    theta, lat = _angles(points)
    skin = skin_radius(theta, lat, {"left": (1.0, 0.0), "right": (1.0, 0.0)})
    return np.linalg.norm(points - CENTRE, axis=1) < np.linalg.norm(skin - CENTRE, axis=1) - margin


def _jaw_open_offsets(vertices, jaw_weight):
    jaw_rot = rodrigues(np.array([ARKIT_JAW_OPEN_RADIANS, 0, 0]))
    return jaw_weight[:, None] * ((vertices - JOINTS[2]) @ jaw_rot.T + JOINTS[2] - vertices)


def mouth_parts():
    """The mouth's own meshes: name -> (material part, vertices, faces, jaw weight, {shape: offsets})."""
    lip_y = -0.0338   # the lip line at the front
    upper_v, upper_f = _teeth(_arch(0.0838, 0.0235, 0.030), UPPER_TEETH, lip_y - 0.0028, 0.0048, upper=True)
    lower_v, lower_f = _teeth(_arch(0.0789, 0.0212, 0.029), LOWER_TEETH, lip_y + 0.0004, 0.0042, upper=False)
    tongue_v, tongue_f, _ = _sphere(np.array([0.0, -0.0425, 0.049]), np.array([0.0165, 0.0062, 0.025]), 24, 12)
    tongue_v[:, 1] += 0.0022 * np.cos(np.clip(tongue_v[:, 0] / 0.0165, -1, 1) * np.pi / 2) * (tongue_v[:, 1] > -0.0425)
    # The cavity: a bag behind the teeth, open toward the lips (its front cap left out), seen from inside.
    cavity_v, cavity_f, _ = _sphere(np.array([0.0, -0.039, 0.049]), np.array([0.0285, 0.0205, 0.034]), 32, 18)
    cavity_f = cavity_f[cavity_v[cavity_f, 2].max(1) < 0.0765][:, ::-1]
    used = np.unique(cavity_f)
    cavity_v, cavity_f = cavity_v[used], np.searchsorted(used, cavity_f)
    cavity_jaw = 1 - _falloff(-cavity_v[:, 1], 0.031, 0.043)   # the lower half goes with the jaw
    tip = np.clip((tongue_v[:, 2] - tongue_v[:, 2].min()) / np.ptp(tongue_v[:, 2]), 0, 1)
    tongue_out = tip[:, None] * [0, 0.011, 0.030]   # out between the lips, over the lower teeth
    parts = {
        "upper teeth": ("teeth", upper_v, upper_f, np.zeros(len(upper_v))),
        "lower teeth": ("teeth", lower_v, lower_f, np.ones(len(lower_v))),
        "tongue": ("tongue", tongue_v, tongue_f, np.ones(len(tongue_v))),
        "mouth cavity": ("mouth", cavity_v, cavity_f, cavity_jaw),
    }
    out = {}
    for name, (material, verts, tris, jaw) in parts.items():
        assert _inside_skin(verts, 0.0015).all(), f"the {name} show through the skin"
        shapes = {"jawOpen": _jaw_open_offsets(verts, jaw)}
        if name == "tongue":
            shapes["tongueOut"] = tongue_out
        out[name] = (material, verts, tris, jaw, shapes)
    return out


def arkit_shapes(b, template, weights, eye_slices, tongue_slice, n_skin):
    """The 52 ARKit shapes as offsets (52, V, 3) in Apple's order; 'Left' is +X."""
    n = len(template)
    deg = np.radians
    theta = np.zeros(n)
    lat = np.full(n, -np.pi / 2)
    theta[:n_skin], lat[:n_skin] = b.vertex_theta, b.vertex_lat
    is_skin = np.arange(n) < n_skin
    dl = lat - MOUTH_LAT
    lower = np.zeros(n, bool)
    lower[:n_skin] = b.lower_twin | (b.vertex_lat < MOUTH_LAT - 1e-9)
    upper = is_skin & ~lower
    across = _falloff(np.abs(theta), deg(13), deg(24))
    upper_lip = upper * across * np.exp(-0.5 * ((dl - deg(2.5)) / deg(4.5)) ** 2)
    lower_lip = lower * across * np.exp(-0.5 * ((dl + deg(3)) / deg(5)) ** 2)

    def g(t0, l0, st, sl):
        return is_skin * _gauss(theta, lat, deg(t0), deg(l0), deg(st), deg(sl))

    def side(s):   # smooth half of the face, s=+1 the character's left (+X)
        return 1 / (1 + np.exp(-s * theta / deg(2.5)))

    def corner(s, spread=1.0):
        return g(s * 14, np.degrees(MOUTH_LAT), 8 * spread, 7 * spread)

    def vec(mask, v):
        return mask[:, None] * np.asarray(v, float)

    neutral = template[:n_skin]
    jaw_rot = rodrigues(np.array([ARKIT_JAW_OPEN_RADIANS, 0, 0]))
    jaw_open = weights[:, 2:3] * ((template - JOINTS[2]) @ jaw_rot.T + JOINTS[2] - template)
    shapes = {}

    def lids_shape(side_name, upper_open, lower_raise):
        lids = {"left": (1.0, 0.0), "right": (1.0, 0.0)}
        lids[side_name] = (upper_open, lower_raise)
        out = np.zeros((n, 3))
        out[:n_skin] = b.skin(lids, lid_remap(neutral, lids)) - neutral
        return out

    def look(side_name, axis, angle):
        out = np.zeros((n, 3))
        verts = template[eye_slices[side_name]] - EYES[side_name]
        out[eye_slices[side_name]] = verts @ rodrigues(np.asarray(axis, float) * angle).T - verts
        return out

    for name, s in (("Left", 1), ("Right", -1)):
        key = name.lower()
        shapes[f"eyeBlink{name}"] = lids_shape(key, 0.0, 0.0)
        shapes[f"eyeLookDown{name}"] = look(key, (1, 0, 0), deg(20))
        shapes[f"eyeLookIn{name}"] = look(key, (0, 1, 0), -s * deg(25))
        shapes[f"eyeLookOut{name}"] = look(key, (0, 1, 0), s * deg(25))
        shapes[f"eyeLookUp{name}"] = look(key, (1, 0, 0), -deg(20))
        shapes[f"eyeSquint{name}"] = lids_shape(key, 0.8, 0.0022) + vec(g(s * 30, 0, 9, 6), (0, 0.0015, 0.001))
        shapes[f"eyeWide{name}"] = lids_shape(key, 1.35, -0.0006)
        shapes[f"mouthSmile{name}"] = vec(corner(s, 1.3), (s * 0.006, 0.009, -0.004)) + vec(g(s * 32, -10, 10, 8), (0, 0.004, 0.003))
        shapes[f"mouthFrown{name}"] = vec(corner(s), (s * 0.001, -0.005, -0.001))
        shapes[f"mouthDimple{name}"] = vec(corner(s), (s * 0.002, 0.0005, -0.004))
        shapes[f"mouthStretch{name}"] = vec(corner(s, 1.2), (s * 0.005, -0.003, -0.002))
        shapes[f"mouthPress{name}"] = vec(side(s) * upper_lip, (0, -0.0012, -0.001)) + vec(side(s) * lower_lip, (0, 0.0012, -0.001))
        shapes[f"mouthLowerDown{name}"] = vec(side(s) * lower_lip, (0, -0.005, 0.001))
        shapes[f"mouthUpperUp{name}"] = vec(side(s) * upper_lip, (0, 0.005, 0.001))
        shapes[f"browDown{name}"] = vec(g(s * 24, 24, 12, 7), (-s * 0.001, -0.005, 0.001))
        shapes[f"browOuterUp{name}"] = vec(g(s * 32, 24, 8, 8), (0, 0.006, 0))
        shapes[f"cheekSquint{name}"] = vec(g(s * 34, -4, 10, 7), (0, 0.004, 0.001))
        shapes[f"noseSneer{name}"] = vec(g(s * 8, -8, 5, 6), (0, 0.003, 0)) + vec(g(s * 12, 10, 6, 5), (0, -0.001, 0.0005))
    shapes["jawForward"] = vec(weights[:, 2], (0, 0, 0.006))
    shapes["jawLeft"] = vec(weights[:, 2], (0.006, 0, 0))
    shapes["jawRight"] = vec(weights[:, 2], (-0.006, 0, 0))
    shapes["jawOpen"] = jaw_open
    closing = lower * across * np.clip(1 + dl / deg(14), 0, 1) ** 1.5
    shapes["mouthClose"] = -jaw_open * closing[:, None]
    lips = upper_lip + lower_lip
    # Corners draw toward the middle: proportional to the distance from it, so no tear.
    inward = -np.clip(theta / MOUTH_HALF_WIDTH, -1.3, 1.3) * g(0, np.degrees(MOUTH_LAT), 18, 8)
    middle = _falloff(np.abs(theta), deg(4), deg(12))
    shapes["mouthFunnel"] = vec(lips, (0, 0, 0.006)) + vec(inward, (0.004, 0, 0)) + vec(upper_lip * middle, (0, 0.002, 0)) + vec(lower_lip * middle, (0, -0.003, 0))
    shapes["mouthPucker"] = vec(lips, (0, 0, 0.012)) + vec(inward, (0.010, 0, 0))
    mouth = g(0, np.degrees(MOUTH_LAT), 20, 11)
    shapes["mouthLeft"] = vec(mouth, (0.008, 0, -0.001))
    shapes["mouthRight"] = vec(mouth, (-0.008, 0, -0.001))
    shapes["mouthRollLower"] = vec(lower_lip, (0, 0.0015, -0.005))
    shapes["mouthRollUpper"] = vec(upper_lip, (0, -0.0015, -0.005))
    shapes["mouthShrugLower"] = vec(lower_lip + g(0, -44, 12, 8), (0, 0.003, 0.002))
    shapes["mouthShrugUpper"] = vec(upper_lip, (0, 0.003, 0.001))
    shapes["browInnerUp"] = vec(g(10, 24, 7, 8) + g(-10, 24, 7, 8), (0, 0.006, 0))
    shapes["cheekPuff"] = vec(g(35, -22, 12, 10) + g(-35, -22, 12, 10), (0, 0, 0)) + 0.009 * (
        (g(35, -22, 12, 10) + g(-35, -22, 12, 10))[:, None] * np.stack([np.sin(theta), np.zeros(n), np.cos(theta)], -1))
    tongue = np.zeros(n)
    tongue_z = template[tongue_slice, 2]
    tongue[tongue_slice] = np.clip((tongue_z - tongue_z.min()) / np.ptp(tongue_z), 0, 1)
    shapes["tongueOut"] = vec(tongue, (0, -0.004, 0.034))
    return np.stack([shapes[name] for name in ARKIT_BLENDSHAPES])


def builtin_landmarks(b, template, eye_slices):
    """Named vertex indices: lips, mouth corners, eyelids, nose tip, chin, pupils."""
    theta, lat = b.vertex_theta, b.vertex_lat
    skin = template[: b.n_skin]
    centre_col = int(np.argmin(np.abs(b.theta)))
    upper_inner = b.mouth_row * N_THETA + centre_col
    lower_inner = int(b.slit_lower[np.flatnonzero(b.slit_upper == upper_inner)[0]])
    corner_cols = np.flatnonzero(np.abs(b.theta) >= MOUTH_HALF_WIDTH)
    left_col = corner_cols[b.theta[corner_cols] > 0][np.argmin(b.theta[corner_cols][b.theta[corner_cols] > 0])]
    right_col = corner_cols[b.theta[corner_cols] < 0][np.argmax(b.theta[corner_cols][b.theta[corner_cols] < 0])]
    column = np.flatnonzero(np.abs(theta) < 1e-9)
    marks = {
        "upper_lip_inner": upper_inner,
        "lower_lip_inner": lower_inner,
        "mouth_corner_left": b.mouth_row * N_THETA + int(left_col),
        "mouth_corner_right": b.mouth_row * N_THETA + int(right_col),
        "upper_lip_outer": int(column[np.argmax(np.where((lat[column] > MOUTH_LAT) & (lat[column] < MOUTH_LAT + 0.1), skin[column, 2], -1))]),
        "lower_lip_outer": int(column[np.argmax(np.where((lat[column] < MOUTH_LAT) & (lat[column] > MOUTH_LAT - 0.1), skin[column, 2], -1))]),
        "nose_tip": int(np.argmax(skin[:, 2])),
        "chin": int(column[np.argmin(np.abs(lat[column] - np.radians(-47)))]),
    }
    for side, centre in EYES.items():
        for lid, height in (("upper", 0.0068), ("lower", -0.0046)):
            target = centre + [0, height, np.sqrt(EYE_RADIUS ** 2 - height ** 2)]
            marks[f"{lid}_eyelid_{side}"] = int(np.argmin(np.linalg.norm(skin - target, axis=1)))
        eye = template[eye_slices[side]]
        marks[f"pupil_{side}"] = eye_slices[side].start + int(np.argmax(eye[:, 2]))
    return marks


def save(arrays, path):
    """Store compactly: float16 offsets for the vertices each shape moves, float32 rest."""
    shapes = arrays["shapes"]
    moved = np.abs(shapes).max(-1) > 1e-6
    counts = moved.sum(1)
    indices = np.concatenate([np.flatnonzero(m) for m in moved]).astype(np.int32)
    offsets = np.concatenate([s[m] for s, m in zip(shapes, moved)]).astype(np.float16)
    skinned = arrays["weights"] > 0
    mouth = arrays["mouth_parts"]
    mouth_shapes = ("jawOpen", "tongueOut")
    np.savez_compressed(
        path,
        template=arrays["template"].astype(np.float32),
        faces=arrays["faces"].astype(np.int32),
        face_parts=arrays["face_parts"].astype(np.int8),
        part_names=np.array(PARTS),
        joints=arrays["joints"].astype(np.float32),
        joint_names=np.array(JOINT_NAMES),
        weight_index=np.argwhere(skinned).astype(np.int32),
        weight_value=arrays["weights"][skinned].astype(np.float32),
        shape_names=np.array(ARKIT_BLENDSHAPES),
        shape_counts=counts.astype(np.int32),
        shape_indices=indices,
        shape_offsets=offsets,
        landmarks=np.array(json.dumps(arrays["landmarks"], sort_keys=True)),
        mouth_part_names=np.array(list(mouth)),
        mouth_part_materials=np.array([part[0] for part in mouth.values()]),
        mouth_vertex_counts=np.array([len(part[1]) for part in mouth.values()], np.int32),
        mouth_face_counts=np.array([len(part[2]) for part in mouth.values()], np.int32),
        mouth_vertices=np.concatenate([part[1] for part in mouth.values()]).astype(np.float32),
        mouth_faces=np.concatenate([part[2] for part in mouth.values()]).astype(np.int32),
        mouth_jaw_weights=np.concatenate([part[3] for part in mouth.values()]).astype(np.float32),
        mouth_shape_names=np.array(mouth_shapes),
        mouth_shapes=np.stack([np.concatenate([part[4].get(name, np.zeros_like(part[1])) for part in mouth.values()])
                               for name in mouth_shapes]).astype(np.float32),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the built-in head's data file.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save(build(), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
