"""Analytic ray casting of the synthetic scenes (numba kernels): exact depth, procedural textures.

Why ray casting rather than rasterisation: every pixel's depth is then the exact distance to an
analytic surface (plane, box, sphere), which is what makes the synthetic split a ground truth for
the depth and track controls. Why numba: a 60 s video at 480x832 is ~400M rays; plain numpy is far
too slow, a compiled per-pixel loop with per-tile culling is fast enough on one core.

Conventions (shared with ``scene.py``):
- world: y up, the floor/ground is the plane y = 0;
- camera: OpenCV axes (x right, y down, z forward); a pixel (u, v) looks along the world direction
  ``R_c2w @ [(u - cx) / fx, (v - cy) / fy, 1]``. That direction is *not* normalised, so the ray
  parameter t of a hit equals its camera-space depth z exactly;
- primitive ids: 0 floor/ground, 1 walls, 2 ceiling, 3 sky, then boxes, then spheres.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ID_FLOOR = 0
ID_WALL = 1
ID_CEILING = 2
ID_SKY = 3
FIRST_OBJECT_ID = 4

# Background kinds.
BG_ROOM = 0
BG_OUTDOOR = 1

# Material columns: kind, scale, colour A (3), colour B (3), seed.
TEX_CHECKER = 0
TEX_STRIPES = 1
TEX_NOISE = 2
MAT_COLUMNS = 9

# Light vector layout (see scene.Lighting.pack).
L_AMBIENT = 0  # 3
L_SUN_DIR = 3  # 3, unit, pointing towards the sun
L_SUN_COL = 6  # 3
L_FOG_COL = 9  # 3
L_FOG_DENSITY = 12
L_SKY_HORIZON = 13  # 3
L_SKY_ZENITH = 16  # 3
L_CLOUDS = 19
LIGHT_SIZE = 20

# Every helper is inlined at the numba level (inline="always"): returning tuples from separately
# compiled functions halved the speed. error_model="numpy" drops the zero-division checks.
TILE = 16
EPS = 1e-4
MISS = np.inf


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _hash(ix: int, iy: int, iz: int, seed: int) -> float:
    """A cheap integer hash of a lattice point to [0, 1) (one multiply-xorshift round is enough here)."""
    h = (ix * 0x8DA6B343 + iy * 0xD8163841 + iz * 0x9E3779B1 + seed * 0xCB1AB31F) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 15
    return h * (1.0 / 4294967296.0)


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _value_noise2(x: float, y: float, seed: int) -> float:
    """2D value noise with smoothstep interpolation (flat faces and the sky need no third axis)."""
    fx, fy = math.floor(x), math.floor(y)
    ix, iy = int(fx), int(fy)
    tx, ty = x - fx, y - fy
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    a = _hash(ix, iy, 0, seed)
    b = _hash(ix + 1, iy, 0, seed)
    c = _hash(ix, iy + 1, 0, seed)
    d = _hash(ix + 1, iy + 1, 0, seed)
    e = a + (b - a) * tx
    return e + (c + (d - c) * tx - e) * ty


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _value_noise3(x: float, y: float, z: float, seed: int) -> float:
    fz = math.floor(z)
    tz = z - fz
    tz = tz * tz * (3.0 - 2.0 * tz)
    iz = int(fz)
    a = _value_noise2(x, y, seed + iz * 7919)
    b = _value_noise2(x, y, seed + (iz + 1) * 7919)
    return a + (b - a) * tz


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _texture(mats: np.ndarray, pid: int, px: float, py: float, pz: float, nx: float, ny: float, nz: float,
             footprint: float) -> tuple[float, float, float]:
    """Albedo of primitive ``pid`` at object-local point p with normal n.

    Flat faces drop the coordinate along their normal (a 3D solid texture would flicker there
    between two cells); textures fade to their mean where a pixel covers more than a fraction of
    a texture cell (a cheap stand-in for mip-mapping, which keeps far surfaces from shimmering).
    """
    kind = int(mats[pid, 0])
    scale = mats[pid, 1]
    seed = int(mats[pid, 8])
    anx, any_, anz = abs(nx), abs(ny), abs(nz)
    u, v, w = px / scale, py / scale, pz / scale
    if anx > 0.999:
        u, v, w = pz / scale, py / scale, 0.0
    elif any_ > 0.999:
        u, v, w = px / scale, pz / scale, 0.0
    elif anz > 0.999:
        u, v, w = px / scale, py / scale, 0.0
    if kind == TEX_CHECKER:
        s = int(math.floor(u)) + int(math.floor(v)) + int(math.floor(w))
        m = 1.0 if (s & 1) == 0 else 0.0
    elif kind == TEX_STRIPES:
        m = 0.5 + 0.5 * math.sin(2.0 * math.pi * (u + 0.35 * v + 0.2 * w))
    elif w == 0.0:
        m = 0.65 * _value_noise2(u, v, seed) + 0.35 * _value_noise2(3.1 * u, 3.1 * v, seed + 1)
    else:
        m = 0.65 * _value_noise3(u, v, w, seed) + 0.35 * _value_noise3(3.1 * u, 3.1 * v, 3.1 * w, seed + 1)
    fade = 1.5 - 2.0 * footprint / scale
    fade = min(1.0, max(0.0, fade))
    m = 0.5 + (m - 0.5) * fade
    return (mats[pid, 2] + (mats[pid, 5] - mats[pid, 2]) * m,
            mats[pid, 3] + (mats[pid, 6] - mats[pid, 3]) * m,
            mats[pid, 4] + (mats[pid, 7] - mats[pid, 4]) * m)


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _trace(ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, bg_kind: int, bg: np.ndarray,
           boxes: np.ndarray, box_ids: np.ndarray, n_box: int, spheres: np.ndarray, sph_ids: np.ndarray,
           n_sph: int) -> tuple[float, int, float, float, float]:
    """Nearest hit along o + t d (t > 0): (t, primitive id, normal facing the ray).

    ``box_ids`` / ``sph_ids`` list the first ``n_box`` / ``n_sph`` candidate objects (tile culling).
    The background (room interior or ground + sky dome) is always hit, so t is always finite.
    """
    idx = 1.0 / dx if dx != 0.0 else 1e30
    idy = 1.0 / dy if dy != 0.0 else 1e30
    idz = 1.0 / dz if dz != 0.0 else 1e30
    best_t = MISS
    best_id = ID_SKY
    bnx, bny, bnz = 0.0, 0.0, 0.0
    if bg_kind == BG_ROOM:
        # Exit point of the room's box from inside: the smallest positive far-slab distance.
        t1, t2 = (bg[0] - ox) * idx, (bg[3] - ox) * idx
        tx = max(t1, t2)
        t1, t2 = (bg[1] - oy) * idy, (bg[4] - oy) * idy
        ty = max(t1, t2)
        t1, t2 = (bg[2] - oz) * idz, (bg[5] - oz) * idz
        tz = max(t1, t2)
        if tx <= ty and tx <= tz:
            best_t, best_id, bnx = tx, ID_WALL, -1.0 if dx > 0 else 1.0
        elif ty <= tz:
            best_t = ty
            best_id = ID_CEILING if dy > 0 else ID_FLOOR
            bny = -1.0 if dy > 0 else 1.0
        else:
            best_t, best_id, bnz = tz, ID_WALL, -1.0 if dz > 0 else 1.0
    else:
        # Sky dome (sphere around the scene, seen from inside), then the ground plane y = 0.
        cx, cy, cz, r = bg[0] - ox, bg[1] - oy, bg[2] - oz, bg[3]
        a = dx * dx + dy * dy + dz * dz
        b = dx * cx + dy * cy + dz * cz
        c = cx * cx + cy * cy + cz * cz - r * r
        disc = b * b - a * c
        best_t = (b + math.sqrt(max(disc, 0.0))) / a
        best_id = ID_SKY
        bnx, bny, bnz = 0.0, -1.0, 0.0
        if dy < 0.0:
            tg = -oy * idy
            if tg < best_t:
                best_t, best_id, bnx, bny, bnz = tg, ID_FLOOR, 0.0, 1.0, 0.0
    for k in range(n_box):
        j = box_ids[k]
        t1, t2 = (boxes[j, 0] - ox) * idx, (boxes[j, 3] - ox) * idx
        tminx, tmaxx = min(t1, t2), max(t1, t2)
        t1, t2 = (boxes[j, 1] - oy) * idy, (boxes[j, 4] - oy) * idy
        tminy, tmaxy = min(t1, t2), max(t1, t2)
        t1, t2 = (boxes[j, 2] - oz) * idz, (boxes[j, 5] - oz) * idz
        tminz, tmaxz = min(t1, t2), max(t1, t2)
        tmin = max(tminx, tminy, tminz)
        tmax = min(tmaxx, tmaxy, tmaxz)
        if tmin <= tmax and tmin > EPS and tmin < best_t:
            best_t, best_id = tmin, FIRST_OBJECT_ID + j
            bnx, bny, bnz = 0.0, 0.0, 0.0
            if tmin == tminx:
                bnx = -1.0 if dx > 0 else 1.0
            elif tmin == tminy:
                bny = -1.0 if dy > 0 else 1.0
            else:
                bnz = -1.0 if dz > 0 else 1.0
    a = dx * dx + dy * dy + dz * dz
    for k in range(n_sph):
        j = sph_ids[k]
        cx, cy, cz, r = spheres[j, 0] - ox, spheres[j, 1] - oy, spheres[j, 2] - oz, spheres[j, 3]
        b = dx * cx + dy * cy + dz * cz
        if b <= 0.0:
            continue
        c = cx * cx + cy * cy + cz * cz - r * r
        disc = b * b - a * c
        if disc < 0.0:
            continue
        t = (b - math.sqrt(disc)) / a
        if t > EPS and t < best_t:
            best_t = t
            best_id = FIRST_OBJECT_ID + boxes.shape[0] + j
            inv_r = 1.0 / r
            bnx = (ox + t * dx - spheres[j, 0]) * inv_r
            bny = (oy + t * dy - spheres[j, 1]) * inv_r
            bnz = (oz + t * dz - spheres[j, 2]) * inv_r
    return best_t, best_id, bnx, bny, bnz


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _shade(t: float, pid: int, ox: float, oy: float, oz: float, dx: float, dy: float, dz: float, nx: float,
           ny: float, nz: float, inv_fx: float, bg: np.ndarray, mats: np.ndarray, offsets: np.ndarray,
           light: np.ndarray, lamps: np.ndarray) -> tuple[float, float, float]:
    """Linear RGB of a hit: lambertian sun + point lamps + ambient, fog by distance; sky by direction.

    Written for speed (this is most of the frame time): one division for the ray length, a
    rational approximation of exp for the fog, 2D noise wherever a third axis is not needed.
    """
    dlen = math.sqrt(dx * dx + dy * dy + dz * dz)
    inv_dlen = 1.0 / dlen
    px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
    if pid == ID_SKY:
        uy = dy * inv_dlen
        h = math.sqrt(max(uy, 0.0))
        r = light[L_SKY_HORIZON] + (light[L_SKY_ZENITH] - light[L_SKY_HORIZON]) * h
        g = light[L_SKY_HORIZON + 1] + (light[L_SKY_ZENITH + 1] - light[L_SKY_HORIZON + 1]) * h
        b = light[L_SKY_HORIZON + 2] + (light[L_SKY_ZENITH + 2] - light[L_SKY_HORIZON + 2]) * h
        # Clouds are painted on the dome: a function of the direction from the dome's centre (bg[0:3]),
        # i.e. of a fixed world point, so they move exactly like the dome's tracks.
        sx, sy, sz = px - bg[0], py - bg[1], pz - bg[2]
        if light[L_CLOUDS] > 0.0 and sy > 0.0:
            inv_y = 1.0 / sy
            cu, cv = 3.0 * sx * inv_y, 3.0 * sz * inv_y  # a flat cloud layer seen from the centre
            cl = 0.7 * _value_noise2(cu, cv, 7) + 0.3 * _value_noise2(3.0 * cu, 3.0 * cv, 8)
            cl = max(0.0, cl - 0.45) * 2.0 * light[L_CLOUDS] * min(1.0, 4.0 * sy / bg[3])
            r += (min(1.0, 1.4 * light[L_SKY_HORIZON] + 0.02) - r) * cl
            g += (min(1.0, 1.4 * light[L_SKY_HORIZON + 1] + 0.02) - g) * cl
            b += (min(1.0, 1.4 * light[L_SKY_HORIZON + 2] + 0.02) - b) * cl
        return r, g, b
    dist = t * dlen
    cos_view = abs(nx * dx + ny * dy + nz * dz) * inv_dlen
    footprint = dist * inv_fx / max(cos_view, 0.1)
    ar, ag, ab = _texture(mats, pid, px - offsets[pid, 0], py - offsets[pid, 1], pz - offsets[pid, 2], nx, ny, nz,
                          footprint)
    ir, ig, ib = light[L_AMBIENT], light[L_AMBIENT + 1], light[L_AMBIENT + 2]
    ndl = nx * light[L_SUN_DIR] + ny * light[L_SUN_DIR + 1] + nz * light[L_SUN_DIR + 2]
    if ndl > 0.0:
        ir += ndl * light[L_SUN_COL]
        ig += ndl * light[L_SUN_COL + 1]
        ib += ndl * light[L_SUN_COL + 2]
    for k in range(lamps.shape[0]):
        lx, ly, lz = lamps[k, 0] - px, lamps[k, 1] - py, lamps[k, 2] - pz
        d2 = lx * lx + ly * ly + lz * lz
        ndl = nx * lx + ny * ly + nz * lz
        if ndl > 0.0:
            # cosine (ndl / |l|) times the falloff 1 / (1 + d^2 / radius^2)
            fall = ndl / (math.sqrt(d2) * (1.0 + d2 * lamps[k, 6]) + 1e-9)
            ir += fall * lamps[k, 3]
            ig += fall * lamps[k, 4]
            ib += fall * lamps[k, 5]
    x = dist * light[L_FOG_DENSITY]
    fog = 1.0 / (1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0))))  # ~exp(-x): fog needs no exactness
    return (ar * ir * fog + light[L_FOG_COL] * (1.0 - fog),
            ag * ig * fog + light[L_FOG_COL + 1] * (1.0 - fog),
            ab * ib * fog + light[L_FOG_COL + 2] * (1.0 - fog))


# Display gamma (1/2.2) through a table indexed by sqrt(linear): a pow per channel per pixel was a
# third of the frame time, and sqrt spacing keeps dark (night) tones finely resolved.
_GAMMA_STEPS = 2048
GAMMA_LUT = np.round(255.0 * (np.arange(_GAMMA_STEPS + 1) / _GAMMA_STEPS) ** (2.0 / 2.2)).astype(np.uint8)


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _to_u8(x: float, lut: np.ndarray) -> np.uint8:
    x = min(1.0, max(0.0, x))
    return lut[int(math.sqrt(x) * _GAMMA_STEPS + 0.5)]


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _cone_hits_sphere(ox: float, oy: float, oz: float, ax: float, ay: float, az: float, half: float,
                      cx: float, cy: float, cz: float, r: float) -> bool:
    vx, vy, vz = cx - ox, cy - oy, cz - oz
    d = math.sqrt(vx * vx + vy * vy + vz * vz)
    if d <= r:
        return True
    cos_a = (vx * ax + vy * ay + vz * az) / d
    angle = math.acos(min(1.0, max(-1.0, cos_a)))
    return angle <= half + math.asin(min(1.0, r / d))


@njit(cache=True, fastmath=True, error_model="numpy")
def render_frame(rot: np.ndarray, origin: np.ndarray, intr: np.ndarray, bg_kind: int, bg: np.ndarray,
                 boxes: np.ndarray, spheres: np.ndarray, mats: np.ndarray, offsets: np.ndarray, light: np.ndarray,
                 lamps: np.ndarray, rgb: np.ndarray, depth: np.ndarray, coverage: np.ndarray) -> None:
    """Render one frame into ``rgb`` (H, W, 3) uint8 and ``depth`` (H, W) (camera z, metres).

    ``rot`` is camera-to-world rotation, ``intr`` = (fx, fy, cx, cy). ``coverage[pid]`` is
    incremented by the number of pixels showing each primitive (the captions use it).
    Objects are culled per 16x16 tile with a bounding-cone test, so each pixel only tests the
    few objects that can appear in its tile.
    """
    height, width = depth.shape
    lut = GAMMA_LUT
    fx, fy, cx, cy = intr[0], intr[1], intr[2], intr[3]
    inv_fx = 1.0 / fx
    ox, oy, oz = origin[0], origin[1], origin[2]
    n_box_all, n_sph_all = boxes.shape[0], spheres.shape[0]
    box_ids = np.empty(max(n_box_all, 1), np.int64)
    sph_ids = np.empty(max(n_sph_all, 1), np.int64)
    box_r = np.empty(max(n_box_all, 1))
    box_c = np.empty((max(n_box_all, 1), 3))
    corners = np.empty((4, 3))
    for j in range(n_box_all):
        for a in range(3):
            box_c[j, a] = 0.5 * (boxes[j, a] + boxes[j, a + 3])
        hx, hy, hz = boxes[j, 3] - boxes[j, 0], boxes[j, 4] - boxes[j, 1], boxes[j, 5] - boxes[j, 2]
        box_r[j] = 0.5 * math.sqrt(hx * hx + hy * hy + hz * hz)
    for ty0 in range(0, height, TILE):
        ty1 = min(ty0 + TILE, height)
        for tx0 in range(0, width, TILE):
            tx1 = min(tx0 + TILE, width)
            # Bounding cone of the tile's rays (in world space).
            ax, ay, az = 0.0, 0.0, 0.0
            for ci in range(4):
                u = float(tx0) - 0.5 if ci % 2 == 0 else float(tx1) - 0.5
                v = float(ty0) - 0.5 if ci < 2 else float(ty1) - 0.5
                lx, ly = (u - cx) / fx, (v - cy) / fy
                wx = rot[0, 0] * lx + rot[0, 1] * ly + rot[0, 2]
                wy = rot[1, 0] * lx + rot[1, 1] * ly + rot[1, 2]
                wz = rot[2, 0] * lx + rot[2, 1] * ly + rot[2, 2]
                n = math.sqrt(wx * wx + wy * wy + wz * wz)
                corners[ci, 0], corners[ci, 1], corners[ci, 2] = wx / n, wy / n, wz / n
                ax += wx / n
                ay += wy / n
                az += wz / n
            n = math.sqrt(ax * ax + ay * ay + az * az)
            ax, ay, az = ax / n, ay / n, az / n
            cos_half = 1.0
            for ci in range(4):
                cos_half = min(cos_half, corners[ci, 0] * ax + corners[ci, 1] * ay + corners[ci, 2] * az)
            half = math.acos(min(1.0, cos_half)) + 1e-3
            n_box = 0
            for j in range(n_box_all):
                if _cone_hits_sphere(ox, oy, oz, ax, ay, az, half, box_c[j, 0], box_c[j, 1], box_c[j, 2], box_r[j]):
                    box_ids[n_box] = j
                    n_box += 1
            n_sph = 0
            for j in range(n_sph_all):
                if _cone_hits_sphere(ox, oy, oz, ax, ay, az, half, spheres[j, 0], spheres[j, 1], spheres[j, 2],
                                     spheres[j, 3]):
                    sph_ids[n_sph] = j
                    n_sph += 1
            for v in range(ty0, ty1):
                ly = (v - cy) / fy
                for u in range(tx0, tx1):
                    lx = (u - cx) / fx
                    dx = rot[0, 0] * lx + rot[0, 1] * ly + rot[0, 2]
                    dy = rot[1, 0] * lx + rot[1, 1] * ly + rot[1, 2]
                    dz = rot[2, 0] * lx + rot[2, 1] * ly + rot[2, 2]
                    t, pid, nx, ny, nz = _trace(ox, oy, oz, dx, dy, dz, bg_kind, bg, boxes, box_ids, n_box, spheres,
                                                sph_ids, n_sph)
                    r, g, b = _shade(t, pid, ox, oy, oz, dx, dy, dz, nx, ny, nz, inv_fx, bg, mats, offsets, light,
                                     lamps)
                    rgb[v, u, 0] = _to_u8(r, lut)
                    rgb[v, u, 1] = _to_u8(g, lut)
                    rgb[v, u, 2] = _to_u8(b, lut)
                    depth[v, u] = t
                    coverage[pid] += 1


@njit(cache=True, fastmath=True, error_model="numpy")
def trace_pixels(rot: np.ndarray, origin: np.ndarray, intr: np.ndarray, bg_kind: int, bg: np.ndarray,
                 boxes: np.ndarray, spheres: np.ndarray, us: np.ndarray, vs: np.ndarray,
                 depth: np.ndarray, prim: np.ndarray) -> None:
    """Depth (camera z) and primitive id seen at sub-pixel positions (us[i], vs[i]); no culling."""
    fx, fy, cx, cy = intr[0], intr[1], intr[2], intr[3]
    box_ids = np.arange(boxes.shape[0])
    sph_ids = np.arange(spheres.shape[0])
    for i in range(us.shape[0]):
        lx, ly = (us[i] - cx) / fx, (vs[i] - cy) / fy
        dx = rot[0, 0] * lx + rot[0, 1] * ly + rot[0, 2]
        dy = rot[1, 0] * lx + rot[1, 1] * ly + rot[1, 2]
        dz = rot[2, 0] * lx + rot[2, 1] * ly + rot[2, 2]
        t, pid, _, _, _ = _trace(origin[0], origin[1], origin[2], dx, dy, dz, bg_kind, bg, boxes, box_ids,
                                 boxes.shape[0], spheres, sph_ids, spheres.shape[0])
        depth[i] = t
        prim[i] = pid
