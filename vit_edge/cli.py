"""The `vit-edge` command line. Thin: it parses options and calls library functions.

Only click is imported at start-up; each command imports what it needs, so `predict` never
imports torch or onnx and starts fast on a device.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import fields
from pathlib import Path

import click

from vit_edge import __version__
from vit_edge.config import (
    DEFAULT_CHECKPOINT,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_OPSET,
    FINE_TUNE,
    OUTLIER_KINDS,
    RECIPES,
    TRAINED_MODEL,
    TrainConfig,
    ViTConfig,
    check_threads,
)
from vit_edge.errors import MissingExtraError, ParityFailed, UsageError, VitEdgeError

TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
MODEL_DEFAULTS = TRAINED_MODEL.to_dict()


class FiniteFloat(click.FloatRange):
    """A float option that refuses nan and infinities (click's FLOAT and FloatRange accept them)."""

    name = "finite float"

    def _describe_range(self) -> str:
        # click would print "x<=None" for a range with no bounds in every option's --help line
        return "" if self.min is None and self.max is None else super()._describe_range()

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


FINITE = FiniteFloat()


# The CPU build of torch first: on Linux a plain `pip install torch` pulls the CUDA build (gigabytes).
# The extra's own name works from a source folder; an installed package gets the extra's packages.
INSTALL_TRAIN = (
    "needs PyTorch and ONNX: pip install torch --index-url https://download.pytorch.org/whl/cpu, then "
    "from the source folder pip install '.[train]' (or, for an installed vit-edge, pip install onnx "
    "onnxscript tqdm)"
)


def _defaults_stay_whole() -> None:
    """Click wraps help text at hyphens too, and inside "[default: ...]", which splits a default
    such as runs/vit-edge.pt over two lines; wrap at spaces only, and never inside the default."""
    try:
        from click import _textwrap
    except ImportError:  # another click layout: its wrapping stays as it is
        return

    class Wrapper(_textwrap.TextWrapper):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **{**kwargs, "break_on_hyphens": False})

        def _split(self, text: str) -> list[str]:
            return super()._split(text.replace("[default: ", "[default:\u00a0"))

    _textwrap.TextWrapper = Wrapper


_defaults_stay_whole()


class Commands(click.Group):
    """The top-level help lists each command with the whole first sentence of its description."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, self.get_command(ctx, name).get_short_help_str(limit=500))
            for name in self.list_commands(ctx)
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def require_torch(command: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"vit-edge {command} {INSTALL_TRAIN}") from None


def data_options(f):
    f = click.option(
        "--no-download", is_flag=True, help="Never download MNIST; fail if the files are missing."
    )(f)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="Folder with the MNIST IDX files [default: $VIT_EDGE_DATA or ~/.cache/vit-edge/mnist].",
    )(f)


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    invoke_without_command=True,
)
@click.version_option(__version__, prog_name="vit-edge")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A compact Vision Transformer for handwritten digits.

    Train it on MNIST (PyTorch, CPU or GPU), export it to ONNX (FP32 and INT8) or to plain C for
    microcontrollers, read digit images with ONNX Runtime alone (no PyTorch), and draw digits in a
    web page where the model runs in the browser. The commands that need PyTorch say so.
    """
    if ctx.invoked_subcommand is None:  # bare `vit-edge`: the help, and success
        click.echo(ctx.get_help())


@cli.command()
@data_options
@click.option(
    "--recipe",
    type=click.Choice(list(RECIPES)),
    default="default",
    help="A named set of training options (default: the packaged model's); options given here override it.",
)
@click.option("--epochs", type=int, default=TRAIN_DEFAULTS["epochs"])
@click.option("--batch-size", type=int, default=TRAIN_DEFAULTS["batch_size"])
@click.option("--lr", type=FINITE, default=TRAIN_DEFAULTS["lr"], help="Peak learning rate (AdamW).")
@click.option("--weight-decay", type=FINITE, default=TRAIN_DEFAULTS["weight_decay"])
@click.option("--warmup-epochs", type=FINITE, default=TRAIN_DEFAULTS["warmup_epochs"])
@click.option("--label-smoothing", type=FINITE, default=TRAIN_DEFAULTS["label_smoothing"])
@click.option(
    "--ema", type=FINITE, default=TRAIN_DEFAULTS["ema_decay"], help="EMA decay of weights; 0 = off."
)
@click.option("--degrees", type=FINITE, default=TRAIN_DEFAULTS["degrees"], help="Augment: max rotation.")
@click.option("--translate", type=FINITE, default=TRAIN_DEFAULTS["translate"], help="Augment: max shift.")
@click.option("--scale", type=FINITE, default=TRAIN_DEFAULTS["scale"], help="Augment: max zoom change.")
@click.option(
    "--elastic", type=FINITE, default=TRAIN_DEFAULTS["elastic"], help="Augment: elastic warp, RMS pixels."
)
@click.option("--seed", type=int, default=TRAIN_DEFAULTS["seed"])
@click.option("--subset", type=int, default=None, help="Train on the first N training images.")
@click.option(
    "--val-size",
    type=int,
    default=TRAIN_DEFAULTS["val_size"],
    help="Training images held out for validation; 0 trains on all 60,000 and keeps the last epoch.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option(
    "--precision",
    type=click.Choice(["auto", "bf16", "fp32"]),
    default=TRAIN_DEFAULTS["precision"],
    help="bf16 autocast of the forward pass (auto: on CUDA). On a CPU with native bf16, "
    "--precision bf16 --compile trains 1.39x faster with the same learning curve.",
)
@click.option(
    "--compile/--no-compile",
    default=TRAIN_DEFAULTS["compile"],
    help="torch.compile the training forward pass (needs a C++ compiler; about 30 s to compile).",
)
@click.option("--threads", type=int, default=None, help="CPU threads [default: all usable cores].")
@click.option("--out", type=click.Path(dir_okay=False), default=DEFAULT_CHECKPOINT, help="Checkpoint file.")
@click.option("--resume", is_flag=True, help="Continue the run saved at --out.")
@click.option("--patch-size", type=int, default=MODEL_DEFAULTS["patch_size"])
@click.option("--dim", type=int, default=MODEL_DEFAULTS["dim"], help="Model width.")
@click.option("--depth", type=int, default=MODEL_DEFAULTS["depth"], help="Encoder blocks.")
@click.option("--heads", type=int, default=MODEL_DEFAULTS["heads"])
@click.option("--mlp-ratio", type=FINITE, default=MODEL_DEFAULTS["mlp_ratio"])
@click.option("--dropout", type=FINITE, default=MODEL_DEFAULTS["dropout"])
@click.option(
    "--drop-path",
    type=FINITE,
    default=MODEL_DEFAULTS["drop_path"],
    help="Stochastic depth of the last block.",
)
@click.option(
    "--spt/--no-spt", default=MODEL_DEFAULTS["spt"], help="Shifted patch tokenization (Lee et al., 2021)."
)
@click.option(
    "--lsa/--no-lsa", default=MODEL_DEFAULTS["lsa"], help="Locality self-attention (Lee et al., 2021)."
)
@click.option(
    "--patch-norm",
    is_flag=True,
    help="LayerNorm on each flattened patch (in SPT's paper); makes the model fragile to faint noise.",
)
@click.option(
    "--stem",
    type=click.Choice(["patch", "conv"]),
    default=MODEL_DEFAULTS["stem"],
    help="Tokenizer: PxP patches, or the hybrid's 3x3 convolutions to a 7x7 grid (turns --spt off).",
)
@click.option(
    "--pool",
    type=click.Choice(["cls", "seq"]),
    default=MODEL_DEFAULTS["pool"],
    help="The head reads the CLS token, or an attention-weighted mean of all tokens (sequence pooling).",
)
@click.option(
    "--teacher",
    "teachers",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A teacher from `vit-edge teacher` (repeat for several): DeiT distillation token.",
)
@click.option(
    "--distillation",
    type=click.Choice(["hard", "soft"]),
    default=TRAIN_DEFAULTS["distillation"],
    help="With --teacher: learn the teachers' answer (hard) or their probabilities (soft).",
)
@click.option(
    "--distill-temperature",
    type=FINITE,
    default=TRAIN_DEFAULTS["distill_temperature"],
    help="Softmax temperature of --distillation soft.",
)
@click.option(
    "--outliers",
    type=FINITE,
    default=TRAIN_DEFAULTS["outliers"],
    help="Outlier exposure: weight of the loss that makes marks that are not digits read as unsure.",
)
@click.option(
    "--outlier-bank",
    type=int,
    default=TRAIN_DEFAULTS["outlier_bank"],
    help="How many non-digit marks --outliers draws before training.",
)
@click.option(
    "--outlier-kinds",
    default=TRAIN_DEFAULTS["outlier_kinds"],
    show_default=True,
    help=f"The kinds of non-digit mark, comma-separated: {', '.join(OUTLIER_KINDS)} (all: every kind).",
)
@click.option(
    "--init",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from this checkpoint's weights (fine-tuning), same model options [with --data: the "
    "packaged model; 'none': random weights].",
)
@click.option(
    "--data",
    "own_data",
    type=click.Path(file_okay=False),
    default=None,
    help="Fine-tune on your own labelled images: DIR/0/ ... DIR/9/ (and DIR/not-a-digit/, marked "
    "unsure), read as predict reads them.",
)
@click.option(
    "--mix",
    type=FINITE,
    default=TRAIN_DEFAULTS["mix"],
    help="With --data: the share of each batch drawn from MNIST (from --data-dir, when there).",
)
@click.option(
    "--val-fraction",
    type=FINITE,
    default=TRAIN_DEFAULTS["val_fraction"],
    help="With --data: the share of each class held out to validate and calibrate on.",
)
def train(
    data_dir, no_download, device, threads, out, resume, recipe, teachers, init, own_data, **opts
) -> None:
    """Train the ViT on MNIST (CPU or GPU); keeps the best checkpoint by validation accuracy.

    With --val-size 0 it trains on every training image and keeps the last epoch. With --data DIR
    it fine-tunes the packaged model on your own images, MNIST mixed in, and keeps the last epoch.

    Needs PyTorch (the train extra); predict and web do not.
    """
    require_torch("train")
    from vit_edge.train import train as run_training

    ctx = click.get_current_context()
    default_recipe = ctx.get_parameter_source("recipe") is click.core.ParameterSource.DEFAULT
    fine_tune = own_data is not None and default_recipe
    opts = apply_recipe(recipe, opts, ctx, FINE_TUNE if fine_tune else None)
    if own_data is not None and init is None:
        from vit_edge.own_digits import packaged_checkpoint

        init = str(packaged_checkpoint())
    if init == "none":
        init = None
    if opts["stem"] == "conv" and ctx.get_parameter_source("spt") is click.core.ParameterSource.DEFAULT:
        opts["spt"] = False  # the default recipe's SPT is a patch tokenizer, which the conv stem replaces
    model_cfg = _model_config(opts)
    train_cfg = TrainConfig(**{k: v for k, v in opts.items() if k in TRAIN_DEFAULTS}, ema_decay=opts["ema"])
    check_threads(threads)
    run_training(
        model_cfg,
        train_cfg,
        out=Path(out),
        data_dir=data_dir,
        device=device,
        threads=threads,
        resume=resume,
        allow_download=not no_download,
        log=lambda line: click.echo(line, err=True),
        teachers=[Path(t) for t in teachers],
        init=None if init is None else Path(init),
        own_data=None if own_data is None else Path(own_data),
    )


@cli.command()
@data_options
@click.option("--epochs", type=click.IntRange(1), default=12)
@click.option("--seed", type=int, default=0)
@click.option("--val-size", type=click.IntRange(0, 59_999), default=5_000, help="The ViT's seeded split.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--threads", type=int, default=None, help="CPU threads [default: all usable cores].")
@click.option("--out", type=click.Path(dir_okay=False), default="runs/teacher.pt", help="Teacher file.")
def teacher(data_dir, no_download, epochs, seed, val_size, device, threads, out) -> None:
    """Train a small CNN teacher for `vit-edge train --teacher` (training time only, never shipped).

    Needs PyTorch (the train extra); predict and web do not.
    """
    require_torch("teacher")
    from vit_edge.teacher import TeacherConfig, train_teacher

    cfg = TeacherConfig(epochs=epochs, seed=seed, val_size=val_size)
    metrics = train_teacher(
        cfg,
        Path(out),
        data_dir,
        device,
        threads,
        not no_download,
        log=lambda line: click.echo(line, err=True),
    )
    test = metrics["test_accuracy"]
    shown = "n/a" if test is None else f"{100 * test:.2f}%"
    minutes = metrics["train_seconds"] / 60
    click.echo(
        f"teacher {out}: val {100 * (metrics['val_accuracy'] or 0):.2f}%, test {shown}, {minutes:.1f} min"
    )


def apply_recipe(recipe: str, opts: dict, ctx: click.Context, values: dict | None = None) -> dict:
    """The recipe's values (or the given ones) for every option the user left at its default."""
    explicit = {k for k in opts if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    chosen = RECIPES[recipe] if values is None else values
    return {**opts, **{k: v for k, v in chosen.items() if k not in explicit}}


def _model_config(opts: dict) -> ViTConfig:
    try:
        return ViTConfig(**{k: opts.pop(k) for k in list(opts) if k in MODEL_DEFAULTS})
    except ValueError as e:
        raise UsageError(f"bad model shape: {str(e).split(' (')[0]}") from None


@cli.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=DEFAULT_CHECKPOINT)
@data_options
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plots/--no-plots", default=True, help="Draw NAME.confusion.png and NAME.mistakes.png.")
@click.option(
    "--data",
    "own_data",
    type=click.Path(file_okay=False),
    default=None,
    help="Score a folder of labelled images instead (DIR/0/ ... DIR/9/, DIR/not-a-digit/), read as "
    "predict reads them, with the checkpoint's calibration.",
)
def evaluate(checkpoint, data_dir, no_download, device, as_json, plots, own_data) -> None:
    """Test accuracy of a checkpoint on the 10,000 MNIST test images, overall and per class.

    With --data DIR: how predict would answer on your labelled images (read right and not marked,
    confidently wrong, per class, the confusions, not-a-digit images marked).

    Needs PyTorch (the train extra); predict and web do not.
    """
    require_torch("evaluate")
    if own_data is not None:
        from vit_edge.own_digits import evaluate_folder, format_report

        log = lambda line: click.echo(line, err=True)  # noqa: E731
        report = evaluate_folder(Path(checkpoint), Path(own_data), log=log)
        click.echo(json.dumps(report) if as_json else "\n".join(format_report(report, str(own_data))))
        return
    from vit_edge.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(Path(checkpoint), data_dir, device, not no_download, draw=plots)
    if result.get("pictures"):
        click.echo(f"wrote {', '.join(result['pictures'])}", err=True)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"test accuracy {100 * result['accuracy']:.2f}% ({result['errors']} errors in {result['n']})")
    for digit, acc in result["per_class"].items():
        click.echo(f"  {digit}: {100 * acc:.2f}%")


@cli.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=DEFAULT_CHECKPOINT)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "c"]),
    default="onnx",
    help="onnx: FP32 (+ INT8) ONNX files; c: a folder of C99 for microcontrollers (INT8, FP32 by -D).",
)
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="FP32 ONNX file [default: the checkpoint's path with .onnx]; with --format c a folder "
    "[default: the checkpoint's name + _c].",
)
@click.option(
    "--quantize",
    type=click.Choice(["dynamic", "static"]),
    is_flag=False,
    flag_value="dynamic",
    default=None,
    help="Also write NAME.int8.onnx [--quantize alone: dynamic].",
)
@data_options
@click.option("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset.")
@click.option(
    "--temperature",
    type=FINITE,
    default=None,
    help="Divide the logits by this (calibration) [default: the checkpoint's stored calibration, "
    "else fitted on its validation split].",
)
@click.option(
    "--min-confidence",
    type=FiniteFloat(0, 1),
    default=None,
    help="Recorded in the files: predict's default threshold for marking answers uncertain "
    f"[default: the checkpoint's stored calibration, else {DEFAULT_MIN_CONFIDENCE}].",
)
@click.option(
    "--skip-parity", is_flag=True, help="Do not compare with PyTorch; the files then say parity: skipped."
)
@click.option(
    "--no-test",
    is_flag=True,
    help="Compare on random inputs and never read the MNIST test set (for a model still being "
    "ranked on validation); the temperature is still fitted on its validation split.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the parity report as one JSON object.")
def export(
    checkpoint,
    fmt,
    out,
    quantize,
    data_dir,
    no_download,
    opset,
    temperature,
    min_confidence,
    skip_parity,
    no_test,
    as_json,
) -> None:
    """Export a checkpoint to ONNX (FP32, and INT8 with --quantize) and check it against PyTorch.

    --format c writes the model as plain C99 for microcontrollers instead (see the README).

    Needs PyTorch (the train extra); predict and web do not.
    """
    require_torch("export")
    if fmt == "c":
        from vit_edge.export.pipeline import run_c_export

        if quantize:
            raise UsageError("--quantize applies to --format onnx; --format c is INT8 already")
        report = run_c_export(
            Path(checkpoint),
            Path(out) if out else None,
            data_dir,
            not no_download,
            log=lambda line: click.echo(line, err=True),
            temperature=temperature,
            min_confidence=min_confidence,
        )
        if as_json:
            click.echo(json.dumps(report))
        return
    from vit_edge.export.parity import format_table
    from vit_edge.export.pipeline import run_export

    log = lambda line: click.echo(line, err=True)  # noqa: E731
    report = run_export(
        Path(checkpoint),
        Path(out) if out else None,
        quantize,
        data_dir,
        opset,
        allow_download=not no_download,
        log=log,
        temperature=temperature,
        min_confidence=min_confidence,
        check=not skip_parity,
        use_test=not no_test,
    )
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(format_table(report["files"], report["torch_accuracy"]))
        cal = report["calibration"]
        if "ece_before" in cal:
            click.echo(
                f"temperature {cal['temperature']:.4f} ({cal['temperature_source']}): "
                f"ECE on {report['data']} "
                f"{100 * cal['ece_before']:.2f}% before, {100 * cal['ece_after']:.2f}% after"
            )
    if not report["passed"]:
        failures = [msg for f in report["files"] for msg in f["failures"]]
        raise ParityFailed(
            f"parity check failed: {'; '.join(failures)}; the files are kept with parity: fail in their "
            "metadata and predict warns when it loads them. An undertrained model's near-tied logits "
            "flip under INT8: train longer, or use the FP32 file"
        )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="ONNX model [default: the packaged INT8 model].",
)
@click.option(
    "--top-k", type=click.IntRange(1, 10), default=None, help="Also show the K likeliest digits [JSON: 3]."
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per image.")
@click.option(
    "--min-confidence",
    type=FiniteFloat(0, 1),
    default=None,
    help="Mark answers below this calibrated confidence as uncertain [default: the model's "
    f"recorded value, else {DEFAULT_MIN_CONFIDENCE}].",
)
@click.option(
    "--save-input",
    type=click.Path(file_okay=False),
    default=None,
    help="Write each image's 28x28 model input as a PNG (same base name) into this folder.",
)
@click.option("--threads", type=click.IntRange(1), default=1, help="ONNX Runtime intra-op threads.")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=64,
    help="Images read before their answers print (each runs through the model on its own).",
)
@click.option(
    "--number",
    is_flag=True,
    help="Read several digits side by side, left to right, as one number (confidence: their product).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print the model's metadata.")
def predict(
    inputs, model, top_k, as_json, min_confidence, save_input, threads, batch_size, number, verbose
) -> None:
    """Classify digit images (files or folders) with ONNX Runtime; no PyTorch needed.

    Plain output: path, digit, confidence (and the top K), and a trailing ? when the answer is
    uncertain. --json: one object per image with path, prediction, confidence, top_k, uncertain
    (and reason, when the image holds several digits). --number: path, number, confidence.
    """
    from vit_edge.device import runtime

    check_threads(threads)
    model_path = Path(model) if model else runtime.default_model_path()
    session = runtime.make_session(model_path, threads)
    meta = runtime.metadata(session)
    threshold = runtime.min_confidence(meta) if min_confidence is None else min_confidence
    calibrated = f", temperature {meta['temperature']}" if "temperature" in meta else ", not calibrated"
    click.echo(f"model: {model_path} ({meta.get('quantization', 'fp32')}{calibrated})", err=True)
    warning = runtime.parity_warning(meta)
    if warning:
        click.echo(f"vit-edge: warning: {model_path}: {warning}", err=True)
    if verbose:
        click.echo(f"model metadata: {json.dumps(meta)}", err=True)
    if save_input:
        from vit_edge.device.fileio import check_writable_folder

        check_writable_folder(Path(save_input) / "input.png", "--save-input")
        click.echo(f"writing the 28x28 model inputs to {save_input}/", err=True)
    failed, skipped = 0, []
    results = runtime.predict_files(
        session, runtime.expand_inputs(inputs, skipped), top_k or 3, batch_size, threshold, save_input, number
    )
    if skipped:  # a folder's files Pillow does not know by their extension
        names = ", ".join(p.name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        files = "file" if len(skipped) == 1 else "files"
        click.echo(f"vit-edge: skipped {len(skipped)} {files} not named as an image: {names} (give a file "
                   "by its path to read it anyway)", err=True)  # fmt: skip
    for result in results:
        failed += "error" in result
        if as_json:
            click.echo(json.dumps(result))
        elif "error" in result:
            click.echo(f"vit-edge: error: {result['path']}: {result['error']}", err=True)
        elif number:
            line = f"{result['path']}\t{result['number']}\t{result['confidence']:.4f}"
            click.echo(line + ("\t?" if result["uncertain"] else ""))
        else:
            line = f"{result['path']}\t{result['prediction']}\t{result['confidence']:.4f}"
            if top_k:
                line += "\t" + " ".join(f"{d}:{p:.4f}" for d, p in result["top_k"])
            click.echo(line + ("\t?" if result["uncertain"] else ""))
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--engine",
    type=click.Choice(["wasm", "ort"]),
    default="wasm",
    help="What runs the model in the page: the C engine in WebAssembly (no npm needed), or "
    "onnxruntime-web on an ONNX model (needs `npm ci` in the page's folder).",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="wasm: a .wasm built by `python -m vit_edge.export.wasm`; ort: an ONNX file "
    "[default: the packaged model].",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, help="Port on 127.0.0.1 (0: any free one)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Write the page as a static folder here instead of serving it.",
)
@click.option(
    "--collect",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write each image the page's Collect mode keeps into DIR/<label>/ (train --data DIR).",
)
def web(engine, model, port, out, collect) -> None:
    """Draw a digit in a web page; the model runs in the browser, not on a server."""
    from vit_edge.device import webpage

    model_path = Path(model) if model else None
    if out and collect:
        raise UsageError("--collect needs the page served: leave out --out (a static host writes nothing)")
    if out:
        written = webpage.write_site(model_path, Path(out), engine)
        click.echo(f"wrote {len(written)} files to {out}/; serve it from any static host, e.g. "
                   f"python -m http.server -d {out}", err=True)  # fmt: skip
        return
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    webpage.serve(model_path, port, log=log, engine=engine, collect=Path(collect) if collect else None)


@cli.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="PyTorch checkpoint [default: the packaged one, when torch is installed].",
)
@click.option(
    "--model",
    type=click.Path(dir_okay=False),
    default=None,
    help="ONNX file; its FP32/INT8 sibling is measured too [default: the packaged model].",
)
@click.option(
    "--runs",
    type=click.IntRange(1),
    default=500,
    help="Batch-1 calls per setting (medians of few are noisy).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def benchmark(checkpoint, model, runs, as_json) -> None:
    """Latency and throughput: PyTorch eager vs ONNX Runtime FP32 and INT8, on this machine."""
    from vit_edge.benchmark import format_table, run_benchmark, torch_available
    from vit_edge.device import runtime

    model_path = Path(model) if model else runtime.default_model_path()
    if checkpoint:
        require_torch("benchmark --checkpoint")
        checkpoint_path = Path(checkpoint)
    else:
        packaged = model_path.with_name(model_path.name.replace(".int8.onnx", ".onnx")).with_suffix(".pt")
        checkpoint_path = packaged if torch_available() and packaged.is_file() and not model else None
    if runs < 100:
        click.echo(f"warning: --runs {runs}: medians of fewer than 100 calls are noisy", err=True)
    report = run_benchmark(model_path, checkpoint_path, runs, log=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(report) if as_json else format_table(report))


def one_line(text: str) -> str:
    """Error messages are one line: a library message that spans lines is joined."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors become one line on stderr and an exit status, never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="vit-edge", standalone_mode=False)
    except click.UsageError as e:  # wrong option or value: the usage, where to read more, exit 2
        command = e.ctx.command_path if e.ctx else "vit-edge"
        if e.ctx is not None:
            click.echo(e.ctx.get_usage(), err=True)
            click.echo(f"Try '{command} --help' for help.", err=True)
        click.echo(f"{command}: error: {e.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"vit-edge: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except VitEdgeError as e:
        click.echo(f"vit-edge: error: {one_line(str(e))}", err=True)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, click.Abort):
        click.echo("vit-edge: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()


if __name__ == "__main__":  # python -m vit_edge.cli
    main()
