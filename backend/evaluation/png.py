"""Line plots written as PNG with numpy and zlib only (no plotting package needed).

The images carry no text: the report's markdown gives each plot its caption, colour
legend and axis ranges (``LinePlot.describe``).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COLORS = {
    "black": (30, 30, 30), "grey": (150, 150, 150), "light": (235, 235, 235), "blue": (40, 90, 200),
    "orange": (235, 120, 20), "green": (40, 160, 70), "red": (210, 40, 40), "purple": (130, 60, 170),
    "pink": (255, 215, 225), "sky": (210, 230, 255), "sand": (250, 235, 200),
}


def write_png(path, image: np.ndarray):
    """image (H, W, 3) uint8 -> an RGB PNG file."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
                           + chunk(b"IEND", b""))


@dataclass
class LinePlot:
    """Curves over a shared x axis, with shaded x spans and horizontal guide lines."""

    x_range: tuple
    y_range: tuple
    size: tuple = (960, 280)
    margin: int = 12
    curves: list = field(default_factory=list)  # (x, y, colour name, label)
    spans: list = field(default_factory=list)  # (x0, x1, colour name, label)
    guides: list = field(default_factory=list)  # (y, colour name, label)

    def curve(self, x, y, color: str, label: str):
        self.curves.append((np.asarray(x, float), np.asarray(y, float), color, label))

    def span(self, x0: float, x1: float, color: str, label: str):
        self.spans.append((x0, x1, color, label))

    def guide(self, y: float, color: str, label: str):
        self.guides.append((y, color, label))

    def _px(self, x, y):
        width, height = self.size
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        m = self.margin
        px = m + (np.asarray(x, float) - x0) / max(x1 - x0, 1e-12) * (width - 2 * m)
        py = height - m - (np.asarray(y, float) - y0) / max(y1 - y0, 1e-12) * (height - 2 * m)
        return px, py

    def render(self) -> np.ndarray:
        width, height = self.size
        image = np.full((height, width, 3), 255, np.uint8)
        for x0, x1, color, _ in self.spans:
            (a, b), _ = self._px([x0, x1], [0, 0])
            image[:, max(0, int(a)): min(width, int(np.ceil(b)))] = COLORS[color]
        for y, color, _ in self.guides:
            _, (row,) = self._px([0], [y])
            if 0 <= row < height:
                image[int(row), ::4] = COLORS[color]
        m = self.margin
        image[height - m, m: width - m] = COLORS["black"]
        image[m: height - m, m] = COLORS["black"]
        for x, y, color, _ in self.curves:
            px, py = self._px(x, y)
            # Dense resampling between points draws a connected 2-pixel line.
            steps = max(2, int(np.abs(np.diff(px)).sum() + np.abs(np.diff(py)).sum()) * 2)
            t = np.linspace(0, len(px) - 1, steps)
            xs = np.interp(t, np.arange(len(px)), px)
            ys = np.interp(t, np.arange(len(py)), py)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                cols = np.clip(np.round(xs).astype(int) + dx, 0, width - 1)
                rows = np.clip(np.round(ys).astype(int) + dy, 0, height - 1)
                image[rows, cols] = COLORS[color]
        return image

    def save(self, path):
        write_png(path, self.render())

    def describe(self) -> str:
        """One markdown line: axis ranges and what each colour means."""
        parts = [f"x {self.x_range[0]:g}-{self.x_range[1]:g}, y {self.y_range[0]:g}-{self.y_range[1]:g}"]
        parts += [f"{color}: {label}" for _, _, color, label in self.curves]
        seen = set()
        for _, _, color, label in self.spans:
            if (color, label) not in seen:
                seen.add((color, label))
                parts.append(f"{color} band: {label}")
        parts += [f"dotted {color}: {label}" for _, color, label in self.guides]
        return "; ".join(parts)
