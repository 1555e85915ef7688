"""Widgets for exploring latent spaces, built on ipywidgets.

Every widget is a Python object first: its sliders can be set from code
(``explorer.sliders[0].value = 1.5``) and the image it shows read back
(``explorer.image``, a NumPy array, and ``explorer.image_widget.value``, PNG bytes). In a
notebook, putting the object last in a cell displays it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch

from .device import get_device
from .latent import interpolate, lerp, slerp
from .plotting import image_grid

__all__ = ["LatentExplorer", "InterpolationExplorer", "png_bytes"]

Decoder = Callable[[torch.Tensor], torch.Tensor]


def png_bytes(image: np.ndarray, scale: int = 6) -> bytes:
    """A grey image in [0, 1] as PNG bytes, enlarged ``scale`` times without smoothing."""
    big = np.kron(np.clip(image, 0, 1), np.ones((scale, scale)))
    buf = io.BytesIO()
    plt.imsave(buf, big, cmap="gray", vmin=0, vmax=1, format="png")
    return buf.getvalue()


class _DecodedImage:
    """Shared part: decode a code, keep the array, show it as PNG."""

    def __init__(self, decode: Decoder, device: torch.device | None, scale: int):
        if not callable(decode):
            raise ValueError(f"decode must be a function z -> images, got {type(decode).__name__}")
        self.decode = decode
        self.device = device or get_device()
        self.scale = scale
        self.image: np.ndarray = np.zeros((28, 28))
        self.image_widget = W.Image(format="png")

    @torch.no_grad()
    def _render(self, codes: torch.Tensor, nrow: int = 8) -> np.ndarray:
        images = self.decode(codes.to(self.device))
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ValueError(
                "decode must return images of shape (B, C, H, W) with values in [0, 1]; "
                f"got {getattr(images, 'shape', type(images).__name__)}"
            )
        if images.shape[0] == 1:
            return images[0, 0].float().cpu().numpy()
        return image_grid(images, nrow=nrow)

    def _show(self, image: np.ndarray) -> None:
        self.image = image
        self.image_widget.value = png_bytes(image, self.scale)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class LatentExplorer(_DecodedImage):
    """Move a code z one dimension at a time and watch the decoded image change.

    decode: z (1, latent_dim) -> image (1, 1, H, W) in [0, 1], e.g.
        ``lambda z: torch.sigmoid(vae.decode(z))``.
    start: the code the sliders start at (default 0), e.g. the encoding of a real digit.
    dims: which dimensions get a slider (default: the first ten).
    """

    def __init__(
        self,
        decode: Decoder,
        latent_dim: int,
        start: torch.Tensor | None = None,
        dims: list[int] | None = None,
        limit: float = 3.0,
        device: torch.device | None = None,
        scale: int = 8,
    ):
        super().__init__(decode, device, scale)
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        start = torch.zeros(latent_dim) if start is None else start.detach().float().cpu()
        if start.numel() != latent_dim:
            raise ValueError(
                f"start must have {latent_dim} entries, got shape {tuple(start.shape)}"
            )
        dims = list(range(min(latent_dim, 10))) if dims is None else list(dims)
        if not dims or any(not 0 <= d < latent_dim for d in dims):
            raise ValueError(f"dims must be indices in [0, {latent_dim}), got {dims}")
        self.latent_dim = latent_dim
        self.start = start.reshape(latent_dim).clone()
        self.code = self.start.clone()
        self.dims = dims
        self.sliders = [
            W.FloatSlider(
                value=float(self.code[d]),
                min=-limit,
                max=limit,
                step=0.05,
                description=f"z[{d}]",
                continuous_update=True,
                layout=W.Layout(width="320px"),
            )
            for d in dims
        ]
        for slider in self.sliders:
            slider.observe(self._on_slider, names="value")
        self.reset_button = W.Button(description="reset", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())
        self.random_button = W.Button(description="random z ~ N(0, I)", icon="random")
        self.random_button.on_click(lambda _: self.set_code(torch.randn(latent_dim)))
        self.widget = W.HBox(
            [
                W.VBox([*self.sliders, W.HBox([self.reset_button, self.random_button])]),
                self.image_widget,
            ]
        )
        self._syncing = False
        self._refresh()

    def _on_slider(self, change) -> None:
        if self._syncing:
            return
        for d, slider in zip(self.dims, self.sliders, strict=True):
            self.code[d] = slider.value
        self._refresh()

    def _refresh(self) -> None:
        self._show(self._render(self.code.unsqueeze(0)))

    def set_code(self, z: torch.Tensor) -> None:
        """Jump to code z (latent_dim entries); the sliders follow."""
        z = z.detach().float().cpu().reshape(-1)
        if z.numel() != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} entries, got {z.numel()}")
        self.code = z.clone()
        self._syncing = True
        try:
            for d, slider in zip(self.dims, self.sliders, strict=True):
                slider.value = float(np.clip(z[d].item(), slider.min, slider.max))
        finally:
            self._syncing = False
        self._refresh()

    def reset(self) -> None:
        """Back to the start code."""
        self.set_code(self.start)


class InterpolationExplorer(_DecodedImage):
    """Walk from code z0 to code z1: a slider t in [0, 1] and the strip of the whole path.

    method: "linear" (a straight line) or "slerp" (the great circle, for Gaussian codes).
    """

    def __init__(
        self,
        decode: Decoder,
        z0: torch.Tensor,
        z1: torch.Tensor,
        steps: int = 10,
        method: str = "linear",
        device: torch.device | None = None,
        scale: int = 8,
    ):
        super().__init__(decode, device, scale)
        self.z0 = z0.detach().float().cpu().reshape(1, -1)
        self.z1 = z1.detach().float().cpu().reshape(1, -1)
        self.path = interpolate(self.z0, self.z1, steps, method)  # (steps, D)
        self.method = method
        self.slider = W.FloatSlider(
            value=0.0,
            min=0.0,
            max=1.0,
            step=0.01,
            description="t",
            continuous_update=True,
            layout=W.Layout(width="320px"),
        )
        self.slider.observe(lambda _: self._refresh(), names="value")
        self.strip_widget = W.Image(format="png")
        self.strip = self._render(self.path, nrow=steps)
        self.strip_widget.value = png_bytes(self.strip, 3)
        self.widget = W.VBox(
            [
                W.HBox([self.slider, self.image_widget]),
                W.HTML(f"<b>the whole path ({method})</b>"),
                self.strip_widget,
            ]
        )
        self._refresh()

    def code_at(self, t: float) -> torch.Tensor:
        """The code at position t in [0, 1] along the path."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}")
        return (lerp if self.method == "linear" else slerp)(self.z0, self.z1, t)

    def _refresh(self) -> None:
        self._show(self._render(self.code_at(self.slider.value)))
