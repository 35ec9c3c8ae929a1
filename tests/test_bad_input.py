"""Bad input, as a new user gives it: refused in one line with the right exit status, never a traceback, never
an `ok` row with a meaningless number. Every case builds its input for real (folders, CSVs, images, flags)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from bench.store.shards import load_runs, suites_in
from bench.report.formats import FORMATS as REPORT_FORMATS
from tests.helpers import EXAMPLES, bench, write_image  # EXAMPLES: committed rows, good input for what reads

RUN = ["run", "--suite", "shortcut", "--variants", "plain32", "--epochs", "1", "--device", "cpu"]


def folder(tmp: Path, train: dict[str, int], test: dict[str, int] | None = None) -> str:
    """An image folder with `train[class]` images per class (and a test/ split), each class one colour."""
    for split, classes in (("train", train), ("test", test or {})):
        for i, (name, count) in enumerate(classes.items()):
            (tmp / "data" / split / name).mkdir(parents=True, exist_ok=True)
            for j in range(count):
                write_image(tmp / "data" / split / name / f"{j}.png", (40 * i, 200 - 40 * i, 90))
    return f"imagefolder:{tmp / 'data'}"


def csv_set(tmp: Path, text: str, images: tuple[str, ...] = ("a", "b", "c", "d")) -> str:
    for name in images:
        write_image(tmp / "data" / "images" / f"{name}.png", (10, 20, 30))
    (tmp / "data" / "labels.csv").write_text(text)
    return f"csv:{tmp / 'data' / 'labels.csv'}"


def corrupt(tmp: Path) -> str:
    spec = folder(tmp, {"a": 5, "b": 5})
    (tmp / "data" / "train" / "a" / "broken.png").write_bytes(b"this is not a png")
    return spec


def suite_file(tmp: Path, text: str) -> str:
    (tmp / "mine.toml").write_text(text)
    return str(tmp / "mine.toml")


def idx_set(tmp: Path, truncate: bool = False) -> str:
    """MNIST's four IDX files (20 train, 10 test images) in torchvision's layout; optionally one cut short."""
    from tests.test_idx import write_idx_set

    write_idx_set(tmp / "MNIST" / "raw", train=20, test=10)
    if truncate:
        images = tmp / "MNIST" / "raw" / "train-images-idx3-ubyte"
        images.write_bytes(images.read_bytes()[:16 + 100])
    return str(tmp)


# (id, setup → extra arguments, expected exit status, fragment of the one-line message)
CASES = [
    ("epochs-0", lambda t: [*RUN[:-4], "--epochs", "0"], 2, "--epochs: 0 is too small: it must be at least 1"),
    ("epochs-negative", lambda t: [*RUN[:-4], "--epochs", "-1"], 2, "--epochs: -1 is too small"),
    ("epochs-not-a-number", lambda t: [*RUN[:-4], "--epochs", "two"], 2, "'two' is not a whole number"),
    ("batch-0", lambda t: [*RUN, "--batch-size", "0"], 2, "--batch-size: 0 is too small"),
    ("seeds-0", lambda t: [*RUN, "--seeds", "0"], 2, "--seeds: 0 is too small"),
    ("seeds-negative", lambda t: [*RUN, "--seeds", "-1"], 2, "--seeds: -1 is too small"),
    ("variants-empty", lambda t: ["run", "--suite", "shortcut", "--variants", ","], 2, "',' names nothing"),
    ("suite-missing", lambda t: ["run"], 2, "the following arguments are required: --suite"),
    ("suite-unknown", lambda t: ["run", "--suite", "stem-ablaton"], 2, "unknown suite 'stem-ablaton'"),
    ("variant-unknown", lambda t: ["run", "--suite", "stem-ablation", "--variants", "resnet19"], 2,
     "closest: resnet18, resnet152, resnet101;"),  # each name once
    ("dataset-unknown", lambda t: [*RUN, "--dataset", "cifar11"], 2, "did you mean cifar10"),
    ("device-unknown", lambda t: [*RUN[:-2], "--device", "tpu"], 2, "unknown device 'tpu'"),
    ("device-index-not-a-number", lambda t: [*RUN[:-2], "--device", "cuda:x"], 2, "unknown device 'cuda:x'"),
    ("precision-unknown", lambda t: [*RUN, "--precision", "fp8"], 2, "invalid choice: 'fp8'"),
    ("compile-unknown", lambda t: [*RUN, "--compile", "fast"], 2, "invalid choice: 'fast'"),
    ("run-timeout-zero", lambda t: [*RUN, "--run-timeout", "0"], 2, "must be more than 0 seconds"),
    ("run-timeout-text", lambda t: [*RUN, "--run-timeout", "soon"], 2, "'soon' is not a number of seconds"),
    ("imagefolder-missing", lambda t: [*RUN, "--dataset", f"imagefolder:{t / 'nowhere'}"], 2, "does not exist"),
    ("imagefolder-no-train", lambda t: [*RUN, "--dataset", f"imagefolder:{t}"], 2, "expected"),
    ("one-class", lambda t: [*RUN, "--dataset", folder(t, {"admiral": 8})], 2,
     "has 1 class folder (admiral); a classifier needs at least two"),
    ("empty-class-folder", lambda t: [*RUN, "--dataset", folder(t, {"a": 5, "b": 5, "c": 0})], 2,
     "/train/c' has no images"),
    ("test-classes-renamed", lambda t: [*RUN, "--dataset", folder(t, {"tshirt": 5, "trouser": 5},
                                                                   {"T-Shirt": 2, "trouser": 2})], 2,
     "'T-Shirt' only in test (did you mean 'tshirt'?)"),
    ("test-class-missing", lambda t: [*RUN, "--dataset", folder(t, {"a": 5, "b": 5, "c": 5}, {"a": 2, "b": 2})], 2,
     "'c' only in train"),
    ("test-class-extra", lambda t: [*RUN, "--dataset", folder(t, {"a": 5, "b": 5}, {"a": 2, "b": 2, "zebra": 2})], 2,
     "'zebra' only in test"),
    ("test-class-empty", lambda t: [*RUN, "--dataset", folder(t, {"a": 5, "b": 5}, {"a": 2, "b": 0})], 2,
     "/test/b' has no images"),
    ("validation-split-empty", lambda t: [*RUN, "--dataset", folder(t, {"a": 2, "b": 2}, {"a": 1, "b": 1})], 2,
     "the val split is empty"),
    # fake: 64 training images per class, of which round(0.2 × 64) = 13 go to validation: 10 × 51 = 510 left
    ("batch-larger-than-train", lambda t: [*RUN, "--dataset", "fake", "--batch-size", "100000"], 2,
     "the training split has 510 images, fewer than one batch of 100000"),
    ("corrupt-image", lambda t: [*RUN, "--dataset", corrupt(t)], 2, "broken.png': not an image file"),
    ("csv-is-a-folder", lambda t: [*RUN, "--dataset", f"csv:{t}"], 2, "is a folder, not a labels file"),
    ("csv-missing", lambda t: [*RUN, "--dataset", f"csv:{t / 'labels.csv'}"], 2, "does not exist"),
    ("csv-no-rows", lambda t: [*RUN, "--dataset", csv_set(t, "image,label\n")], 2, "has no rows"),
    ("csv-no-label-column", lambda t: [*RUN, "--dataset", csv_set(t, "image\na\nb\nc\n")], 2,
     "has no label column (its columns: image)"),
    ("csv-unknown-label-column", lambda t: [*RUN, "--dataset", csv_set(t, "file,species\na,x\nb,y\n")], 2,
     "has no label column (its columns: file, species); name one of them label"),
    ("csv-label-only-in-test", lambda t: [*RUN, "--dataset", csv_set(
        t, "image,label,split\na,x,train\nb,y,train\nc,x,test\nd,z,test\n")], 2, "label 'z' occurs only in the test split"),
    ("csv-image-missing", lambda t: [*RUN, "--dataset", csv_set(t, "image,label\na,x\nnope,y\n")], 2,
     "image 'nope' listed in"),
    ("cifar-missing-offline", lambda t: [*RUN, "--dataset", "cifar10", "--data-root", str(t)], 2,
     "cifar10 not found: put the extracted cifar-10-python.tar.gz"),
    ("mnist-missing", lambda t: [*RUN, "--dataset", "mnist", "--data-root", str(t)], 2,
     "mnist not found: put its four IDX files"),
    ("data-root-missing", lambda t: [*RUN, "--dataset", "fashion-mnist", "--data-root", str(t / "nope")], 2,
     "/nope' is not a folder; give the folder that holds the data set"),
    # a --data-root given is the only place looked in: never the system copy instead
    ("data-root-without-the-set", lambda t: [*RUN, "--dataset", "fashion-mnist", "--data-root", str(t)], 2,
     "fashion-mnist not found: put its four IDX files"),
    ("flag-abbreviated", lambda t: [*RUN[:-4], "--epoch", "1", "--device", "cpu"], 2,
     "unrecognized arguments: --epoch 1; did you mean --epochs?"),
    ("recipe-field-as-flag", lambda t: [*RUN, "--lr", "0.1"], 2,
     "unrecognized arguments: --lr 0.1; --lr is a recipe field: set it with --set lr=0.1"),
    ("idx-truncated", lambda t: [*RUN, "--dataset", "mnist", "--data-root", idx_set(t, truncate=True)], 2,
     "train-images-idx3-ubyte' holds 100 bytes of data but its header promises 15680"),
    ("set-no-equals", lambda t: [*RUN, "--set", "lr"], 2, "--set 'lr': write KEY=VALUE"),
    ("set-unknown-field", lambda t: [*RUN, "--set", "learning_rate=0.1"], 2, "no recipe field 'learning_rate'"),
    ("set-seed-points-to-seeds", lambda t: [*RUN, "--set", "seed=3"], 2, "give their number with --seeds N"),
    ("another-launchers-flag", lambda t: [*RUN, "--slurm-time", "5"], 2, "--slurm-time needs --launcher slurm"),
    ("set-bad-value", lambda t: [*RUN, "--set", "schedule=linear"], 2,
     "'linear' is not allowed for schedule, which takes one of cosine, step, constant"),
    ("set-out-of-range", lambda t: [*RUN, "--set", "val_fraction=1.5"], 2, "a number > 0 and < 1"),
    ("set-disagrees", lambda t: [*RUN[:-4], "--epochs", "2", "--set", "epochs=3"], 2,
     "--epochs 2 and --set epochs=3 disagree"),
    ("set-input-size-too-small", lambda t: [*RUN, "--set", "input_size=0"], 2, "input_size, which takes a whole number ≥ 1"),
    ("suite-file-missing", lambda t: ["run", "--suite", str(t / "mine.toml")], 2, "mine.toml' does not exist"),
    ("suite-file-bad-toml", lambda t: ["run", "--suite", suite_file(t, "name = \n")], 2, "is not valid TOML"),
    ("suite-file-unknown-key", lambda t: ["run", "--suite", suite_file(t, 'seed = 3\n[[entries]]\nvariant = "plain32"\n')],
     2, "unknown key 'seed' (did you mean seeds?)"),
    ("suite-file-unknown-recipe-key", lambda t: ["run", "--suite", suite_file(
        t, '[recipe]\nepoch = 3\n[[entries]]\nvariant = "plain32"\n')], 2, "no recipe field 'epoch' (did you mean epochs?)"),
    ("suite-file-bad-recipe-value", lambda t: ["run", "--suite", suite_file(
        t, '[recipe]\nlr = "fast"\n[[entries]]\nvariant = "plain32"\n')], 2, "'fast' is not allowed for lr"),
    ("suite-file-no-entries", lambda t: ["run", "--suite", suite_file(t, 'seeds = 2\n')], 2, "has no [[entries]]"),
    ("suite-file-unknown-variant", lambda t: ["run", "--suite", suite_file(t, '[[entries]]\nvariant = "resnet19"\n')],
     2, "no registered variant matches 'resnet19'"),
    ("outside-module-missing", lambda t: [*RUN[:4], "nosuchpackage.models:net", *RUN[5:]], 2,
     "cannot import module 'nosuchpackage.models'"),
    ("outside-function-missing", lambda t: [*RUN[:4], "tests.toy_models:tiny_cn", *RUN[5:]], 2,
     "has no 'tiny_cn' (named by 'tests.toy_models:tiny_cn'); closest: tiny_cnn"),
    ("outside-not-callable", lambda t: [*RUN[:4], "tests.toy_models:NOT_A_FACTORY", *RUN[5:]], 2,
     "is not a function (it is int 42)"),
    ("timm-unknown", lambda t: [*RUN[:4], "timm:resnet18dd", *RUN[5:]], 2,
     "timm has no model 'resnet18dd'; closest: timm:resnet18d"),
    ("results-is-a-file", lambda t: [*RUN, "--dataset", "fake", "--results", str(t / "file.txt")], 2,
     "is a file, not a folder"),
    ("results-read-only", lambda t: [*RUN, "--dataset", "fake", "--results", "/sys/fs"], 2, "cannot be written"),
    ("models-input-size-0", lambda t: ["models", "--input-size", "0"], 2, "--input-size: 0 is too small"),
    ("models-tag-unknown", lambda t: ["models", "--tag", "nosuchtag"], 2,
     "no variant has the tag 'nosuchtag'; the tags are: cifar, depth, mobile, resnet, shortcut, stem"),
    ("models-pattern-unknown", lambda t: ["models", "resnet19"], 2, "closest: resnet18"),
    ("report-no-results", lambda t: ["report", "--results", str(t / "none"), "--out", str(t / "out")], 2,
     "no results under"),
    ("report-unknown-suite", lambda t: ["report", "--suite", "nope", "--results", str(t / "none")], 2,
     "no results under"),
    ("report-two-results-none-there", lambda t: ["report", "--results", str(t / "a"), "--results", str(t / "b")],
     2, "no results under '"),
    ("run-two-results", lambda t: [*RUN, "--results", str(t / "a"), "--results", str(t / "b")], 2,
     "--results given twice ("),
    ("set-train-limit-0", lambda t: [*RUN, "--set", "train_limit=0"], 2,
     "'0' is not allowed for train_limit, which takes a whole number ≥ 1, or none"),
    ("report-format-unknown", lambda t: ["report", "--format", "pdf"], 2,
     f"invalid choice: 'pdf' (choose from {', '.join(map(repr, REPORT_FORMATS))})"),  # the flag's one home
    ("compare-base-set-unknown-field", lambda t: ["compare", str(EXAMPLES), "--base-set", "batch=32"], 2,
     "--base-set batch=32: no recipe field 'batch' (did you mean batch_size?)"),
    ("compare-head-set-bad-value", lambda t: ["compare", str(EXAMPLES), "--head-set", "batch_size=x"], 2,
     "--head-set batch_size=x: 'x' is not allowed for batch_size"),
    ("compare-set-matching-nothing", lambda t: ["compare", str(EXAMPLES), "--head-set", "batch_size=128"], 2,
     "holds no run of suite"),
    ("compare-side-of-two-folders-one-missing", lambda t: ["compare", f"{EXAMPLES},{t / 'none'}", str(EXAMPLES)], 2,
     "no results under '"),
]
if torch.cuda.is_available():
    CASES.append(("device-cuda-99", lambda t: [*RUN[:-2], "--device", "cuda:99"], 2, "cuda:99"))
else:
    CASES.append(("device-cuda-without-gpu", lambda t: [*RUN[:-2], "--device", "cuda"], 2, "torch sees no CUDA GPU"))


def test_the_table_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name, setup, code, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line(name, setup, code, fragment, tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    if name == "results-read-only" and os.access("/sys/fs", os.W_OK) and Path("/sys/fs").is_dir():
        probe = Path("/sys/fs/.bench-probe")
        try:
            probe.touch()
            probe.unlink()
            pytest.skip("/sys/fs is writable on this machine")
        except OSError:
            pass
    args = setup(tmp_path)
    if args[0] == "run" and "--results" not in args:
        args = [*args, "--results", str(tmp_path / "results")]
    result = bench(*args, env={"BENCH_OFFLINE": "1"})
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    results = tmp_path / "results"
    for suite in suites_in(results):
        assert not (load_runs(results, suite)["status"] == "ok").any()
