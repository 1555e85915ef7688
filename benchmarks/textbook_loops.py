"""The textbook training loops the speed benchmark compares course_lib against.

Written in the style of pytorch/examples' DCGAN: a torchvision ``DataLoader`` with
``ToTensor`` and ``Normalize`` and worker processes, float32 everywhere, Adam, and the losses
read back with ``.item()`` at every step. The networks are the course's own (logits out, so
``BCEWithLogitsLoss`` stands for pytorch/examples' ``Sigmoid`` + ``BCELoss``).

``fresh_noise=True`` draws new codes for the generator's update, as Goodfellow et al.'s
Algorithm 1 and the course's step do; pytorch/examples reuses the discriminator's fakes
(``fresh_noise=False``), one generator forward pass fewer. With fresh noise and the same
seed, batch and starting weights, these steps compute the course's losses exactly.
"""

from __future__ import annotations

import torch
from torch import nn


def mnist_loader(root, batch_size: int, workers: int = 2, seed: int = 0, normalize=True):
    """MNIST through torchvision with the usual transforms (to [-1, 1], or [0, 1] without
    ``normalize``), shuffled, endless."""
    from torchvision import datasets, transforms

    steps = [transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize((0.5,), (0.5,)))
    dataset = datasets.MNIST(
        root,
        train=True,
        download=False,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]),
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
    while True:
        for images, _ in loader:
            yield images


def gan_step(netG, netD, optG, optD, real: torch.Tensor, fresh_noise: bool = True):
    """One pytorch/examples DCGAN iteration: (1) update D, (2) update G. Returns the losses."""
    device = real.device
    criterion = nn.BCEWithLogitsLoss()
    b = real.size(0)
    # (1) maximise log D(x) + log(1 - D(G(z)))
    noise = torch.randn(b, netG.latent_dim, device=device)
    fake = netG(noise)
    netD.zero_grad()
    label = torch.full((b,), 1.0, device=device)
    errD_real = criterion(netD(real).view(-1), label)
    errD_real.backward()
    label.fill_(0.0)
    errD_fake = criterion(netD(fake.detach()).view(-1), label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    optD.step()
    # (2) maximise log D(G(z))
    if fresh_noise:
        fake = netG(torch.randn(b, netG.latent_dim, device=device))
    netG.zero_grad()
    label.fill_(1.0)
    errG = criterion(netD(fake).view(-1), label)
    errG.backward()
    optG.step()
    return errD.item(), errG.item()


def wgan_gp_step(netG, netD, optG, optD, reals, gp_weight: float = 10.0):
    """One WGAN-GP iteration as Gulrajani et al.'s Algorithm 1: a critic update on each real
    batch of ``reals`` (n_critic of them), then one generator update. Returns the losses."""
    for real in reals:
        device, b = real.device, real.size(0)
        fake = netG(torch.randn(b, netG.latent_dim, device=device)).detach()
        netD.zero_grad()
        critic = netD(fake).mean() - netD(real).mean()
        alpha = torch.rand(b, 1, 1, 1, device=device)
        interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(netD(interp).sum(), interp, create_graph=True)
        penalty = ((grad.view(b, -1).norm(2, dim=1) - 1) ** 2).mean()
        errD = critic + gp_weight * penalty
        errD.backward()
        optD.step()
    netG.zero_grad()
    errG = -netD(netG(torch.randn(b, netG.latent_dim, device=device))).mean()
    errG.backward()
    optG.step()
    return errD.item(), errG.item()


def cgml_step(step, images: torch.Tensor, share: float, generator: torch.Generator):
    """One cGML iteration of chapter 07 on a stroke-MNIST batch made on the host, its losses
    read back at once. cGML has no textbook implementation: the step is the course's
    (``course_lib.recipes.cgml.make_cgml_step``); what is textbook here is the loop around it."""
    from course_lib.data import stroke_targets

    targets, _ = stroke_targets(images, share, generator)
    losses = step(images, targets)
    return {name: value.item() for name, value in losses.items()}
