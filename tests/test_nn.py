"""The layers: shapes, arguments, initialisation, and area attention against a plainly written reference."""

from __future__ import annotations

import math

import pytest
import torch

from ultra_yolov12.nn import LAYOUTS, A2C2f, AAttn, ABlock


def naive_area_attention(m: AAttn, x: torch.Tensor) -> torch.Tensor:
    """AAttn written out step by step: per image, per strip, per head, softmax(q k^T / sqrt(d)) v."""
    b, c, h, w = x.shape
    heads, d, area = m.num_heads, c // m.num_heads, m.area
    if hasattr(m, "qkv"):
        qkv = m.qkv(x).reshape(b, heads, 3 * d, h * w)  # per head: d channels of q, then k, then v
        q, k, v = qkv[:, :, :d], qkv[:, :, d : 2 * d], qkv[:, :, 2 * d :]
        v_img = v.reshape(b, c, h, w)
    else:
        qk = m.qk(x).reshape(b, 2 * c, h * w)
        q, k = qk[:, :c].reshape(b, heads, d, h * w), qk[:, c:].reshape(b, heads, d, h * w)
        v_img = m.v(x)
        v = v_img.reshape(b, heads, d, h * w)
    out = torch.zeros(b, heads, d, h * w)
    strip = h * w // area
    for i in range(b):
        for s in range(area):
            t = slice(s * strip, (s + 1) * strip)
            for j in range(heads):
                qi, ki, vi = q[i, j, :, t].T, k[i, j, :, t].T, v[i, j, :, t].T  # (tokens, d)
                scores = qi @ ki.T / math.sqrt(d)
                weights = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
                weights = weights / weights.sum(dim=1, keepdim=True)
                out[i, j, :, t] = (weights @ vi).T
    return m.proj(out.reshape(b, c, h, w) + m.pe(v_img))


def randomize_bn(module: torch.nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics so that eval-mode outputs exercise them."""
    g = torch.Generator().manual_seed(0)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.weight.data.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.bias.data.copy_(torch.randn(bn.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("area,size", [(1, (6, 5)), (4, (8, 8)), (2, (5, 6))])
def test_aattn_matches_naive_reference(layout, area, size):
    torch.manual_seed(0)
    m = AAttn(64, num_heads=2, area=area, layout=layout).eval()
    randomize_bn(m)
    x = torch.randn(2, 64, *size)
    with torch.no_grad():
        y = m(x)
        ref = naive_area_attention(m, x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layout,names,kernel,bias",
    [
        ("v1.0", {"qkv", "proj", "pe"}, 7, True),
        ("ultralytics", {"qkv", "proj", "pe"}, 7, False),
        ("turbo", {"qk", "v", "proj", "pe"}, 5, False),
    ],
)
def test_aattn_layouts_have_the_checkpoint_attribute_names(layout, names, kernel, bias):
    m = AAttn(64, num_heads=2, area=4, layout=layout)
    assert set(m._modules) == names
    assert m.pe.conv.kernel_size == (kernel, kernel) and m.pe.conv.groups == 64
    assert (m.pe.conv.bias is not None) is bias
    assert (m.num_heads, m.head_dim, m.area) == (2, 32, 4)


def test_strips_are_horizontal():
    """Attention never crosses strips: changing the bottom half of the input leaves the top strip's attention alone."""
    torch.manual_seed(0)
    m = AAttn(32, num_heads=1, area=2, layout="turbo").eval()
    m.pe = torch.nn.Identity()  # the depthwise conv would leak across the border; isolate the attention
    x = torch.randn(1, 32, 8, 8)
    x2 = x.clone()
    x2[:, :, 4:] = torch.randn(1, 32, 4, 8)
    with torch.no_grad():
        y, y2 = m(x), m(x2)
    torch.testing.assert_close(y[:, :, :4], y2[:, :, :4])
    assert not torch.allclose(y[:, :, 4:], y2[:, :, 4:])


def test_indivisible_token_count_is_a_clear_error():
    m = AAttn(32, num_heads=1, area=4)
    with pytest.raises(ValueError, match="cannot be cut into area=4"):
        m(torch.randn(1, 32, 5, 5))


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(dim=48, num_heads=5), "multiple of num_heads"), (dict(dim=32, num_heads=1, area=0), "positive integer")],
)
def test_aattn_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AAttn(**kwargs)


def test_aattn_unknown_layout_lists_the_known_ones():
    with pytest.raises(ValueError, match="v1.0, ultralytics, turbo"):
        AAttn(32, 1, layout="v2")


def test_a2c2f_width_not_multiple_of_32_is_a_value_error():
    with pytest.raises(ValueError, match=r"int\(c2\*e\)=48 must be a positive multiple of 32"):
        A2C2f(96, 96, n=1, a2=True, area=4)
    A2C2f(96, 96, n=1, a2=False)  # C3k stages have no heads: any width works


def test_ablock_init_and_shape():
    torch.manual_seed(0)
    b = ABlock(128, num_heads=4, mlp_ratio=2.0, area=4)
    assert b.mlp[0].conv.out_channels == 256 and b.mlp[1].conv.out_channels == 128
    w = torch.cat([m.weight.flatten() for m in b.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.001
    assert torch.count_nonzero(b.attn.pe.conv.bias) == 0
    assert b(torch.randn(2, 128, 8, 8)).shape == (2, 128, 8, 8)


def test_a2c2f_structure_and_scaled_residual():
    torch.manual_seed(0)
    m = A2C2f(128, 128, n=2, a2=True, area=4, residual=True, mlp_ratio=1.2).eval()
    assert len(m.m) == 2 and all(len(stage) == 2 and isinstance(stage[0], ABlock) for stage in m.m)
    assert m.cv1.conv.out_channels == 64 and m.cv2.conv.in_channels == 3 * 64
    assert m.m[0][0].attn.num_heads == 2 and m.m[0][0].mlp[0].conv.out_channels == int(64 * 1.2)
    torch.testing.assert_close(m.gamma.data, torch.full((128,), 0.01))
    x = torch.randn(1, 128, 8, 8)
    with torch.no_grad():
        y = [m.cv1(x)]
        for stage in m.m:
            y.append(stage(y[-1]))
        expected = x + 0.01 * m.cv2(torch.cat(y, 1))
        torch.testing.assert_close(m(x), expected)
    plain = A2C2f(64, 128, n=1, a2=False)
    assert plain.gamma is None and type(plain.m[0]).__name__ == "C3k"


def fuse_convs(module: torch.nn.Module) -> torch.nn.Module:
    """Fold each Ultralytics ``Conv``'s BatchNorm into its conv, bn deleted, ``forward_fuse``: as ``model.fuse()``."""
    from ultralytics.nn.modules.conv import Conv
    from ultralytics.utils.torch_utils import fuse_conv_and_bn

    for c in module.modules():
        if isinstance(c, Conv):
            c.conv = fuse_conv_and_bn(c.conv, c.bn)
            del c.bn
            c.forward = c.forward_fuse
    return module


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("residual", [False, True])
def test_a2c2f_inference_path_equals_autograd_path(fused, residual):
    """Inference adds and activates in place; it equals the out-of-place path and leaves the input untouched."""
    from ultra_yolov12.benchmark import lively

    torch.manual_seed(0)
    m = lively(A2C2f(64, 64, 2, True, 4, residual, 1.2)).eval()
    if fused:
        fuse_convs(m)
    x = torch.randn(2, 64, 16, 16)
    x0 = x.clone()
    with torch.enable_grad():
        expected = m(x.requires_grad_(False))
    with torch.inference_mode():
        y = m(x)
    assert torch.equal(x, x0)
    assert torch.allclose(y, expected, rtol=1e-5, atol=1e-5), (y - expected).abs().max()
    assert y.is_contiguous()  # NCHW in, NCHW out


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fused_aattn_copies_and_pickles_in_its_layout(layout):
    """After Ultralytics' fuse() every conv has a bias; copies (export deep-copies a model predict fused) keep the
    layout and the outputs."""
    import copy
    import pickle

    m = fuse_convs(AAttn(64, num_heads=2, area=4, layout=layout).eval())
    x = torch.randn(1, 64, 8, 8)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone.layout == layout
        assert torch.equal(clone(x), m(x))
