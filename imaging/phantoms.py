"""Numeric phantoms for synthetic studies: whole arrays at once, no per-pixel Python.

Values are what the modality stores: Hounsfield units for CT (rescaled by the caller),
arbitrary signal for MR, detector counts for projection radiography, 8-bit RGB for
ultrasound. Shapes are cartoons of anatomy, close enough that windowing presets, inversion
and compression behave as on real images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.linspace(-1.0, 1.0, rows, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, cols, dtype=np.float32)[None, :]
    return y, x


def _ellipse(
    y: np.ndarray, x: np.ndarray, cy: float, cx: float, ry: float, rx: float
) -> np.ndarray:
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def _smooth_noise(rng: np.random.Generator, rows: int, cols: int, cell: int) -> np.ndarray:
    """Low-frequency texture in [0, 1]: coarse noise resized up (bicubic)."""
    small = rng.random((max(2, rows // cell), max(2, cols // cell)), dtype=np.float32)
    img = Image.fromarray(small, mode="F").resize((cols, rows), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def ct_slice(size: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """An axial chest slice in HU; ``z`` in [0, 1] runs from lung apex to base."""
    y, x = _grid(size, size)
    hu = np.full((size, size), -1000.0, dtype=np.float32)
    hu[_ellipse(y, x, 0.02, 0.0, 0.64, 0.88)] = -100.0  # subcutaneous fat
    hu[_ellipse(y, x, 0.02, 0.0, 0.58, 0.82)] = 45.0  # muscle and soft tissue
    lung = 0.55 + 0.35 * np.sin(np.pi * min(max(z, 0.0), 1.0))
    for side in (-1.0, 1.0):
        hu[_ellipse(y, x, -0.05, side * 0.38, 0.42 * lung, 0.27 * lung)] = -850.0
    vessels = _smooth_noise(rng, size, size, max(4, size // 48)) > 0.82
    hu[vessels & (hu < -800)] = -450.0  # pulmonary vessels
    hu[_ellipse(y, x, 0.08, 0.08, 0.2 * (1.2 - z * 0.4), 0.17)] = 40.0  # heart
    hu[_ellipse(y, x, 0.3, 0.05, 0.06, 0.06)] = 180.0  # contrast in the aorta
    hu[_ellipse(y, x, 0.43, 0.0, 0.1, 0.1)] = 1100.0  # vertebral cortex
    hu[_ellipse(y, x, 0.43, 0.0, 0.08, 0.08)] = 300.0  # cancellous bone
    hu[_ellipse(y, x, 0.56, 0.0, 0.035, 0.035)] = 20.0  # spinal canal
    ribs = np.abs(np.hypot(y / 0.6, x / 0.84) - 0.93) < 0.025
    hu[ribs & (np.sin(np.arctan2(y, x) * 9 + z * 3) > 0.2)] = 900.0
    hu[(y > 0.78) & (y < 0.84) & (np.abs(x) < 0.9)] = 150.0  # the table
    hu += rng.normal(0.0, 8.0, hu.shape).astype(np.float32)
    return hu


def mr_slice(size: int, z: float, rng: np.random.Generator, *, t2: bool) -> np.ndarray:
    """An axial head slice, T1- or T2-like signal in 0–~1800."""
    y, x = _grid(size, size)
    img = np.zeros((size, size), dtype=np.float32)
    scale = 0.65 + 0.3 * np.sin(np.pi * min(max(z, 0.0), 1.0))
    img[_ellipse(y, x, 0.0, 0.0, 0.86 * scale, 0.7 * scale)] = 300.0  # scalp
    img[_ellipse(y, x, 0.0, 0.0, 0.8 * scale, 0.64 * scale)] = 80.0  # skull: no signal
    csf, gray, white = (1600.0, 900.0, 700.0) if t2 else (300.0, 650.0, 900.0)
    img[_ellipse(y, x, 0.0, 0.0, 0.76 * scale, 0.6 * scale)] = csf
    img[_ellipse(y, x, 0.0, 0.0, 0.73 * scale, 0.57 * scale)] = gray
    folds = _smooth_noise(rng, size, size, max(4, size // 24)) > 0.45
    inner = _ellipse(y, x, 0.0, 0.0, 0.62 * scale, 0.47 * scale)
    img[inner & folds] = white
    for side in (-1.0, 1.0):
        img[_ellipse(y, x, -0.05, side * 0.09, 0.22 * scale, 0.06 * scale)] = csf  # ventricles
    img += rng.normal(0.0, 12.0, img.shape).astype(np.float32)
    return np.clip(img, 0.0, None)


def chest_projection(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A PA chest radiograph in 12-bit counts (bright = dense, MONOCHROME2)."""
    y, x = _grid(rows, cols)
    img = np.full((rows, cols), 300.0, dtype=np.float32)
    body = _ellipse(y, x, 0.1, 0.0, 1.05, 0.8)
    img[body] = 2200.0
    for side in (-1.0, 1.0):
        lung = _ellipse(y, x, -0.05, side * 0.36, 0.62, 0.28)
        img[lung] = 900.0
    img[_ellipse(y, x, 0.2, 0.06, 0.3, 0.22)] = 2500.0  # heart shadow
    img[(np.abs(x) < 0.07) & body] = 3000.0  # spine
    ribs = (np.sin((y + 0.25 * x**2) * 28.0) > 0.75) & body & (np.abs(x) > 0.08)
    img[ribs] += 600.0
    img[_ellipse(y, x, -0.78, 0.0, 0.06, 0.5)] = 2900.0  # clavicles
    img += 300.0 * _smooth_noise(rng, rows, cols, max(8, rows // 32))
    img += rng.normal(0.0, 20.0, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 4095.0)


def hand_projection(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A hand radiograph in 12-bit counts, bright = dense (caller may invert for MONO1)."""
    y, x = _grid(rows, cols)
    img = np.full((rows, cols), 200.0, dtype=np.float32)
    img[_ellipse(y, x, 0.35, 0.0, 0.45, 0.42)] = 1500.0  # palm
    for i, angle in enumerate(np.linspace(-0.5, 0.5, 5)):
        cx = 0.42 * np.sin(angle) * 1.6
        finger = _ellipse(y, x, -0.35 + abs(i - 2) * 0.08, cx, 0.45, 0.07)
        img[finger] = 1500.0
        img[finger & _ellipse(y, x, -0.35 + abs(i - 2) * 0.08, cx, 0.43, 0.035)] = 3200.0
    img[_ellipse(y, x, 0.5, 0.0, 0.3, 0.06)] = 3300.0  # metacarpal
    img += rng.normal(0.0, 25.0, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 4095.0)


def mammogram(rows: int, cols: int, rng: np.random.Generator, *, right: bool) -> np.ndarray:
    """A craniocaudal mammogram in 12-bit counts, breast against the chest wall side."""
    y, x = _grid(rows, cols)
    wall = 1.0 if right else -1.0
    img = np.full((rows, cols), 100.0, dtype=np.float32)
    breast = _ellipse(y, x, 0.0, wall, 0.95, 1.55)
    tissue = _smooth_noise(rng, rows, cols, max(8, rows // 40))
    fine = _smooth_noise(rng, rows, cols, max(3, rows // 300))
    img[breast] = 1400.0 + 1300.0 * tissue[breast] + 250.0 * fine[breast]
    img[_ellipse(y, x, 0.1, wall * 0.2, 0.02, 0.02)] = 3600.0  # a calcification
    img += rng.normal(0.0, 15.0, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 4095.0)


def ultrasound_frame(rows: int, cols: int, phase: float, rng: np.random.Generator) -> np.ndarray:
    """A cardiac-like sector scan with a colour Doppler box, RGB uint8."""
    y = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None]
    x = np.linspace(-0.67, 0.67, cols, dtype=np.float32)[None, :]
    r = np.hypot(y + 0.05, x)
    theta = np.arctan2(x, y + 0.05)
    sector = (r < 1.0) & (np.abs(theta) < 0.62)
    speckle = rng.rayleigh(0.35, (rows, cols)).astype(np.float32)
    beat = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    wall = np.abs(np.hypot((y - 0.55) / (0.28 + 0.05 * beat), x / 0.22) - 1.0) < 0.18
    gray = 40.0 * speckle + 150.0 * wall * speckle
    gray *= 1.0 - 0.5 * r  # depth attenuation
    gray = np.where(sector, np.clip(gray, 0, 255), 0.0)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    box = sector & (np.abs(x) < 0.15) & (y > 0.4) & (y < 0.7)
    flow = np.sin(6.0 * x + 2 * np.pi * phase) * (1.0 - np.abs(y - 0.55) / 0.15)
    towards, away = box & (flow > 0.3), box & (flow < -0.3)
    rgb[towards] = np.stack([200 + 55 * flow[towards], 40 * flow[towards], 0 * flow[towards]], 1)
    rgb[away] = np.stack([0 * flow[away], 60 * -flow[away], 200 + 55 * -flow[away]], 1)
    return np.clip(rgb, 0, 255).astype(np.uint8)
