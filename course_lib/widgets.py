"""Widgets for exploring latent spaces, built on ipywidgets.

Every widget is a Python object first: its sliders can be set from code
(``explorer.sliders[0].value = 1.5``) and the image it shows read back
(``explorer.image``, a NumPy array, and ``explorer.image_widget.value``, PNG bytes). In a
notebook, putting the object last in a cell displays it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import divergences
from .device import get_device
from .latent import interpolate, lerp, slerp
from .plotting import image_grid

__all__ = [
    "ConditionalExplorer",
    "DivergenceExplorer",
    "LatentExplorer",
    "InterpolationExplorer",
    "png_bytes",
    "LatentStepper",
]

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
        try:
            images = self.decode(codes.to(self.device))
        except (RuntimeError, ValueError) as err:
            if "device" not in str(err):
                raise
            raise ValueError(
                f"decode failed on codes on {self.device}: {err}\nGive the widget the device "
                "your model is on: device=next(model.parameters()).device"
            ) from err
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ValueError(
                "decode must return images of shape (B, C, H, W) with values in [0, 1]; "
                f"got {getattr(images, 'shape', type(images).__name__)}. For a VAE: "
                "decode=lambda z: torch.sigmoid(vae.decode(z))"
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


class _CodeSliders:
    """One slider per chosen dimension of ``self.code`` (``self.dims``); moving one writes the
    code and redraws (``self._refresh``), unless ``self._syncing`` says the code moved them."""

    def _make_sliders(self, limit: float) -> None:
        self.sliders = [
            W.FloatSlider(
                value=float(np.clip(self.code[d].item(), -limit, limit)),
                min=-limit,
                max=limit,
                step=0.05,
                description=f"z[{d}]",
                continuous_update=True,
                layout=W.Layout(width="320px"),
            )
            for d in self.dims
        ]
        for slider in self.sliders:
            slider.observe(self._on_slider, names="value")

    def _place(self, z: torch.Tensor) -> None:
        """Make z (latent_dim entries) the code and move the sliders to it, quietly."""
        if not isinstance(z, torch.Tensor) or z.numel() != self.latent_dim:
            got = z.numel() if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of {self.latent_dim} entries, got {got}")
        self.code = z.detach().float().cpu().reshape(-1).clone()
        self._syncing = True
        try:
            for d, slider in zip(self.dims, self.sliders, strict=True):
                slider.value = float(np.clip(self.code[d].item(), slider.min, slider.max))
        finally:
            self._syncing = False

    def _on_slider(self, change) -> None:
        if self._syncing:
            return
        for d, slider in zip(self.dims, self.sliders, strict=True):
            self.code[d] = slider.value
        self._refresh()


class LatentExplorer(_CodeSliders, _DecodedImage):
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
                f"start must have {latent_dim} entries, got shape {tuple(start.shape)}; "
                "use the code of one image, e.g. start=vae.encode(x[:1])[0]"
            )
        dims = list(range(min(latent_dim, 10))) if dims is None else list(dims)
        if not dims or any(not 0 <= d < latent_dim for d in dims):
            raise ValueError(f"dims must be indices in [0, {latent_dim}), got {dims}")
        self.latent_dim = latent_dim
        self.start = start.reshape(latent_dim).clone()
        self.code = self.start.clone()
        self.dims = dims
        self._make_sliders(limit)
        self.reset_button = W.Button(description="reset", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())
        self.random_button = W.Button(
            description="random z ~ N(0, I)", icon="random", layout=W.Layout(width="auto")
        )
        self.random_button.on_click(lambda _: self.set_code(torch.randn(latent_dim)))
        self.widget = W.HBox(
            [
                W.VBox([*self.sliders, W.HBox([self.reset_button, self.random_button])]),
                self.image_widget,
            ]
        )
        self._syncing = False
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
        for name, z in (("z0", z0), ("z1", z1)):
            if not isinstance(z, torch.Tensor):
                raise ValueError(f"{name} must be a torch.Tensor code, got {type(z).__name__}")
        if z0.numel() != z1.numel():
            raise ValueError(
                f"z0 and z1 must be codes of the same size, got shapes {tuple(z0.shape)} and "
                f"{tuple(z1.shape)}; encode one image each, e.g. z0 = vae.encode(x[0:1])[0]"
            )
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


class DivergenceExplorer:
    """Slide the fake distribution p_f = N(mu, 1) away from the real one p_r = N(0, 1).

    The picture: the two densities; JS(p_r, p_f) against mu, which saturates at log 2; W1
    against mu, which grows like |mu|; on both curves the current point and its tangent.
    Values are computed on a grid in float64 (:func:`~course_lib.divergences.js_on_grid`,
    :func:`~course_lib.divergences.wasserstein_on_grid`), and the gradients d/dmu by
    **autograd** through that same computation. A gradient below 1e-12 is shown as "≈ 0":
    the true one is smaller still (about 1e-22 at mu = 20), under float64 rounding of a
    value near log 2.

    Drive it from Python: ``explorer.slider.value = 12.0``, then read ``explorer.values``
    (keys mu, js, w1, djs_dmu, dw1_dmu), ``explorer.image`` (an (H, W, 3) array in [0, 1])
    and ``explorer.image_widget.value`` (the same picture as PNG bytes).
    """

    def __init__(
        self,
        mu: float = 3.0,
        mu_max: float = 30.0,
        points: int = 5001,
        figsize: tuple[float, float] = (12.0, 3.4),
        dpi: int = 80,
    ):
        if not isinstance(mu_max, (int, float)) or not mu_max > 0:
            raise ValueError(f"mu_max must be a number > 0, got {mu_max!r}")
        if not isinstance(mu, (int, float)) or not 0 <= mu <= mu_max:
            raise ValueError(f"mu must be a number in [0, {mu_max}], got {mu!r}")
        if not isinstance(points, int) or points < 100:
            raise ValueError(f"points must be an int >= 100, got {points!r}")
        self.mu_max = float(mu_max)
        self.figsize, self.dpi = figsize, dpi
        # The grid reaches 10 standard deviations past both densities: their mass is 1.
        self.x = torch.linspace(-10.0, self.mu_max + 10.0, points, dtype=torch.float64)
        self.dx = (self.x[1] - self.x[0]).item()
        self.p_r = self._density(torch.tensor(0.0, dtype=torch.float64))
        # JS and W1 along the whole slider range, drawn once.
        self.curve_mu = torch.linspace(0.0, self.mu_max, 301, dtype=torch.float64)
        p_f = self._density(self.curve_mu[:, None])  # (301, points)
        self.curve_js = divergences.js_on_grid(self.p_r, p_f, self.dx).numpy()
        self.curve_w1 = divergences.wasserstein_on_grid(self.p_r, p_f, self.dx).numpy()

        self.values: dict[str, float] = {}
        self.image: np.ndarray = np.zeros((1, 1, 3))
        self.image_widget = W.Image(format="png")
        self.label = W.HTML()
        self.slider = W.FloatSlider(
            value=float(mu),
            min=0.0,
            max=self.mu_max,
            step=0.1,
            description="mean μ of p_f",
            continuous_update=False,  # one redraw per move: a figure takes ~0.1 s
            style={"description_width": "initial"},
            layout=W.Layout(width="480px"),
        )
        self.slider.observe(lambda _: self._refresh(), names="value")
        self.widget = W.VBox([self.slider, self.label, self.image_widget])
        self._refresh()

    def _density(self, mu: torch.Tensor) -> torch.Tensor:
        """N(mu, 1) at the grid points; differentiable in mu."""
        return torch.exp(-0.5 * (self.x - mu) ** 2) / math.sqrt(2 * math.pi)

    def measure(self, mu: float) -> dict[str, float]:
        """JS and W1 between N(0, 1) and N(mu, 1), and their derivatives in mu (autograd)."""
        if not 0 <= mu <= self.mu_max:
            raise ValueError(f"mu must be in [0, {self.mu_max}], got {mu}")
        mean = torch.tensor(float(mu), dtype=torch.float64, requires_grad=True)
        p_f = self._density(mean)
        js = divergences.js_on_grid(self.p_r, p_f, self.dx)
        w1 = divergences.wasserstein_on_grid(self.p_r, p_f, self.dx)
        (djs,) = torch.autograd.grad(js, mean, retain_graph=True)
        (dw1,) = torch.autograd.grad(w1, mean)
        return {
            "mu": float(mu),
            "js": js.item(),
            "w1": w1.item(),
            "djs_dmu": djs.item(),
            "dw1_dmu": dw1.item(),
        }

    @staticmethod
    def _slope(g: float) -> str:
        return "≈ 0" if abs(g) < 1e-12 else f"{g:.3g}"

    def _draw(self) -> np.ndarray:
        val = self.values
        mu = val["mu"]
        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        canvas = FigureCanvasAgg(fig)
        ax_p, ax_js, ax_w = fig.subplots(1, 3)
        x = self.x.numpy()
        shown = (x > -5) & (x < self.mu_max + 5)
        p_f = self._density(torch.tensor(mu, dtype=torch.float64)).numpy()
        ax_p.fill_between(x[shown], self.p_r.numpy()[shown], alpha=0.45, label="p_r = N(0, 1)")
        ax_p.fill_between(x[shown], p_f[shown], alpha=0.45, label=f"p_f = N({mu:.1f}, 1)")
        ax_p.set_xlabel("x")
        ax_p.set_title("the two densities")
        ax_p.legend(loc="upper right", fontsize=8)
        curves = (
            (ax_js, self.curve_js, val["js"], val["djs_dmu"], "JS", "C2"),
            (ax_w, self.curve_w1, val["w1"], val["dw1_dmu"], "W1", "C3"),
        )
        for ax, curve, value, slope, name, colour in curves:
            ax.plot(self.curve_mu.numpy(), curve, color=colour)
            around = np.linspace(max(0.0, mu - 4), min(self.mu_max, mu + 4), 2)
            ax.plot(around, value + slope * (around - mu), "k--", lw=1, label="tangent")
            ax.plot([mu], [value], "o", color="k")
            ax.set_xlabel("μ")
            ax.set_title(f"{name} = {value:.4g}, d{name}/dμ = {self._slope(slope)}")
        ax_js.axhline(math.log(2), color="grey", lw=0.8, ls=":", label="log 2")
        ax_js.set_ylabel("nats")
        ax_js.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float64) / 255.0

    def _refresh(self) -> None:
        self.values = self.measure(self.slider.value)
        val = self.values
        self.label.value = (
            f"μ = {val['mu']:.1f}: JS = {val['js']:.6f} nats (log 2 = {math.log(2):.6f}), "
            f"dJS/dμ = {val['djs_dmu']:.3g}; W1 = {val['w1']:.4f}, dW1/dμ = {val['dw1_dmu']:.3g}"
        )
        self.image = self._draw()
        self.image_widget.value = png_bytes(self.image, scale=1)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# --- chapter 05: a class-conditional generator --------------------------------------------

ConditionalGenerator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ConditionalExplorer(_CodeSliders):
    """Pick a class c, move the code z, and watch G(z, c); the strip shows the same z in
    every class, so what z controls (the style) and what c controls (the class) are seen apart.

    generator_fn: (z (B, latent_dim), labels (B,) int64) -> grey images (B, 1, H, W) in [0, 1],
        e.g. ``lambda z, c: (G(z, c) + 1) / 2`` for a tanh generator in eval mode.
    dims: which dimensions of z get a slider (default: the first eight).
    start: the code the sliders start at (default: a code drawn with ``seed``).
    seed: seeds the codes the "random z" button draws (and the default start).

    Drive it from Python: ``explorer.digit.value = 7``, ``explorer.sliders[0].value = 1.5``,
    ``explorer.random_button.click()``; read ``explorer.image`` (the (H, W) array of G(z, c)),
    ``explorer.strip`` (the classes side by side) and ``explorer.image_widget.value`` (PNG).
    """

    def __init__(
        self,
        generator_fn: ConditionalGenerator,
        latent_dim: int,
        num_classes: int = 10,
        digit: int = 0,
        dims: list[int] | None = None,
        start: torch.Tensor | None = None,
        limit: float = 3.0,
        seed: int = 0,
        class_names: list[str] | None = None,
        device: torch.device | None = None,
        scale: int = 8,
    ):
        if not callable(generator_fn):
            raise ValueError(
                "generator_fn must be a function (z, labels) -> images in [0, 1], got "
                f"{type(generator_fn).__name__}; e.g. lambda z, c: (G(z, c) + 1) / 2"
            )
        for name, value, low in (("latent_dim", latent_dim, 1), ("num_classes", num_classes, 2)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(digit, int) or isinstance(digit, bool) or not 0 <= digit < num_classes:
            raise ValueError(f"digit must be a class in [0, {num_classes - 1}], got {digit!r}")
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not limit > 0:
            raise ValueError(f"limit must be a number > 0, got {limit!r}")
        if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
            raise ValueError(f"scale must be a positive int, got {scale!r}")
        names = [str(c) for c in range(num_classes)] if class_names is None else class_names
        if len(names) != num_classes:
            raise ValueError(f"class_names must name {num_classes} classes, got {len(names)}")
        dims = list(range(min(latent_dim, 8))) if dims is None else list(dims)
        if not dims or any(
            not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < latent_dim for d in dims
        ):
            raise ValueError(f"dims must be indices in [0, {latent_dim}), got {dims}")
        self.generator_fn = generator_fn
        self.latent_dim, self.num_classes, self.dims = latent_dim, num_classes, dims
        self.device = device or get_device()
        self.scale = scale
        self._rng = torch.Generator().manual_seed(seed)
        if start is None:
            start = torch.randn(latent_dim, generator=self._rng)
        if not isinstance(start, torch.Tensor) or start.numel() != latent_dim:
            got = tuple(start.shape) if isinstance(start, torch.Tensor) else type(start).__name__
            raise ValueError(f"start must be a tensor of {latent_dim} entries, got {got}")
        self.start = start.detach().float().cpu().reshape(latent_dim).clone()
        self.code = self.start.clone()
        self.renders = 0  # how many times the pictures were drawn

        self.image: np.ndarray = np.zeros((28, 28))
        self.strip: np.ndarray = np.zeros((28, 28 * num_classes))
        self.image_widget = W.Image(format="png")
        self.strip_widget = W.Image(format="png")
        self.digit = W.ToggleButtons(
            options=[(name, c) for c, name in enumerate(names)],
            value=digit,
            description="class c",
            style={"button_width": "34px"},
        )
        self.digit.observe(lambda _: self._refresh(), names="value")
        self._make_sliders(limit)
        self.random_button = W.Button(
            description="random z ~ N(0, I)", icon="random", layout=W.Layout(width="auto")
        )
        self.random_button.on_click(lambda _: self.random_code())
        self.reset_button = W.Button(description="reset", icon="undo")
        self.reset_button.on_click(lambda _: self.set_code(self.start))
        self.caption = W.HTML()
        self.widget = W.VBox(
            [
                self.digit,
                W.HBox(
                    [
                        W.VBox([*self.sliders, W.HBox([self.reset_button, self.random_button])]),
                        self.image_widget,
                    ]
                ),
                self.caption,
                self.strip_widget,
            ]
        )
        self._syncing = False
        self._refresh()

    # -- the code --------------------------------------------------------------------------
    def set_code(self, z: torch.Tensor) -> None:
        """Jump to code z (latent_dim entries); the sliders follow, the class stays."""
        self._place(z)
        self._refresh()

    def random_code(self) -> torch.Tensor:
        """Draw a new z ~ N(0, I) (from the widget's seeded stream), show it and return it."""
        z = torch.randn(self.latent_dim, generator=self._rng)
        self.set_code(z)
        return z

    # -- the pictures ----------------------------------------------------------------------
    @torch.no_grad()
    def _generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        try:
            images = self.generator_fn(z.to(self.device), labels.to(self.device))
        except (RuntimeError, ValueError) as err:
            if "device" not in str(err):
                raise
            raise ValueError(
                f"generator_fn failed on codes on {self.device}: {err}\nGive the widget the "
                "device your model is on: device=next(G.parameters()).device"
            ) from err
        if (
            not isinstance(images, torch.Tensor)
            or images.ndim != 4
            or len(images) != len(z)
            or images.shape[1] != 1
        ):
            raise ValueError(
                f"generator_fn must return {len(z)} grey images (B, 1, H, W) in [0, 1]; got "
                f"{getattr(images, 'shape', type(images).__name__)}. For a tanh GAN: "
                "generator_fn=lambda z, c: (G(z, c) + 1) / 2"
            )
        images = images.detach().float().cpu()
        lo, hi = images.min().item(), images.max().item()
        if lo < -1e-3 or hi > 1 + 1e-3:
            hint = " (a tanh generator: use (G(z, c) + 1) / 2)" if lo >= -1 and hi <= 1 else ""
            raise ValueError(
                f"generator_fn must return images in [0, 1], got values in [{lo:.3g}, {hi:.3g}]"
                f"{hint}"
            )
        return images

    def _refresh(self) -> None:
        k = self.num_classes
        # One call: the chosen class first, then every class with the same code.
        labels = torch.cat([torch.tensor([self.digit.value]), torch.arange(k)])
        images = self._generate(self.code.unsqueeze(0).expand(k + 1, -1), labels)
        self.image = images[0, 0].numpy()
        self.strip = image_grid(images[1:], nrow=k)
        self.image_widget.value = png_bytes(self.image, self.scale)
        self.strip_widget.value = png_bytes(self.strip, max(1, self.scale // 2))
        self.caption.value = (
            f"<b>the same z in every class</b> (class {self.digit.label} shown above): "
            "z sets the style, c the class"
        )
        self.renders += 1

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# --- chapter 07: stepping a cGML latent code ---------------------------------------------


class LatentStepper(_CodeSliders):
    """Pick a condition and a start code z_0, then step z with cGML's latent-update network Z
    and watch the output converge; the left panel shows the path of z in the plane of its
    first two entries, over a map of which mode G gives there (when ``classify`` is given).

    encoder, generator, updater: H, G and Z (eval mode), e.g. from
        ``course_lib.recipes.cgml.build_networks``.
    conditions: (N, ...) the conditions to pick from (the toy's x, or digits).
    classify: outputs (B, ...) -> (B,) int mode index (-1 for none), for the map and caption;
        e.g. ``lambda y: cgml.toy_on_mode(y, x_of_the_condition)`` is built for you by
        ``mode_fn``: (outputs, condition (1, ...)) -> (B,) int.
    mode_names: the names of the modes in the map's legend.
    limit: the half-width of the latent square shown and of the start sliders.

    Drive it from Python: ``stepper.condition.value = 3``, ``stepper.sliders[0].value = 0.5``
    (the start code), ``stepper.step(4)`` or ``stepper.step_button.click()``,
    ``stepper.correction.value = False``, ``stepper.reset()``; read ``stepper.path``
    ((t + 1, d) codes), ``stepper.output`` (G at the last code), ``stepper.image`` (the
    rendered (H, W, 3) picture) and ``stepper.image_widget.value`` (PNG bytes).
    """

    def __init__(
        self,
        encoder,
        generator,
        updater,
        conditions: torch.Tensor,
        mode_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        mode_names: list[str] | None = None,
        start: torch.Tensor | None = None,
        limit: float = 3.0,
        grid: int = 41,
        figsize: tuple[float, float] = (9.0, 3.8),
        dpi: int = 80,
    ):
        for name, net in (("encoder", encoder), ("generator", generator), ("updater", updater)):
            if not callable(net):
                raise ValueError(f"{name} must be a network (callable), got {type(net).__name__}")
        latent_dim = getattr(generator, "latent_dim", None)
        if not isinstance(latent_dim, int) or latent_dim < 2:
            raise ValueError(
                "the generator must have latent_dim >= 2 (the path is drawn in the plane of "
                f"z's first two entries), got {latent_dim!r}"
            )
        if not isinstance(conditions, torch.Tensor) or conditions.ndim < 2 or not len(conditions):
            raise ValueError(
                "conditions must be a (N, ...) tensor of conditions, e.g. x[:10] for the toy "
                "(shape (10, 1)) or digits (10, 1, 28, 28)"
            )
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not limit > 0:
            raise ValueError(f"limit must be a number > 0, got {limit!r}")
        if not isinstance(grid, int) or isinstance(grid, bool) or grid < 2:
            raise ValueError(f"grid must be an int >= 2, got {grid!r}")
        self.encoder, self.generator, self.updater = encoder, generator, updater
        self.device = next(generator.parameters()).device
        self.conditions = conditions.to(self.device)
        self.mode_fn, self.mode_names = mode_fn, mode_names
        self.latent_dim, self.limit, self.grid = latent_dim, float(limit), grid
        self.figsize, self.dpi = figsize, dpi
        if start is None:
            start = torch.zeros(latent_dim)
        if not isinstance(start, torch.Tensor) or start.numel() != latent_dim:
            got = tuple(start.shape) if isinstance(start, torch.Tensor) else type(start).__name__
            raise ValueError(f"start must be a tensor of {latent_dim} entries, got {got}")
        self.code = start.detach().float().cpu().reshape(latent_dim).clone()
        self.dims = [0, 1]
        self.path = self.code[None].clone()
        self.output = torch.zeros(0)
        self.renders = 0
        self._map: np.ndarray | None = None
        self._map_for: int | None = None

        self.image: np.ndarray = np.zeros((1, 1, 3))
        self.image_widget = W.Image(format="png")
        self.caption = W.HTML()
        self.condition = W.IntSlider(
            value=0,
            min=0,
            max=len(conditions) - 1,
            description="condition",
            continuous_update=False,
            layout=W.Layout(width="320px"),
        )
        self.condition.observe(lambda _: self.reset(), names="value")
        self._make_sliders(limit)
        for slider in self.sliders:
            slider.description = f"z₀[{slider.description[2:-1]}]"
            slider.continuous_update = False
        self.correction = W.Checkbox(value=True, description="ρ correction")
        self.correction.observe(lambda _: self.reset(), names="value")
        self.step_button = W.Button(description="step", icon="step-forward")
        self.step_button.on_click(lambda _: self.step())
        self.run_button = W.Button(description="8 steps", icon="forward")
        self.run_button.on_click(lambda _: self.step(8))
        self.reset_button = W.Button(description="reset", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())
        controls = W.VBox(
            [
                self.condition,
                *self.sliders,
                self.correction,
                W.HBox([self.step_button, self.run_button, self.reset_button]),
            ]
        )
        self.widget = W.VBox([W.HBox([controls, self.caption]), self.image_widget])
        self._syncing = False
        self._refresh()

    # -- the walk ----------------------------------------------------------------------------
    def _h(self) -> torch.Tensor:
        return self.encoder(self.conditions[self.condition.value : self.condition.value + 1])

    @torch.no_grad()
    def step(self, n: int = 1) -> torch.Tensor:
        """Take ``n`` steps of Z from the current code; returns the new code."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        from .recipes.cgml import inference_update

        h = self._h()
        z = self.path[-1:].to(self.device)
        new = []
        for _ in range(n):
            z_hat, rho_hat = self.updater(h, z)
            z = inference_update(z, z_hat, rho_hat) if self.correction.value else z_hat
            new.append(z[0].cpu())
        self.path = torch.cat([self.path, torch.stack(new)])
        self._draw()
        return self.path[-1].clone()

    def reset(self) -> None:
        """Back to the start code (the sliders' z_0), for the current condition."""
        self.path = self.code[None].clone()
        self._draw()

    def set_start(self, z: torch.Tensor) -> None:
        """Start again from code z (latent_dim entries); the sliders follow."""
        self._place(z)
        self.reset()

    def _refresh(self) -> None:  # a start slider moved
        self.reset()

    # -- the picture ---------------------------------------------------------------------------
    @torch.no_grad()
    def _mode_map(self) -> np.ndarray | None:
        """Which mode G gives on a grid of the (z0, z1) plane (other entries as the start)."""
        if self.mode_fn is None:
            return None
        if self._map_for == self.condition.value and self._map is not None:
            return self._map
        axis = torch.linspace(-self.limit, self.limit, self.grid)
        zz = self.code.repeat(self.grid * self.grid, 1)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        zz[:, 0], zz[:, 1] = gx.reshape(-1), gy.reshape(-1)
        h = self._h().expand(len(zz), -1)
        outputs = self.generator(h, zz.to(self.device))
        cond = self.conditions[self.condition.value : self.condition.value + 1]
        modes = self.mode_fn(outputs, cond).reshape(self.grid, self.grid).cpu().numpy()
        self._map, self._map_for = modes, self.condition.value
        return modes

    @torch.no_grad()
    def _draw(self) -> None:
        h = self._h()
        self.output = self.generator(h, self.path[-1:].to(self.device))[0].detach().cpu()
        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        canvas = FigureCanvasAgg(fig)
        ax_z, ax_y = fig.subplots(1, 2)
        modes = self._mode_map()
        if modes is not None:
            colours = np.array([[0.85, 0.85, 0.85], [0.62, 0.79, 0.95], [0.98, 0.75, 0.55]])
            ax_z.imshow(
                colours[modes + 1],
                origin="lower",
                extent=(-self.limit, self.limit, -self.limit, self.limit),
                interpolation="nearest",
            )
        path = self.path.numpy()
        ax_z.plot(path[:, 0], path[:, 1], "-o", color="k", ms=3, lw=1)
        ax_z.plot(path[:1, 0], path[:1, 1], "s", color="C2", ms=7, label="z₀")
        ax_z.plot(path[-1:, 0], path[-1:, 1], "*", color="C3", ms=12, label=f"z_{len(path) - 1}")
        ax_z.set_xlim(-self.limit, self.limit)
        ax_z.set_ylim(-self.limit, self.limit)
        ax_z.set_xlabel("z[0]")
        ax_z.set_ylabel("z[1]")
        ax_z.legend(loc="upper right", fontsize=8)
        title = "path of z" + (" (map: grey none" if modes is not None else "")
        if modes is not None and self.mode_names:
            title += ", blue " + self.mode_names[0]
            if len(self.mode_names) > 1:
                title += ", orange " + self.mode_names[1]
        ax_z.set_title(title + (")" if modes is not None else ""), fontsize=9)
        out = self.output
        if out.ndim == 3:  # an image (C, H, W)
            ax_y.imshow(out[0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax_y.set_axis_off()
        else:
            ax_y.bar(np.arange(out.numel()), out.reshape(-1).numpy(), color="C0")
            ax_y.axhline(0, color="k", lw=0.5)
            ax_y.set_xlabel("entry of the output")
        verdict = ""
        if self.mode_fn is not None:
            cond = self.conditions[self.condition.value : self.condition.value + 1]
            mode = int(self.mode_fn(self.output[None].to(self.device), cond)[0])
            names = self.mode_names or []
            verdict = "no mode" if mode < 0 else (names[mode] if mode < len(names) else str(mode))
        ax_y.set_title(f"G(H(x), z_{len(path) - 1})" + (f": {verdict}" if verdict else ""))
        fig.tight_layout()
        canvas.draw()
        self.image = np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float64) / 255.0
        self.image_widget.value = png_bytes(self.image, scale=1)
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1) if len(path) > 1 else np.zeros(0)
        last = f"{steps[-1]:.3f}" if len(steps) else "–"
        self.caption.value = (
            f"condition {self.condition.value}, {len(path) - 1} steps "
            f"({'with' if self.correction.value else 'without'} the ρ correction); "
            f"last step length {last}" + (f"; output: <b>{verdict}</b>" if verdict else "")
        )
        self.renders += 1

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
