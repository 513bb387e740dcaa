"""Tests of the ONNX reader: the real int8 MiniLM export, and small synthetic graphs.

The synthetic models below are built with ``onnx.helper`` in the test itself (no real network); their
expected values are computed with explicit per-element loops, not with the broadcasting the reader
uses, so a scale applied on the wrong axis shows up as a wrong value, not only as a lower cosine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modeltrace.errors import ModelFileError
from modeltrace.weights.onnx_reader import OnnxSource

RNG = np.random.default_rng(0)

# --- helpers for synthetic graphs -----------------------------------------------------------------


def _init(name: str, array: npt.NDArray[np.generic]) -> TensorProto:
    return numpy_helper.from_array(array, name)


def _model(
    nodes: Sequence[onnx.NodeProto],
    inits: Sequence[TensorProto],
    inputs: Sequence[tuple[str, int, list[int | str]]] = (("x", TensorProto.FLOAT, ["n", 4]),),
    outputs: Sequence[str] = ("y",),
    opset: int = 17,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes),
        "synthetic",
        [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=list(inits),
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="synthetic")
    model.ir_version = 10
    return model


def _save(model: onnx.ModelProto, folder: Path, name: str = "model.onnx") -> Path:
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def _open(model: onnx.ModelProto, folder: Path) -> OnnxSource:
    return OnnxSource(_save(model, folder))


def _fails(path: Path, *words: str) -> str:
    with pytest.raises(ModelFileError) as caught:
        OnnxSource(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, message
    return message


# --- synthetic: layouts and names -----------------------------------------------------------------


def test_synthetic_gemm_layout_follows_transb(tmp_path: Path) -> None:
    """Synthetic: Gemm with transB=1 keeps the stored [out, in]; transB=0 stores [in, out] -> transposed."""
    w_out_in = RNG.standard_normal((3, 4)).astype(np.float32)
    w_in_out = RNG.standard_normal((4, 5)).astype(np.float32)
    model = _model(
        [
            helper.make_node("Gemm", ["x", "anon_a", "inner.encoder.fc_a.bias"], ["h"], transB=1),
            helper.make_node("Gemm", ["x", "anon_b", "inner.pooler.dense.bias"], ["y"], transB=0),
        ],
        [
            _init("anon_a", w_out_in),
            _init("inner.encoder.fc_a.bias", np.zeros(3, np.float32)),
            _init("anon_b", w_in_out),
            _init("inner.pooler.dense.bias", np.ones(5, np.float32)),
        ],
    )
    source = _open(model, tmp_path)
    assert source.facts.metadata["stripped_prefix"] == "inner."
    assert [i.name for i in source.infos()] == [
        "encoder.fc_a.weight", "encoder.fc_a.bias", "pooler.dense.weight", "pooler.dense.bias",
    ]
    assert source.info("encoder.fc_a.weight").shape == (3, 4)
    assert source.info("pooler.dense.weight").shape == (5, 4)
    np.testing.assert_array_equal(source.read("encoder.fc_a.weight"), w_out_in)
    np.testing.assert_array_equal(source.read("pooler.dense.weight"), w_in_out.T)
    assert source.read("pooler.dense.weight").flags.c_contiguous
    np.testing.assert_array_equal(source.read("pooler.dense.bias"), np.ones(5, np.float32))
    assert bytes(source.raw("pooler.dense.weight")) == w_in_out.tobytes()


def test_synthetic_anonymous_matmul_is_named_by_its_bias_and_weight_names_are_checked(tmp_path: Path) -> None:
    """Synthetic: MatMul(x, onnx::MatMul_7) -> Add(bias) is named from the bias and transposed; a MatMul
    input already called ``*.weight`` is still transposed, because the graph (not the name) says [in, out]."""
    w = RNG.standard_normal((4, 6)).astype(np.float32)
    head = RNG.standard_normal((6, 2)).astype(np.float32)
    model = _model(
        [
            helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["mm"]),
            helper.make_node("Add", ["enc.layer.0.dense.bias", "mm"], ["h"]),  # bias first: order-free
            helper.make_node("MatMul", ["h", "head.weight"], ["y"]),
        ],
        [
            _init("onnx::MatMul_7", w),
            _init("enc.layer.0.dense.bias", np.arange(6, dtype=np.float32)),
            _init("head.weight", head),
        ],
    )
    source = _open(model, tmp_path)
    names = {i.name: i for i in source.infos()}
    assert set(names) == {"enc.layer.0.dense.weight", "enc.layer.0.dense.bias", "head.weight"}
    assert "stripped_prefix" not in source.facts.metadata  # "enc." and "head." differ
    assert names["enc.layer.0.dense.weight"].shape == (6, 4)
    np.testing.assert_array_equal(source.read("enc.layer.0.dense.weight"), w.T)
    assert names["head.weight"].shape == (2, 6)
    np.testing.assert_array_equal(source.read("head.weight"), head.T)


def test_synthetic_graph_constants_are_skipped_weights_kept(tmp_path: Path) -> None:
    """Synthetic: scalars, int64 shape vectors and id buffers are not listed; LayerNorm gains and
    token-type rows are."""
    model = _model(
        [
            helper.make_node("Mul", ["x", "val_88"], ["s"]),
            helper.make_node("Reshape", ["s", "val_shape"], ["r"]),
            helper.make_node("Gather", ["emb.token_type_embeddings.weight", "ids"], ["t"]),
            helper.make_node("Slice", ["emb.position_ids", "val_0", "val_1"], ["p"]),
            helper.make_node(
                "LayerNormalization", ["r", "emb.LayerNorm.weight", "emb.LayerNorm.bias"], ["y"]
            ),
        ],
        [
            _init("val_88", np.array(0.42, np.float32)),
            _init("val_shape", np.array([-1, 4], np.int64)),
            _init("val_0", np.array([0], np.int64)),
            _init("val_1", np.array([3], np.int64)),
            _init("emb.position_ids", np.arange(8, dtype=np.int64).reshape(1, 8)),
            _init("emb.token_type_embeddings.weight", RNG.standard_normal((2, 4)).astype(np.float32)),
            _init("emb.LayerNorm.weight", np.full(4, 1.5, np.float32)),
            _init("emb.LayerNorm.bias", np.zeros(4, np.float32)),
        ],
        inputs=[("x", TensorProto.FLOAT, ["n", 4]), ("ids", TensorProto.INT64, ["n"])],
    )
    source = _open(model, tmp_path)
    assert [i.name for i in source.infos()] == [
        "emb.token_type_embeddings.weight",
        "emb.LayerNorm.weight",
        "emb.LayerNorm.bias",
    ]
    assert all(i.dtype == "F32" for i in source.infos())
    np.testing.assert_array_equal(source.read("emb.LayerNorm.weight"), np.full(4, 1.5, np.float32))
    assert source.facts.config["layer_norm_eps"] == pytest.approx(1e-5)


# --- synthetic: dequantisation --------------------------------------------------------------------


def test_synthetic_per_row_scaled_gather_table(tmp_path: Path) -> None:
    """Synthetic: ``emb.weight_q`` int8 [rows, dim] x ``emb.weight_scale`` [rows, 1] read by Gather.

    The scales differ by 100x between rows: applying them per column, or not at all, gives wrong
    element values and row norms, which is what this checks (row cosine would not notice).
    """
    rows, dim = 6, 5
    q = RNG.integers(-127, 128, (rows, dim), dtype=np.int8)
    scale = np.geomspace(1e-4, 1e-2, rows).astype(np.float32).reshape(rows, 1)
    model = _model(
        [
            helper.make_node("Cast", ["emb.weight_q"], ["emb.weight_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["emb.weight_f", "emb.weight_scale"], ["emb.weight"]),
            helper.make_node("Gather", ["emb.weight", "ids"], ["y"], axis=0),
        ],
        [_init("emb.weight_q", q), _init("emb.weight_scale", scale)],
        inputs=[("ids", TensorProto.INT64, ["n"])],
    )
    source = _open(model, tmp_path)
    assert [i.name for i in source.infos()] == ["emb.weight"]
    info = source.info("emb.weight")
    assert (info.dtype, info.shape, info.nbytes) == ("I8xF32", (rows, dim), rows * dim + rows * 4)
    expected = np.empty((rows, dim), np.float32)
    for r in range(rows):
        for c in range(dim):
            expected[r, c] = float(q[r, c]) * float(scale[r, 0])
    got = source.read("emb.weight")
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1), rtol=1e-6)
    assert bytes(source.raw("emb.weight")) == q.tobytes() + scale.tobytes()


def test_synthetic_scaled_value_wins_over_a_raw_cast_reader(tmp_path: Path) -> None:
    """Synthetic: the Cast output ``t.weight_f`` is also read directly (by Shape); the logical tensor must
    still be the scaled value, not the int8 codes cast to float."""
    q = RNG.integers(-127, 128, (3, 4), dtype=np.int8)
    scale = np.full((3, 1), 1e-3, np.float32)
    model = _model(
        [
            helper.make_node("Cast", ["t.weight_q"], ["t.weight_f"], to=TensorProto.FLOAT),
            helper.make_node("Shape", ["t.weight_f"], ["shape"]),
            helper.make_node("Mul", ["t.weight_f", "t.weight_scale"], ["t.weight"]),
            helper.make_node("Gather", ["t.weight", "ids"], ["y"]),
        ],
        [_init("t.weight_q", q), _init("t.weight_scale", scale)],
        inputs=[("ids", TensorProto.INT64, ["n"])],
        outputs=["y", "shape"],
    )
    source = _open(model, tmp_path)
    assert [i.name for i in source.infos()] == ["t.weight"]
    np.testing.assert_allclose(source.read("t.weight"), q.astype(np.float32) * 1e-3, rtol=1e-6)


def test_synthetic_per_output_channel_cast_mul_matmul(tmp_path: Path) -> None:
    """Synthetic, shaped like the real export: ``val_9_q`` int8 [in, out] x ``val_9_scale`` [1, out]."""
    n_in, n_out = 4, 3
    q = RNG.integers(-127, 128, (n_in, n_out), dtype=np.int8)
    scale = np.array([[1e-3, 5e-2, 2.0]], np.float32)
    model = _model(
        [
            helper.make_node("Cast", ["val_9_q"], ["val_9_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["val_9_scale", "val_9_f"], ["val_9"]),  # scale first
            helper.make_node("MatMul", ["x", "val_9"], ["mm"]),
            helper.make_node("Add", ["mm", "block.query.bias"], ["y"]),
        ],
        [
            _init("val_9_q", q), _init("val_9_scale", scale),
            _init("block.query.bias", np.zeros(3, np.float32)),
        ],
    )
    source = _open(model, tmp_path)
    assert [i.name for i in source.infos()] == ["block.query.weight", "block.query.bias"]
    got = source.read("block.query.weight")
    assert got.shape == (n_out, n_in)
    for o in range(n_out):
        for i in range(n_in):
            assert got[o, i] == pytest.approx(float(q[i, o]) * float(scale[0, o]), rel=1e-6)


def test_synthetic_dequantize_linear_per_axis_with_zero_point(tmp_path: Path) -> None:
    """Synthetic: DequantizeLinear uint8 with per-axis scale and zero point on axis 1 (out) feeding a
    MatMul, and int8 on axis 0 (in) feeding a Gemm with transB=0."""
    qa = RNG.integers(0, 256, (4, 3), dtype=np.uint8)
    sa, za = np.array([0.5, 0.01, 3.0], np.float32), np.array([128, 0, 255], np.uint8)
    qb = RNG.integers(-128, 128, (3, 2), dtype=np.int8)
    sb, zb = np.array([0.1, 1.0, 10.0], np.float32), np.array([-3, 0, 7], np.int8)
    model = _model(
        [
            helper.make_node("DequantizeLinear", ["wa_q", "wa_s", "wa_z"], ["wa"], axis=1),
            helper.make_node("MatMul", ["x", "wa"], ["ma"]),
            helper.make_node("Add", ["ma", "a.dense.bias"], ["h"]),
            helper.make_node("DequantizeLinear", ["wb_q", "wb_s", "wb_z"], ["wb"], axis=0),
            helper.make_node("Gemm", ["h", "wb", "b.dense.bias"], ["y"]),
        ],
        [
            _init("wa_q", qa), _init("wa_s", sa), _init("wa_z", za),
            _init("a.dense.bias", np.zeros(3, np.float32)),
            _init("wb_q", qb), _init("wb_s", sb), _init("wb_z", zb),
            _init("b.dense.bias", np.zeros(2, np.float32)),
        ],
    )
    source = _open(model, tmp_path)
    names = {i.name for i in source.infos()}
    assert names == {"a.dense.weight", "a.dense.bias", "b.dense.weight", "b.dense.bias"}
    a, b = source.info("a.dense.weight"), source.info("b.dense.weight")
    assert (a.dtype, a.shape, a.nbytes) == ("U8xF32", (3, 4), 12 + 12 + 3)
    assert (b.dtype, b.shape) == ("I8xF32", (2, 3))
    assert bytes(source.raw("a.dense.weight")) == qa.tobytes() + sa.tobytes() + za.tobytes()
    got_a, got_b = source.read("a.dense.weight"), source.read("b.dense.weight")
    for i in range(4):
        for o in range(3):
            assert got_a[o, i] == pytest.approx((int(qa[i, o]) - int(za[o])) * float(sa[o]), rel=1e-6)
    for i in range(3):
        for o in range(2):
            assert got_b[o, i] == pytest.approx((int(qb[i, o]) - int(zb[i])) * float(sb[i]), rel=1e-6)


def test_synthetic_dequantize_linear_per_tensor_blocked_and_int4(tmp_path: Path) -> None:
    """Synthetic (opset 21): per-tensor int8; blocked int4 (block 2 along axis 0, packed low nibble first)."""
    q = RNG.integers(-128, 128, (2, 3), dtype=np.int8)
    nib = np.array([[-8, 7, -1], [3, 0, -5], [1, 2, 3], [-2, -4, 6]], np.int8)  # [in=4, out=3]
    flat = (nib.reshape(-1) & 0x0F).astype(np.uint8)
    packed = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)
    w4 = helper.make_tensor("w4_q", TensorProto.INT4, [4, 3], packed.tobytes(), raw=True)
    s4 = np.array([[0.5, 1.0, 2.0], [10.0, 20.0, 40.0]], np.float32)  # [ceil(4/2), 3]
    model = _model(
        [
            helper.make_node("DequantizeLinear", ["w8_q", "w8_s"], ["w8"]),
            helper.make_node("MatMul", ["x", "w8"], ["m8"], name="m8"),
            helper.make_node("Add", ["m8", "p.proj.bias"], ["y"]),
            helper.make_node("DequantizeLinear", ["w4_q", "w4_s"], ["w4"], axis=0, block_size=2),
            helper.make_node("MatMul", ["x", "w4"], ["m4"]),
            helper.make_node("Add", ["m4", "p.proj4.bias"], ["y4"]),
        ],
        [
            _init("w8_q", q), _init("w8_s", np.array(0.25, np.float32)),
            _init("p.proj.bias", np.zeros(3, np.float32)), w4, _init("w4_s", s4),
            _init("p.proj4.bias", np.zeros(3, np.float32)),
        ],
        inputs=[("x", TensorProto.FLOAT, ["n", 2])],
        outputs=["y", "y4"],
        opset=21,
    )
    source = _open(model, tmp_path)
    np.testing.assert_array_equal(source.read("p.proj.weight"), (q.astype(np.float32) * 0.25).T)
    info = source.info("p.proj4.weight")
    assert (info.dtype, info.shape, info.nbytes) == ("I4xF32", (3, 4), 6 + 24)
    got = source.read("p.proj4.weight")
    for i in range(4):
        for o in range(3):
            assert got[o, i] == float(nib[i, o]) * float(s4[i // 2, o])


def test_synthetic_config_heads_from_reshape(tmp_path: Path) -> None:
    """Synthetic BERT-like block: heads come from the Reshape that splits the query into [-1, head_dim]."""
    hidden, head_dim = 8, 2
    model = _model(
        [
            helper.make_node("Gather", ["bert.embeddings.word_embeddings.weight", "ids"], ["e"]),
            helper.make_node("MatMul", ["e", "w_q"], ["mq"]),
            helper.make_node("Add", ["mq", "bert.encoder.layer.0.attention.self.query.bias"], ["q"]),
            helper.make_node("Shape", ["ids"], ["batch"], start=0, end=1),
            helper.make_node("Concat", ["batch", "minus_one", "head_dim"], ["split"], axis=0),
            helper.make_node("Reshape", ["q", "split"], ["y"]),
            helper.make_node("MatMul", ["e", "w_i"], ["mi"]),
            helper.make_node("Add", ["mi", "bert.encoder.layer.1.intermediate.dense.bias"], ["y2"]),
        ],
        [
            _init("bert.embeddings.word_embeddings.weight", RNG.standard_normal((11, hidden)).astype("f4")),
            _init("w_q", RNG.standard_normal((hidden, hidden)).astype(np.float32)),
            _init("bert.encoder.layer.0.attention.self.query.bias", np.zeros(hidden, np.float32)),
            _init("minus_one", np.array([-1], np.int64)),
            _init("head_dim", np.array([head_dim], np.int64)),
            _init("w_i", RNG.standard_normal((hidden, 12)).astype(np.float32)),
            _init("bert.encoder.layer.1.intermediate.dense.bias", np.zeros(12, np.float32)),
        ],
        inputs=[("ids", TensorProto.INT64, ["n", "s"])],
        outputs=["y", "y2"],
    )
    source = _open(model, tmp_path)
    assert source.facts.metadata["stripped_prefix"] == "bert."
    assert source.facts.config == {
        "model_type": "bert",
        "vocab_size": 11,
        "hidden_size": hidden,
        "num_hidden_layers": 2,
        "intermediate_size": 12,
        "num_attention_heads": hidden // head_dim,
    }
    assert source.info("encoder.layer.1.intermediate.dense.weight").shape == (12, hidden)


# --- synthetic: external data ---------------------------------------------------------------------


def _external_model(folder: Path) -> tuple[Path, npt.NDArray[np.float32]]:
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    model = _model(
        [helper.make_node("MatMul", ["x", "anon"], ["m"]), helper.make_node("Add", ["m", "lin.bias"], ["y"])],
        [_init("anon", w), _init("lin.bias", np.arange(3, dtype=np.float32))],
    )
    path = folder / "model.onnx"
    onnx.save_model(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
        location="weights.bin", size_threshold=0,
    )
    return path, w


def _rewrite_external(path: Path, **fields: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        if tensor.name == "anon":
            for entry in tensor.external_data:
                if entry.key in fields:
                    entry.value = fields.pop(entry.key)
            for key, value in fields.items():
                tensor.external_data.add(key=key, value=value)
    path.write_bytes(model.SerializeToString())


def test_synthetic_external_data_is_read_lazily_and_named(tmp_path: Path) -> None:
    """Synthetic: a model saved with external data (one ``weights.bin``) reads like an embedded one."""
    path, w = _external_model(tmp_path)
    source = OnnxSource(path)
    assert source.facts.metadata["external_data"] == ["weights.bin"]
    np.testing.assert_array_equal(source.read("lin.weight"), w.T)
    np.testing.assert_array_equal(source.read("lin.bias"), np.arange(3, dtype=np.float32))
    assert bytes(source.raw("lin.weight")) == w.tobytes()
    # Lazy: the data file is opened per read, so damage after opening shows up on read, as an error.
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelFileError, match="truncated"):
        source.read("lin.weight")


def test_hostile_external_location_escaping_the_folder(tmp_path: Path) -> None:
    path, _ = _external_model(tmp_path)
    _rewrite_external(path, location="../../etc/passwd")
    _fails(path, "escapes the model's folder")
    _rewrite_external(path, location="/etc/passwd")
    _fails(path, "escapes")


def test_hostile_external_symlink_out_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    path, _ = _external_model(folder)
    outside = tmp_path / "secret.bin"
    outside.write_bytes(os.urandom(4096))
    (folder / "link.bin").symlink_to(outside)
    _rewrite_external(path, location="link.bin", offset="0")
    _fails(path, "escapes")


def test_hostile_external_offset_beyond_the_file(tmp_path: Path) -> None:
    path, _ = _external_model(tmp_path)
    _rewrite_external(path, offset=str(10**12))
    _fails(path, "outside", "weights.bin")
    _rewrite_external(path, offset="-48")
    _fails(path, "outside")
    _rewrite_external(path, offset="12abc")
    _fails(path, "not integers")


def test_hostile_external_length_not_matching_dims(tmp_path: Path) -> None:
    path, _ = _external_model(tmp_path)
    _rewrite_external(path, offset="0", length="8")
    _fails(path, "data length is 8")


# --- synthetic: hostile embedded files ------------------------------------------------------------


@pytest.fixture
def small_model() -> Iterator[onnx.ModelProto]:
    w = RNG.standard_normal((64, 32)).astype(np.float32)
    yield _model(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "fc.bias"], ["y"])],
        [_init("w", w), _init("fc.bias", np.zeros(32, np.float32))],
        inputs=[("x", TensorProto.FLOAT, ["n", 64])],
    )


def test_hostile_truncated_garbage_and_empty_files(tmp_path: Path, small_model: onnx.ModelProto) -> None:
    blob = small_model.SerializeToString()
    for cut in (len(blob) // 2, len(blob) - 3, 40):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(blob[:cut])
        _fails(path, "truncated or corrupt")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(1).bytes(5000))
    _fails(garbage)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _fails(empty, "not an ONNX model")
    _fails(tmp_path, "not a regular file")
    _fails(tmp_path / "missing.onnx", "cannot read")


def test_hostile_dims_not_matching_the_data(tmp_path: Path, small_model: onnx.ModelProto) -> None:
    tensor = small_model.graph.initializer[0]
    tensor.dims[0] = 65  # one row more than the bytes hold
    _fails(_save(small_model, tmp_path), "'w'", "declares shape [65, 32]", "stores 8192 bytes")
    del tensor.dims[:]
    tensor.dims.extend([1] * 9 + [64 * 32])
    _fails(_save(small_model, tmp_path), "10 dimensions")


def test_hostile_dequantize_scale_of_the_wrong_length(tmp_path: Path) -> None:
    model = _model(
        [
            helper.make_node("DequantizeLinear", ["q", "s"], ["w"], axis=1),
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        ],
        [_init("q", np.zeros((4, 3), np.int8)), _init("s", np.ones(4, np.float32))],
    )
    _fails(_save(model, tmp_path), "per-axis scale shape [4] does not match dimension 3")


# --- the real model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> tuple[OnnxSource, dict[str, npt.NDArray[np.float32]]]:
    from safetensors.numpy import load_file

    from modeltrace.zoo import fetch

    source = OnnxSource(fetch("minilm6-int8") / "model.onnx")
    reference = load_file(str(fetch("minilm6") / "model.safetensors"))
    return source, reference


MATRICES = [
    f"encoder.layer.{n}.{part}.weight"
    for n in range(6)
    for part in (
        "attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "intermediate.dense", "output.dense",
    )
]
EMBEDDINGS = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"]


def _cos(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a64 @ b64 / np.linalg.norm(a64) / np.linalg.norm(b64))


@pytest.mark.real_model
def test_real_names_shapes_and_counts(real: tuple[OnnxSource, dict[str, npt.NDArray[np.float32]]]) -> None:
    source, reference = real
    infos = source.infos()
    assert len(infos) == 101
    assert sum(i.numel for i in infos) == 22_565_376  # 22.57M, no pooler
    assert round(sum(i.numel for i in infos) / 1e6, 2) == 22.57
    expected = set(reference) - {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    assert {i.name for i in infos} == expected
    assert len(MATRICES) == 36
    for name in [*MATRICES, *EMBEDDINGS]:
        info = source.info(name)
        assert info.dtype == "I8xF32", name
        assert info.shape == reference[name].shape, name
    assert source.info("encoder.layer.0.intermediate.dense.weight").shape == (1536, 384)  # [out, in]
    assert sum(i.dtype == "F32" for i in infos) == 63
    word = source.info("embeddings.word_embeddings.weight")
    assert word.nbytes == 30522 * 384 + 30522 * 4
    assert len(source.raw(word.name)) == word.nbytes


@pytest.mark.real_model
def test_real_facts(real: tuple[OnnxSource, dict[str, npt.NDArray[np.float32]]]) -> None:
    source, _ = real
    meta = source.facts.metadata
    assert (meta["producer_name"], meta["opset"], meta["stripped_prefix"]) == ("pytorch", 17, "inner.")
    assert meta["producer_version"].startswith("2.11.0")
    assert dict(source.facts.config) | {"layer_norm_eps": 0} == {
        "model_type": "bert",
        "vocab_size": 30522,
        "hidden_size": 384,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "num_hidden_layers": 6,
        "intermediate_size": 1536,
        "num_attention_heads": 12,
        "layer_norm_eps": 0,
    }
    assert source.facts.config["layer_norm_eps"] == pytest.approx(1e-12)


@pytest.mark.real_model
def test_real_matrices_match_the_fp32_checkpoint(
    real: tuple[OnnxSource, dict[str, npt.NDArray[np.float32]]],
) -> None:
    source, reference = real
    for name in MATRICES:
        got, want = source.read(name), reference[name]
        assert _cos(got, want) >= 0.9997, name
        # Same scale, not just the same direction (a misplaced scale keeps cosine high for some layouts).
        assert np.linalg.norm(got) / np.linalg.norm(want) == pytest.approx(1.0, abs=0.01), name
    for info in source.infos():
        if info.dtype == "F32":  # biases, LayerNorms, token types stay fp32 and bit-identical
            np.testing.assert_array_equal(source.read(info.name), reference[info.name])


@pytest.mark.real_model
def test_real_embeddings_have_per_row_scales_applied(
    real: tuple[OnnxSource, dict[str, npt.NDArray[np.float32]]],
) -> None:
    source, reference = real
    for name in EMBEDDINGS:
        got, want = source.read(name), reference[name]
        ratio = np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert ratio.min() > 0.97 and ratio.max() < 1.03, (name, ratio.min(), ratio.max())
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] >= 0.9997, name
        assert np.max(np.abs(got - want)) < 0.01, name
