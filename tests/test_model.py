import pytest
import torch
import torch.nn.functional as F
from helpers import SMALL, random_model

from vit_edge.config import TRAINED_MODEL, ViTConfig
from vit_edge.model import MultiHeadSelfAttention, ViT, count_parameters, flops_per_image


def expected_params(c: ViTConfig) -> int:
    linear = lambda i, o: i * o + o  # noqa: E731
    block = 2 * 2 * c.dim + linear(c.dim, 3 * c.dim) + linear(c.dim, c.dim)
    block += linear(c.dim, c.mlp_dim) + linear(c.mlp_dim, c.dim)
    embed = linear(c.patch_dim, c.dim) + c.dim + c.num_tokens * c.dim
    head = 2 * c.dim + linear(c.dim, c.dim) + linear(c.dim, c.num_classes)
    return embed + c.depth * block + head


@pytest.mark.parametrize("cfg", [SMALL, ViTConfig()])
def test_shape_and_parameter_count(cfg: ViTConfig):
    model = ViT(cfg)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(model) == expected_params(cfg)


def test_default_model_size():
    assert count_parameters(ViT(ViTConfig())) == 210_122
    assert flops_per_image(ViTConfig()) == 23_610_624
    # the packaged shape: SPT's wider patch projection (5 x 16 inputs) and LSA's 6 temperatures
    assert count_parameters(ViT(TRAINED_MODEL)) == 210_122 + 4 * 16 * 64 + 6 == 214_224


def test_every_patch_reaches_the_cls_output():
    """No causal mask: changing only the last patch (bottom-right) changes the logits."""
    model = random_model(SMALL)
    x = torch.rand(1, 1, 28, 28)
    y = x.clone()
    y[..., 21:, 21:] = torch.rand(7, 7)
    assert (model(x) - model(y)).abs().max() > 1e-4
    z = x.clone()
    z[..., :7, :7] = torch.rand(7, 7)  # the first patch as well
    assert (model(x) - model(z)).abs().max() > 1e-4


def test_fused_and_explicit_attention_agree():
    model = random_model(SMALL)
    x = torch.rand(4, 1, 28, 28)
    fused = model.set_explicit_attention(False)(x)
    explicit = model.set_explicit_attention(True)(x)
    assert fused.abs().max() > 0.1
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("explicit", [True, None])
def test_attention_gradients_match_the_fused_kernel(explicit):
    """CPU training takes the explicit path (None picks it while gradients flow): same gradients."""
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(SMALL)
    x = torch.randn(3 * SMALL.num_tokens, SMALL.dim, requires_grad=True)

    def run(flag: bool | None) -> tuple[torch.Tensor, ...]:
        attn.explicit, x.grad, attn.qkv.weight.grad = flag, None, None
        out = attn(x)
        out.square().sum().backward()
        return out.detach(), x.grad.clone(), attn.qkv.weight.grad.clone()

    fused, other = run(False), run(explicit)
    assert fused[1].abs().max() > 0.1
    torch.testing.assert_close(other, fused, atol=1e-4, rtol=1e-4)


def test_attention_dropout_acts_only_in_training():
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(ViTConfig(patch_size=7, dim=32, depth=2, heads=4, dropout=0.5))
    x = torch.randn(2 * 17, 32, requires_grad=True)
    assert not torch.equal(attn(x), attn(x))
    attn.eval()
    torch.testing.assert_close(attn(x), attn(x))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ViTConfig(patch_size=5)
    with pytest.raises(ValueError, match="multiple of heads"):
        ViTConfig(dim=30, heads=4)


@pytest.mark.slow
def test_overfits_one_batch():
    torch.manual_seed(0)
    model = ViT(SMALL)
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
