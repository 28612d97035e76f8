"""Attention backends: equal results forward and backward, the automatic choice, forcing one, and export safety."""

from __future__ import annotations

import os

import pytest
import torch
from torch.profiler import profile
from ultralytics.nn.modules import block as ultralytics_blocks

import ultra_yolov12
from ultra_yolov12.benchmark import lively
from ultra_yolov12.nn import LAYOUTS, A2C2f, AAttn, ABlock
from ultra_yolov12.nn import backends as B

FLASH_OK, FLASH_WHY = B.flash_status() if torch.cuda.is_available() else (False, "no CUDA device")
DEVICE = "cuda" if FLASH_OK else "cpu"
FUSED = ["sdpa"] + (["flash"] if FLASH_OK else [])  # compared with "eager", the reference
SDPA_KERNEL = "aten::scaled_dot_product_attention"


@pytest.fixture(autouse=True)
def _auto_backend(monkeypatch):
    """Every test starts from the automatic choice, whatever the environment says."""
    monkeypatch.delenv(B.ENV_VAR, raising=False)
    B.set_backend(None)
    yield
    B.set_backend(None)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str, scale: float | None = None):
    """``max|actual - expected| <= rtol * max|expected|`` (or ``rtol * scale``), reporting the largest difference."""
    ref = scale if scale is not None else expected.abs().max().item()
    diff = (actual.float() - expected.float()).abs().max().item()
    assert diff <= rtol * max(ref, 1e-12), f"{what}: max abs diff {diff:.3g} > {rtol:g} x {ref:.3g}"


def run(module: torch.nn.Module, x: torch.Tensor, backend: str, grad_out: torch.Tensor | None = None):
    """Forward and backward with ``backend`` forced; returns output, input gradient and parameter gradients."""
    module.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    B.set_backend(backend)
    try:
        y = module(x)
        y.backward(grad_out if grad_out is not None else torch.ones_like(y))
    finally:
        B.set_backend(None)
    return y.detach(), x.grad, {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def assert_same_run(got, ref, rtol: float, label: str):
    y, dx, grads = got
    y0, dx0, grads0 = ref
    assert_close(y, y0, rtol, f"{label} output")
    assert_close(dx, dx0, rtol, f"{label} input gradient")
    assert grads.keys() == grads0.keys()
    scale = max(g.abs().max().item() for g in grads0.values())  # some BN-bias gradients are ~0 by symmetry
    for name in grads0:
        assert_close(grads[name], grads0[name], rtol, f"{label} grad {name}", scale=scale)


# --- equal results -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("area,batch,size", [(1, 1, (5, 7)), (2, 3, (6, 5)), (4, 2, (4, 9)), (4, 8, (8, 8))])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_backends_agree_forward_and_backward(layout, area, batch, size, channels_last):
    torch.manual_seed(0)
    m = lively(AAttn(64, num_heads=2, area=area, layout=layout)).to(DEVICE).train()
    x = torch.randn(batch, 64, *size, device=DEVICE)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(batch, 64, *size, device=DEVICE)
    ref = run(m, x, "eager", g)
    for backend in FUSED:
        if backend == "flash":
            continue  # fp32 here; flash-attn runs in half precision only (see the half-precision tests)
        got = run(m, x, backend, g)
        assert_same_run(got, ref, 1e-5, f"{backend} vs eager ({layout}, area {area}, batch {batch}, {size})")
        assert got[0].is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("batch,tokens,heads", [(1, 49, 2), (4, 100, 1)])
def test_half_precision_backends_agree_forward_and_backward(dtype, batch, tokens, heads):
    """fp16/bf16 attention of every backend against the same computation in float64 (1e-2)."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(batch, tokens, heads, 3 * 32, generator=g, dtype=torch.float64) * 0.8
    grad_out = torch.randn(batch, tokens, heads, 32, generator=g, dtype=torch.float64)

    def grads(backend, device, dt):
        b = base.to(device, dt).detach().requires_grad_()
        q, k, v = b.split(32, dim=-1)  # strided views, as AAttn passes them
        y = B.eager_attention(q, k, v) if backend == "float64" else B.attend(q, k, v, backend)
        y.backward(grad_out.to(device, dt))
        return y.detach().double().cpu(), b.grad.double().cpu()

    y64, g64 = grads("float64", "cpu", torch.float64)
    backends = ["eager", "sdpa"] + (["flash"] if FLASH_OK else [])
    for backend in backends:
        y, gb = grads(backend, DEVICE, dtype)
        assert_close(y, y64, 1e-2, f"{backend} {dtype} output")
        assert_close(gb, g64, 1e-2, f"{backend} {dtype} q/k/v gradient")


@pytest.mark.skipif(
    not hasattr(ultralytics_blocks, "A2C2f"), reason="this Ultralytics release has no built-in YOLO12 (added in 8.3.78)"
)
@pytest.mark.parametrize("area,residual,channels_last", [(4, False, False), (1, True, True), (2, True, False)])
def test_equal_to_ultralytics_yolo12_blocks(area, residual, channels_last):
    """Same weights as Ultralytics' built-in A2C2f: same output and gradients, training and fused inference."""
    torch.manual_seed(0)
    builtin = lively(ultralytics_blocks.A2C2f(128, 128, 2, True, area, residual, 1.2)).train()
    plugin = A2C2f(128, 128, 2, True, area, residual, 1.2, layout="ultralytics").train()
    plugin.load_state_dict(builtin.state_dict())
    assert sum(p.numel() for p in plugin.parameters()) == sum(p.numel() for p in builtin.parameters())
    x = torch.randn(2, 128, 8, 12)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 128, 8, 12)
    ref = run(builtin, x, "auto", g)
    for backend in ["eager", *FUSED[:1]]:
        assert_same_run(run(plugin, x, backend, g), ref, 1e-5, f"{backend} vs Ultralytics A2C2f")
    plugin.load_state_dict(builtin.state_dict())  # training runs moved the BatchNorm statistics differently often
    builtin.eval(), plugin.eval()
    for backend in ["eager", "sdpa"]:  # inference takes the in-place path
        B.set_backend(backend)
        with torch.inference_mode():
            assert_close(plugin(x), builtin(x), 1e-5, f"{backend} inference vs Ultralytics A2C2f")


def test_indivisible_token_count_is_a_clear_error_for_every_backend():
    m = AAttn(32, num_heads=1, area=4)
    for backend in ["eager", *FUSED]:
        B.set_backend(backend)
        with pytest.raises(ValueError, match=r"5x5=25 tokens cannot be cut into area=4 equal strips"):
            m(torch.randn(1, 32, 5, 5))
    with pytest.raises(ValueError, match="cannot be cut into area=4"):
        ABlock(32, 1, 2.0, area=4)(torch.randn(1, 32, 3, 5))


# --- which backend runs ---------------------------------------------------------------------------------------------


def kernels(module: torch.nn.Module, x: torch.Tensor) -> set:
    """Names of the aten ops a forward pass ran (what really executed, not what was asked for)."""
    with profile() as prof:
        module(x)
    return {e.key for e in prof.key_averages()}


def test_automatic_choice_on_cpu_and_what_really_runs():
    m = AAttn(64, num_heads=2, area=4).eval()
    x = torch.randn(1, 64, 8, 8)
    assert B.choose("cpu", torch.float32)[0] == "sdpa"
    assert B.choose("cpu", torch.float32, training=True)[0] == "sdpa"
    assert B.choose("cpu", torch.bfloat16, training=True)[0] == "eager"
    with torch.no_grad():
        assert SDPA_KERNEL in kernels(m, x)
        m.backend = "eager"  # a module's own choice beats the global one
        assert SDPA_KERNEL not in kernels(m, x) and "aten::softmax" in kernels(m, x)


def test_cuda_rule_and_flash_explanation():
    name, why = B.choose("cuda", torch.float16)
    if FLASH_OK:
        assert name == "flash"
    else:
        assert name == "sdpa" and "flash-attn unusable" in why
    assert B.choose("cuda", torch.float32)[0] == "sdpa"
    usable, reason = B.flash_status()
    assert isinstance(usable, bool) and reason
    if not usable:
        with pytest.raises(RuntimeError, match="'flash' was forced but cannot run"):
            B.choose("cpu" if not torch.cuda.is_available() else "cuda", torch.float16, backend="flash")


def test_forcing_by_environment_variable_and_api(monkeypatch):
    x = torch.randn(1, 64, 8, 8)
    m = AAttn(64, num_heads=2, area=1).eval()
    monkeypatch.setenv(B.ENV_VAR, "eager")
    assert ultra_yolov12.get_backend() == "eager"
    with torch.no_grad():
        assert SDPA_KERNEL not in kernels(m, x)
    ultra_yolov12.set_backend("sdpa")  # the API beats the environment
    assert B.choose("cpu", torch.float32) == ("sdpa", f"forced ({B.ENV_VAR} or set_backend)")
    with torch.no_grad():
        assert SDPA_KERNEL in kernels(m, x)
    ultra_yolov12.set_backend(None)
    assert ultra_yolov12.get_backend() == "eager"
    monkeypatch.setenv(B.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match=rf"\${B.ENV_VAR}='fastest': unknown attention backend"):
        B.get_backend()
    with pytest.raises(ValueError, match="choose one of auto, eager, sdpa, flash"):
        ultra_yolov12.set_backend("cudnn")


def test_pickled_module_follows_the_current_setting(tmp_path):
    """``backend`` is saved with the module; None (the default) means whatever this process chooses."""
    m = AAttn(32, num_heads=1, area=2)
    torch.save(m, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert loaded.backend is None and loaded.layout == "v1.0"


# --- export ---------------------------------------------------------------------------------------------------------


def test_tracing_uses_standard_ops_whatever_was_forced():
    torch.manual_seed(0)
    m = lively(A2C2f(64, 64, 1, True, 4, True, 1.2)).eval()
    x = torch.randn(1, 64, 8, 8)
    ultra_yolov12.set_backend("sdpa")
    with torch.no_grad():
        traced = torch.jit.trace(m, x)
        expected = m(x)
    kinds = {n.kind() for n in traced.inlined_graph.nodes()}
    assert "aten::softmax" in kinds and not any("scaled_dot_product" in k or "flash" in k for k in kinds)
    assert_close(traced(x), expected, 1e-5, "traced vs eager module")


@pytest.mark.slow
def test_onnx_export_has_only_standard_ops_and_matches_pytorch(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (extra: export)")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra: export)")
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov12n.yaml")
    lively(model.model)
    ultra_yolov12.set_backend("sdpa")  # export must still come out as standard ops
    f = model.export(format="onnx", imgsz=160, simplify=False, opset=17, project=str(tmp_path))
    graph = onnx.load(f).graph
    domains = {n.domain for n in graph.node}
    assert domains <= {"", "ai.onnx"}, f"custom op domains in the graph: {domains}"
    schema_ok = {n.op_type for n in graph.node if onnx.defs.has(n.op_type)}
    assert schema_ok == {n.op_type for n in graph.node}, "ops without a standard ONNX schema"
    assert {"MatMul", "Softmax"} <= schema_ok
    x = torch.rand(1, 3, 160, 160)
    with torch.no_grad():
        expected = model.model.eval()(x)[0].numpy()
    sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == expected.shape == (1, 84, 525)
    assert_close(torch.from_numpy(got), torch.from_numpy(expected), 1e-4, "ONNX Runtime vs PyTorch")


# --- checks ---------------------------------------------------------------------------------------------------------


def test_checks_reports_versions_backends_and_flash():
    import logging

    from ultralytics.utils import LOGGER

    from ultra_yolov12.checks import checks

    lines = []  # Ultralytics' LOGGER does not propagate and its handler holds the stdout of its first use
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    LOGGER.addHandler(handler)
    try:
        report = checks(verbose=True)
    finally:
        LOGGER.removeHandler(handler)
    assert report["versions"]["ultra-yolov12"] == ultra_yolov12.__version__
    assert report["versions"]["torch"] == __import__("importlib.metadata").metadata.version("torch")
    assert report["device"]["cpu_count"] == os.cpu_count() and report["device"]["cpu"]
    assert report["requested"] == {"backend": "auto", "source": "default"}
    assert report["flash_attn"]["usable"] is FLASH_OK and report["flash_attn"]["reason"]
    cases = {(c["stage"], c["batch"], c["device"], c["dtype"], c["mode"]): c for c in report["cases"]}
    p4 = cases[("P4", 1, "cpu", "float32", "inference")]
    assert (p4["area"], p4["tokens"], p4["heads"], p4["head_dim"], p4["backend"]) == (4, 400, 2, 32, "sdpa")
    p5 = cases[("P5", 8, "cpu", "float32", "training")]
    assert (p5["area"], p5["tokens"], p5["heads"], p5["backend"]) == (1, 400, 4, "sdpa")
    assert cases[("P4", 8, "cuda", "float16", "inference")]["backend"] == ("flash" if FLASH_OK else "sdpa")
    text = "\n".join(lines)
    assert f"flash-attn  {'usable' if FLASH_OK else 'unusable'}: {report['flash_attn']['reason']}" in text
    assert "yolov12n P4 area 4, cpu float32 inference, batch 8" in text


# --- benchmark helpers ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(ultralytics_blocks, "A2C2f"), reason="needs Ultralytics' built-in YOLO12 (>= 8.3.78)")
def test_benchmark_pair_has_the_same_weights_and_outputs():
    from ultra_yolov12.benchmark import compare, interleaved, model_pair

    builtin, plugin = model_pair("n")
    a, b = builtin.model.eval(), plugin.model.eval()
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters()) == 2_602_288
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        ya, yb = a(x)[0], b(x)[0]
    assert ya[:, 4:].std() > 0.01  # lively class scores (fresh weights: ~3e-5), so the comparison means something
    assert_close(yb, ya, 1e-5, "plugin vs built-in yolo12n")
    t = interleaved({"a": lambda: None, "b": lambda: None}, reps=4, warmup=1)
    assert [len(v) for v in t.values()] == [4, 4]
    c = compare([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 1.5, 2.0])
    assert c["ratio"] == 0.5 and c["pair_ratio_range"] == [0.5, 0.5] and c["n"] == 4
