"""torch.compile: the plugin's attention modules trace into one graph (no graph breaks), inference and training."""

from __future__ import annotations

import pytest
import torch

from ultra_yolov12.nn import A2C2f

dynamo = pytest.importorskip("torch._dynamo", reason="torch.compile needs torch >= 2.0")


@pytest.mark.parametrize("layout", ["v1.0", "turbo"])
def test_a2c2f_compiles_without_graph_breaks(layout):
    torch.manual_seed(0)
    m = A2C2f(64, 64, n=1, a2=True, area=4, residual=True, layout=layout)
    x = torch.randn(1, 64, 16, 16)

    dynamo.reset()
    m.eval()
    with torch.no_grad():
        e = dynamo.explain(m)(x)
        assert e.graph_break_count == 0, [str(b.reason) for b in e.break_reasons]
        assert e.graph_count == 1
        compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), m(x), rtol=1e-5, atol=1e-6)

    dynamo.reset()
    m.train()
    xt = x.clone().requires_grad_()
    e = dynamo.explain(m)(xt)
    assert e.graph_break_count == 0, [str(b.reason) for b in e.break_reasons]
    assert e.graph_count == 1
    # training: the compiled forward + backward gives the eager gradients (fullgraph=True raises on any break)
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    grads = []
    for f in (m, compiled):
        m.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        f(xi).square().sum().backward()
        grads.append([xi.grad] + [p.grad for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
