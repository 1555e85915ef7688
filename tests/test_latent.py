import math

import pytest
import torch

from course_lib.latent import interpolate, slerp


def test_slerp_keeps_the_norm_between_orthogonal_unit_vectors():
    z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = slerp(z0, z1, 0.5)
    torch.testing.assert_close(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]))
    path = interpolate(z0, z1, 5, "slerp")
    torch.testing.assert_close(path.norm(dim=1), torch.ones(5))
    assert interpolate(z0, z1, 5, "linear")[2].norm() == pytest.approx(math.sqrt(0.5))


def test_interpolate_endpoints_and_errors():
    z0, z1 = torch.randn(3), torch.randn(3)
    path = interpolate(z0, z1, 4)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    with pytest.raises(ValueError, match="steps"):
        interpolate(z0, z1, 1)
    with pytest.raises(ValueError, match="method"):
        interpolate(z0, z1, 3, "cubic")
