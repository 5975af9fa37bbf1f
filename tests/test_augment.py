import pytest
import torch

from vit_edge.augment import AffineAugment
from vit_edge.config import ViTConfig
from vit_edge.model import DropPath, ViT


def _digits(n: int = 64) -> torch.Tensor:
    """Bars in the middle of a black 28x28 frame, like a centred MNIST stroke."""
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0
    return x


def test_no_augmentation_returns_the_input():
    x = _digits()
    assert AffineAugment(0, 0, 0, 0)(x) is x


def test_augmentation_moves_pixels_keeps_range_and_ink():
    x = _digits()
    for aug in (AffineAugment(10, 0.1, 0.1), AffineAugment(0, 0, 0, elastic=1.0)):
        y = aug(x, generator=torch.Generator().manual_seed(0))
        assert y.shape == x.shape
        assert y.min() >= 0 and y.max() <= 1 + 1e-6
        assert (y - x).abs().amax(dim=(1, 2, 3)).min() > 0.1  # every image changed
        ink = y.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
        assert ink.min() > 0.6 and ink.max() < 1.5  # zoom by up to 10% and resampling; no digit lost


def test_same_generator_state_gives_same_augmentation():
    aug, x = AffineAugment(10, 0.1, 0.1, elastic=1.0), _digits(8)
    a = aug(x, generator=torch.Generator().manual_seed(3))
    b = aug(x, generator=torch.Generator().manual_seed(3))
    c = aug(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("pixels", [0.5, 1.0, 2.0])
def test_elastic_field_has_the_requested_rms_and_is_smooth(pixels: float):
    x = torch.zeros(512, 1, 28, 28)
    field = AffineAugment(0, 0, 0, elastic=pixels).displacement(x, torch.Generator().manual_seed(0))
    assert field.shape == (512, 28, 28, 2)
    in_pixels = field[:, 10:18, 10:18] * 14  # grid units -> pixels, away from the zero-padded border
    assert in_pixels.pow(2).mean().sqrt().item() == pytest.approx(pixels, rel=0.1)
    step = (in_pixels[:, 1:] - in_pixels[:, :-1]).abs().mean()
    assert step < 0.25 * in_pixels.abs().mean()  # neighbours move together (unsmoothed noise: about 1.4)


def test_drop_path_drops_whole_images_and_keeps_the_mean():
    torch.manual_seed(0)
    layer, tokens = DropPath(0.5, tokens=5), 5
    x = torch.ones(2000 * tokens, 3)
    layer.train()
    y = layer(x).view(2000, tokens * 3)
    per_image = y[:, 0]
    assert torch.equal(y, per_image[:, None].expand_as(y))  # all tokens of an image share the fate
    assert set(per_image.unique().tolist()) == {0.0, 2.0}
    assert per_image.mean().item() == pytest.approx(1.0, abs=0.06)
    layer.eval()
    assert layer(x) is x


def test_stochastic_depth_grows_linearly_with_depth_and_is_off_in_eval():
    model = ViT(ViTConfig(patch_size=7, dim=32, depth=3, heads=4, drop_path=0.2))
    assert [b.drop_path.p for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    model.eval()
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x), model(x))
    with pytest.raises(ValueError, match="drop_path"):
        ViTConfig(drop_path=1.0)
