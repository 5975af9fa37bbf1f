"""ONNX Runtime sessions and inference: the device side, with no torch (onnxruntime + numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DEFAULT_MIN_CONFIDENCE
from ..errors import ModelFileError, OutputError
from .calibration import softmax

__all__ = ["make_session", "predict_files", "expand_inputs", "default_model_path", "softmax", "run_logits"]

INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
NUM_CLASSES = 10
# One intra-op thread measured fastest at batch 1 on 2 cores (0.51 ms vs 0.69 ms with two):
# the graph is too small to pay for thread hand-offs.
DEFAULT_THREADS = 1


def make_session(path: Path, threads: int = DEFAULT_THREADS):
    """An ORT CPU session for a vit-edge ONNX file, after checking its contract (see check_contract)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"model {path} does not exist" if not path.exists() else f"model {path} is not a file"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # fatal only: a failure becomes our one line, not ORT's log lines
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types for foreign or truncated files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"model {path} is not a readable ONNX model ({reason[:160]})") from None
    check_contract(session, path)
    session.vit_edge_path = path  # named by run_logits if the model fails when run
    return session


def check_contract(session, path: Path) -> None:
    """Refuse a model that is not pixels float32 N x 1 x 28 x 28 -> logits N x 10 (N dynamic or fixed)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected = "one float32 input N x 1 x 28 x 28 and one output N x 10"
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelFileError(
            f"model {path} has {len(inputs)} inputs and {len(outputs)} outputs; expected {expected}"
        )
    x, y = inputs[0], outputs[0]
    if x.type != "tensor(float)" or y.type != "tensor(float)":
        raise ModelFileError(f"model {path} takes {x.type} and gives {y.type}; expected {expected}")
    if len(x.shape) != 4 or list(x.shape[1:]) != [1, 28, 28]:
        raise ModelFileError(f"model {path} takes input of shape {x.shape}; expected {expected}")
    if len(y.shape) != 2 or y.shape[1] != NUM_CLASSES:
        raise ModelFileError(f"model {path} gives output of shape {y.shape}; expected {expected}")
    batch_in, batch_out = x.shape[0], y.shape[0]
    if isinstance(batch_in, int) and isinstance(batch_out, int) and batch_in != batch_out:
        raise ModelFileError(
            f"model {path} maps a batch of {batch_in} to {batch_out} rows; expected {expected}"
        )


def fixed_batch(session) -> int | None:
    """The model's batch size when its graph fixes one, else None (any batch)."""
    batch = session.get_inputs()[0].shape[0]
    return batch if isinstance(batch, int) and batch > 0 else None


def run_logits(session, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits for float32 pixels (n, 1, 28, 28) in [0, 1], one ORT call per batch.

    A model with a fixed batch gets exactly that many images a call, the last call padded.
    """
    name = session.get_inputs()[0].name
    fixed = fixed_batch(session)
    step = fixed or batch_size
    out = []
    for i in range(0, len(pixels), step):
        chunk = np.ascontiguousarray(pixels[i : i + step], dtype=np.float32)
        n = len(chunk)
        if fixed and n < fixed:
            chunk = np.concatenate([chunk, np.zeros((fixed - n,) + chunk.shape[1:], np.float32)])
        try:
            out.append(session.run(None, {name: chunk})[0][:n])
        except Exception as e:  # ORT's own types: a graph that passes the contract but cannot run
            reason = _reason(e)
            model = getattr(session, "vit_edge_path", "the model")
            raise ModelFileError(f"model {model} failed to run on an image ({reason[:160]})") from None
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES), np.float32)


def _reason(e: Exception) -> str:
    """The readable end of an ORT run error: its status message, without the C++ source location."""
    text = str(e).strip() or type(e).__name__
    text = text.split("Status Message:")[-1].split(" was false. ")[-1]
    return text.strip().splitlines()[0]


def metadata(session) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


# predict's default is the FP32 file: ONNX Runtime's INT8 kernels differ by CPU (u8s8 products can
# saturate without AVX-512 VNNI), so one image's INT8 confidence moved by up to 0.13 between machines
# and crossed the unsure line on one and not another, while FP32 answers agree to ~1e-6 everywhere.
# At batch 1 the INT8 file is no faster (models/MODEL_CARD.md); it stays for --model and the C engine.
PACKAGED_MODEL = "vit-edge.onnx"


def default_model_path() -> Path:
    """The packaged FP32 model: inside the installed package, or models/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent  # vit_edge/
    for folder in (package / "models", package.parent / "models"):
        if (folder / PACKAGED_MODEL).is_file():
            return folder / PACKAGED_MODEL
    raise ModelFileError(f"no packaged model {PACKAGED_MODEL} found; pass --model PATH.onnx")


def expand_inputs(inputs: list[str], skipped: list[Path] | None = None) -> list[Path]:
    """Files as given; a directory becomes the image files inside it, sorted by name.

    A directory's other files (an extension Pillow does not know) are appended to `skipped` when
    it is given, so they can be counted aloud. A directory with no image files stays in the list,
    so that it is reported like a bad image instead of being skipped in silence.
    """
    from PIL import Image

    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            extensions = Image.registered_extensions()
            files = sorted(p for p in item.iterdir() if p.is_file())
            found = [p for p in files if p.suffix.lower() in extensions]
            if skipped is not None:
                skipped += [p for p in files if p.suffix.lower() not in extensions]
            paths += found or [item]
        else:
            paths.append(item)
    return paths


def predict_files(
    session,
    paths: list[Path],
    top_k: int = 3,
    batch_size: int = 64,
    min_confidence: float | None = None,
    save_input: Path | None = None,
    number: bool = False,
):
    """Yield one result dict per path, in order: a prediction, or {"path", "error"}.

    A prediction is {"path", "prediction", "confidence", "top_k", "uncertain"}: uncertain when the
    confidence is under min_confidence (default: the model's own recorded value, as the CLI uses),
    or when the image holds several digits side by side (then "reason" says so). With number=True
    the digits are read left to right: {"path", "number", "prediction" (the number again, so a loop
    written for single digits reads it), "confidence" (the product of the digits'), "digits" (each
    one's "prediction", "confidence", "top_k"), "uncertain"}. Each image runs through
    the model on its own, so its answer never depends on the others; batch_size is how many images
    are read before their answers are given. save_input: a folder for each 28x28 model input.
    """
    from .preprocess import ImageError, read

    threshold = model_min_confidence(session) if min_confidence is None else min_confidence
    names = InputNames()
    for start in range(0, len(paths), batch_size):
        chunk = [str(p) for p in paths[start : start + batch_size]]
        results = []
        for path in chunk:
            try:
                reading = read(path)
                if save_input is not None:
                    save_input_png(reading.pixels, Path(save_input) / names.png_name(Path(path)))
            except ImageError as e:
                results.append({"path": path, "error": str(e)})
                continue
            results.append(_result(session, path, reading, top_k, threshold, number))
        yield from results


def _result(session, path: str, reading, top_k: int, threshold: float, number: bool) -> dict:
    inputs = reading.digits if number else [reading.pixels]
    # one image a call: dynamic INT8 quantizes activations with one scale per call
    probs = [softmax(run_logits(session, x[None, None], 1))[0] for x in inputs]
    if not all(np.isfinite(p).all() for p in probs):
        return {"path": path, "error": "the model gave non-finite outputs (NaN or infinity) for this image"}
    if number:
        digits = [answer(path, p, top_k, threshold) for p in probs]
        confidence = float(np.prod([d["confidence"] for d in digits]))
        number_read = "".join(str(d["prediction"]) for d in digits)
        result = {
            "path": path,
            "number": number_read,
            "prediction": number_read,  # so a loop written for one digit a row reads numbers too
            "confidence": confidence,
            "digits": [{k: d[k] for k in ("prediction", "confidence", "top_k")} for d in digits],
            "uncertain": confidence < threshold,
        }
        if reading.unsplit:
            result["uncertain"] = True
            result["reason"] = "digits touch and could not be split apart (no narrow joint between them)"
        elif any("reason" in d for d in digits):
            result["reason"] = next(d["reason"] for d in digits if "reason" in d)
        return result
    result = answer(path, probs[0], top_k, threshold)
    if len(reading.digits) > 1 or reading.touching:
        n = max(len(reading.digits), 2)
        result["uncertain"] = True
        how = "touching" if reading.touching else "side by side"
        result["reason"] = f"{n} digits {how}; --number reads them one by one"
    return result


def answer(path: str, p: np.ndarray, top_k: int, min_confidence: float) -> dict:
    order = np.argsort(-p)
    confidence = float(p[order[0]])
    result = {
        "path": path,
        "prediction": int(order[0]),
        "confidence": confidence,
        "top_k": [[int(d), float(p[d])] for d in order[:top_k]],
        "uncertain": confidence < min_confidence,
    }
    if result["uncertain"]:
        result["reason"] = unsure_reason(p, order)
    return result


# An unsure answer whose two likeliest digits together hold less than this does not look like any
# digit: the model was trained to spread its answer over all ten on marks that are not digits
# (outlier exposure); between two digits (a 4 or a 9) the two hold nearly all of it.
NOT_A_DIGIT_MASS = 0.9


def unsure_reason(p: np.ndarray, order: np.ndarray) -> str:
    first, second = int(order[0]), int(order[1])
    pair = float(p[first] + p[second])
    if pair < NOT_A_DIGIT_MASS:
        return f"does not look like a digit (the two likeliest digits hold only {pair:.2f})"
    return f"between {first} and {second}"


class InputNames:
    """PNG names for --save-input: the image's base name, with -2, -3 ... when two inputs share one."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def png_name(self, path: Path) -> str:
        stem, n = Path(path).stem, 1
        name = f"{stem}.png"
        while name in self.used:
            n += 1
            name = f"{stem}-{n}.png"
        self.used.add(name)
        return name


def save_input_png(pixels: np.ndarray, path: Path) -> None:
    """The 28x28 model input as an 8-bit grey PNG, written atomically."""
    from PIL import Image

    from .fileio import atomic_write

    img = Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8), "L")
    try:
        atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
    except OSError as e:
        raise OutputError(f"--save-input: cannot write {path} ({e.strerror or e})") from None


def min_confidence(meta: dict[str, str]) -> float:
    """The model's recorded --min-confidence default, else the library's."""
    try:
        value = float(meta.get("min_confidence", DEFAULT_MIN_CONFIDENCE))
    except ValueError:
        return DEFAULT_MIN_CONFIDENCE
    return value if 0 <= value <= 1 else DEFAULT_MIN_CONFIDENCE


def model_min_confidence(session) -> float:
    """The --min-confidence default for a session's model (its recorded value, else the library's)."""
    return min_confidence(metadata(session))


def parity_warning(meta: dict[str, str]) -> str | None:
    """One line when the export's parity check did not pass for this file (metadata `parity`)."""
    parity = meta.get("parity")
    if parity is None or parity == "pass":
        return None
    detail = meta.get("parity_detail", "")
    if parity == "skipped":
        return "its export skipped the parity check against PyTorch; answers are unverified"
    return f"this model FAILED its parity check at export ({detail}); answers may be wrong"
