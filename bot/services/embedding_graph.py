"""all-MiniLM-L6-v2's encoder (Hugging Face's BertModel) as an ONNX graph, built from its weights.

The model's package ships the weights as safetensors, not an ONNX export (that would take PyTorch,
which we do not install). The graph is BertModel's forward pass op for op — embeddings and their
LayerNorm, six layers of self-attention and feed-forward with exact (erf) GELU — in standard ONNX
operators, and ONNX Runtime fuses and runs it. Inputs: `input_ids` (batch by length), `position_ids`
(length) and `mask_bias` (batch by 1 by 1 by length: 0 for a word piece, a large negative for padding).
Output: `hidden`, the last layer's states (batch by length by 384); pooling is the caller's.
tests/test_matching.py checks the pooled vectors against ones sentence-transformers computed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

OPSET = 17  # LayerNormalization is a standard operator from 17 on


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def const(self, name: str, value: NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, outputs: int = 1, **attributes: Any) -> Any:
        from onnx import helper

        names = [f"{kind.lower()}_{self.count}_{n}" for n in range(outputs)]
        self.count += 1
        self.nodes.append(helper.make_node(kind, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, weight: NDArray[Any], bias: NDArray[Any], name: str) -> str:
        # Stored as PyTorch's Linear: out by in, so the product takes its transpose.
        return self.op(
            "Add", self.op("MatMul", x, self.const(name + ".w", weight.T)), self.const(name + ".b", bias)
        )

    def norm(self, x: str, weights: dict[str, NDArray[Any]], prefix: str, epsilon: float) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.const(prefix + ".weight", weights[prefix + ".weight"]),
            self.const(prefix + ".bias", weights[prefix + ".bias"]),
            axis=-1,
            epsilon=epsilon,
        )


def bert_graph(weights_file: Path, *, layers: int, heads: int, epsilon: float) -> Any:
    """The ONNX model (an `onnx.ModelProto`) of the encoder whose weights are in `weights_file`."""
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    w = load_file(str(weights_file))
    width = int(w["embeddings.word_embeddings.weight"].shape[1])
    head = width // heads
    g = _Graph()
    scalar = {
        name: g.const(name, np.array(value, dtype=np.float32))
        for name, value in (
            ("half", 0.5),
            ("one", 1.0),
            ("inv_sqrt2", 1 / math.sqrt(2)),
            ("scale", 1 / math.sqrt(head)),
        )
    }
    to_heads = g.const("to_heads", np.array([0, 0, heads, head], dtype=np.int64))
    from_heads = g.const("from_heads", np.array([0, 0, width], dtype=np.int64))
    thirds = g.const("thirds", np.array([width] * 3, dtype=np.int64))

    x = g.op(
        "Add",
        g.op(
            "Add",
            g.op("Gather", g.const("word", w["embeddings.word_embeddings.weight"]), "input_ids"),
            g.op("Gather", g.const("position", w["embeddings.position_embeddings.weight"]), "position_ids"),
        ),
        g.const("token_type", w["embeddings.token_type_embeddings.weight"][0]),
    )
    x = g.norm(x, w, "embeddings.LayerNorm", epsilon)
    for n in range(layers):
        p = f"encoder.layer.{n}."
        qkv = g.linear(
            x,
            np.concatenate([w[p + f"attention.self.{name}.weight"] for name in ("query", "key", "value")]),
            np.concatenate([w[p + f"attention.self.{name}.bias"] for name in ("query", "key", "value")]),
            p + "qkv",
        )
        q, k, v = g.op("Split", qkv, thirds, outputs=3, axis=2)
        q = g.op("Transpose", g.op("Reshape", q, to_heads), perm=[0, 2, 1, 3])
        k = g.op("Transpose", g.op("Reshape", k, to_heads), perm=[0, 2, 3, 1])
        v = g.op("Transpose", g.op("Reshape", v, to_heads), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scalar["scale"]), "mask_bias")
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), from_heads)
        attended = g.linear(
            context, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"], p + "out"
        )
        x = g.norm(g.op("Add", x, attended), w, p + "attention.output.LayerNorm", epsilon)
        up = g.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"], p + "up")
        gelu = g.op(
            "Mul",
            g.op("Mul", up, scalar["half"]),
            g.op("Add", g.op("Erf", g.op("Mul", up, scalar["inv_sqrt2"])), scalar["one"]),
        )
        down = g.linear(gelu, w[p + "output.dense.weight"], w[p + "output.dense.bias"], p + "down")
        x = g.norm(g.op("Add", x, down), w, p + "output.LayerNorm", epsilon)
    g.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", width])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what every ONNX Runtime since 1.10 reads
    return model
