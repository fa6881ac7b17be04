"""all-MiniLM-L6-v2's encoder (Hugging Face's BertModel) as an ONNX graph, built from its weights.

The model's package ships the weights as safetensors, not an ONNX export (that would take PyTorch,
which we do not install). The graph is BertModel's forward pass — embeddings and their LayerNorm, six
layers of self-attention and feed-forward with exact (erf) GELU — in standard ONNX operators and two
of ONNX Runtime's own (`Attention`, `Gelu`), which ONNX Runtime runs and its quantiser turns to 8 bits.
Inputs: `input_ids` (batch by length), `position_ids` (length) and `mask` (batch by length: 1 for a
word piece, 0 for padding). Output: `hidden`, the last layer's states (batch by length by 384);
pooling is the caller's. tests/test_matching.py checks the pooled vectors against ones
sentence-transformers computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

OPSET = 17  # LayerNormalization is a standard operator from 17 on
CONTRIB = "com.microsoft"  # ONNX Runtime's own operators (Attention, Gelu), documented with its kernels


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def const(self, name: str, value: NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        name = f"{kind.lower()}_{self.count}"
        self.count += 1
        self.nodes.append(helper.make_node(kind, list(inputs), [name], **attributes))
        return name

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
    g = _Graph()
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
        # Self-attention as ONNX Runtime's fused `Attention` (the query, key and value projections in
        # one product, scaled dot-product over the heads, padding masked): measured 1.7 times faster
        # than the same arithmetic in standard operators, as its quantiser makes it QAttention.
        projections = [p + f"attention.self.{name}" for name in ("query", "key", "value")]
        context = g.op(
            "Attention",
            x,
            g.const(p + "qkv.w", np.concatenate([w[q + ".weight"] for q in projections]).T),
            g.const(p + "qkv.b", np.concatenate([w[q + ".bias"] for q in projections])),
            "mask",
            domain=CONTRIB,
            num_heads=heads,
        )
        attended = g.linear(
            context, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"], p + "out"
        )
        x = g.norm(g.op("Add", x, attended), w, p + "attention.output.LayerNorm", epsilon)
        up = g.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"], p + "up")
        gelu = g.op("Gelu", up, domain=CONTRIB)  # the exact, erf-based GELU, as BERT's
        down = g.linear(gelu, w[p + "output.dense.weight"], w[p + "output.dense.bias"], p + "down")
        x = g.norm(g.op("Add", x, down), w, p + "output.LayerNorm", epsilon)
    g.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", width])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(CONTRIB, 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8  # what every ONNX Runtime since 1.10 reads
    return model
