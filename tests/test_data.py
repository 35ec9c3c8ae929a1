"""Every data set loader on small files in its real format, the splits, and the batched augmentation."""
from __future__ import annotations

import numpy as np
from PIL import Image
import pytest
import torch

from bench.data.augment import Preprocess, random_crop, random_flip
from bench.data.base import resize_uint8, stratified_split, stratified_subset
from bench.data.registry import load_dataset
from bench.core.errors import UsageError
from tests.helpers import COLORS, write_cifar10, write_cifar100, write_image, write_image_folder

CPU = torch.device("cpu")


def nearest_color(pixel: torch.Tensor) -> int:
    """Which of the class colours a (possibly JPEG-blurred) pixel is."""
    return int(torch.tensor(COLORS).sub(pixel).abs().sum(1).argmin())


def everything(source) -> tuple[torch.Tensor, torch.Tensor]:
    parts = list(source.batches(1000))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def test_stratified_split_is_disjoint_complete_proportional_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    kept, held = stratified_split(labels, 0.2, seed=3)
    assert len(np.intersect1d(kept, held)) == 0 and len(kept) + len(held) == 100
    assert [int((labels[held] == c).sum()) for c in range(4)] == [2, 4, 6, 8]
    assert np.array_equal(held, stratified_split(labels, 0.2, seed=3)[1])
    assert not np.array_equal(held, stratified_split(labels, 0.2, seed=4)[1])


def test_digits_sizes_channels_and_fixed_test_split():
    a = load_dataset("digits", None, 32, seed=0, val_fraction=0.2, device=CPU)
    b = load_dataset("digits", None, 32, seed=1, val_fraction=0.2, device=CPU)
    assert len(a.train) + len(a.val) + len(a.test) == 1797 and a.num_classes == 10 and not a.hflip
    x, _ = everything(a.train)
    assert x.shape[1:] == (3, 32, 32) and x.dtype == torch.uint8 and torch.equal(x[:, 0], x[:, 2])
    assert torch.equal(everything(a.test)[0], everything(b.test)[0])  # the test split does not move with the seed
    assert not torch.equal(everything(a.val)[0], everything(b.val)[0])  # the validation split does


def test_cifar10_reads_the_pickled_batches(tmp_path):
    data, labels = write_cifar10(tmp_path, per_batch=6)
    ds = load_dataset("cifar10", tmp_path, 32, seed=0, val_fraction=0.2, device=CPU)
    assert ds.classes[:3] == ["airplane", "automobile", "bird"] and ds.hflip
    assert len(ds.train) + len(ds.val) == 30 and len(ds.test) == 6
    x, y = everything(ds.train)
    # CIFAR rows are the R, G and B planes of 32×32 pixels in turn: find batch 1's first image among the train images.
    first = torch.from_numpy(data[0].reshape(3, 32, 32))
    train_and_val = torch.cat([x, everything(ds.val)[0]])
    matches = [i for i in range(len(train_and_val)) if torch.equal(train_and_val[i], first)]
    assert len(matches) == 1


def test_cifar100_uses_fine_labels(tmp_path):
    write_cifar100(tmp_path, n=12)
    ds = load_dataset("cifar100", tmp_path, 32, seed=0, val_fraction=0.25, device=CPU)
    assert ds.num_classes == 100 and ds.classes[7] == "fine7"
    assert sorted(everything(ds.test)[1].tolist()) == list(range(12))


def test_missing_cifar_names_where_the_files_go(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(UsageError, match=f"cifar-10-python.tar.gz at {tmp_path}/cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path, 32, seed=0, val_fraction=0.2, device=CPU)


def test_image_folder_with_train_and_test(tmp_path):
    classes = write_image_folder(tmp_path, per_class=5)
    ds = load_dataset(f"imagefolder:{tmp_path}", None, 16, seed=0, val_fraction=0.2, device=CPU)
    assert ds.classes == classes and len(ds.train) == 12 and len(ds.val) == 3 and len(ds.test) == 6
    x, y = everything(ds.train)
    assert x.shape[1:] == (3, 16, 16)
    for image, label in zip(x, y):  # each class is a solid colour: the pixels say which label it must carry
        assert nearest_color(image[:, 8, 8]) == label


def test_image_folder_without_test_carves_one(tmp_path):
    write_image_folder(tmp_path, per_class=10, test=False)
    ds = load_dataset(f"imagefolder:{tmp_path}", None, 8, seed=0, val_fraction=0.25, device=CPU)
    assert len(ds.test) == 6 and len(ds.train) + len(ds.val) == 24


def test_csv_labels_beside_an_image_folder(tmp_path):
    # Kaggle's retinopathy layout: trainLabels.csv with image ids (no extension) and a `level`, images in train/.
    rows = ["image,level"]
    for i in range(12):
        write_image(tmp_path / "train" / f"{i}_left.jpeg", COLORS[i % 2])
        rows.append(f"{i}_left,{[0, 4][i % 2]}")
    (tmp_path / "trainLabels.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(f"csv:{tmp_path / 'trainLabels.csv'}", None, 8, seed=0, val_fraction=0.2, device=CPU)
    assert ds.classes == ["0", "4"]
    x, y = everything(ds.train)
    for image, label in zip(x, y):
        assert nearest_color(image[:, 4, 4]) == int(label)


def test_csv_with_a_missing_image_names_it(tmp_path):
    (tmp_path / "labels.csv").write_text("image,label\nnowhere.png,cat\n")
    with pytest.raises(UsageError, match="image 'nowhere.png' listed in"):
        load_dataset(f"csv:{tmp_path / 'labels.csv'}", None, 8, seed=0, val_fraction=0.2, device=CPU)


def test_unreadable_image_is_named(tmp_path):
    write_image_folder(tmp_path, per_class=3)
    bad = tmp_path / "train" / "monarch" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(UsageError, match=f"cannot read image '{bad}'"):  # its header: named when loading
        load_dataset(f"imagefolder:{tmp_path}", None, 8, seed=0, val_fraction=0.0, device=CPU)
    # A file whose header reads but whose pixels are cut off is named when the image cache decodes it, also
    # before any training; so is a second one, counted.
    write_image(bad, COLORS[0], size=64)
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(UsageError, match=f"cannot decode image '{bad}': .*; remove or replace it"):
        load_dataset(f"imagefolder:{tmp_path}", None, 8, seed=0, val_fraction=0.0, device=CPU)
    other = tmp_path / "train" / "admiral" / "cut.png"
    other.write_bytes(bad.read_bytes())
    with pytest.raises(UsageError, match=r"\(and 1 more\); remove or replace it"):
        load_dataset(f"imagefolder:{tmp_path}", None, 8, seed=0, val_fraction=0.0, device=CPU)


def test_missing_folder_and_unknown_spec_are_one_line_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}", None, 8, 0, 0.2, CPU)
    with pytest.raises(UsageError, match="did you mean cifar10"):
        load_dataset("cifar11", None, 8, 0, 0.2, CPU)


def test_fake_is_marked_synthetic():
    assert load_dataset("fake", None, 16, 0, 0.2, CPU).synthetic


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    crops = random_crop(images, pad=2, generator=g)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for image, crop in zip(padded, crops):
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(image[:, dy:dy + 8, dx:dx + 8], crop)]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 1  # the offsets differ per image


def test_the_cpu_crop_flip_and_normalisation_give_the_gpu_formulas_bytes():
    from bench.data.augment import crop_offsets, gathered_crop, normalize

    images = torch.randint(0, 256, (64, 3, 20, 20), dtype=torch.uint8)
    buffer = torch.full_like(images, 7)  # a reused buffer's old contents must not leak into the padding
    cpu = random_crop(images, pad=5, generator=torch.Generator().manual_seed(1), out=buffer)
    dy, dx = crop_offsets(images, 5, torch.Generator().manual_seed(1))
    assert cpu is buffer and torch.equal(cpu, gathered_crop(images, 5, dy, dx))
    flip = torch.rand(64, generator=torch.Generator().manual_seed(2)) < 0.5
    expected = torch.where(flip[:, None, None, None], cpu.flip(3), cpu)
    assert torch.equal(random_flip(cpu.clone(), torch.Generator().manual_seed(2)), expected)
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.equal(normalize(images, mean, std, out=torch.empty(images.shape)), normalize(images, mean, std))


def test_random_flip_mirrors_some_images_and_keeps_the_rest():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 4, 4), dtype=torch.uint8)
    out = random_flip(images.clone(), g)  # on a CPU the flip is in place
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_digits_are_never_flipped_and_normalised_per_channel():
    ds = load_dataset("digits", None, 32, 0, 0.2, CPU)
    pre = Preprocess(ds, "crop-flip", CPU, torch.Generator().manual_seed(0))
    assert pre.crop and not pre.flip
    x = pre.eval(everything(ds.train)[0])
    assert x.mean().item() == pytest.approx(0, abs=1e-4) and x.std().item() == pytest.approx(1, abs=1e-3)


def test_resize_keeps_uint8_and_constant_images():
    x = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)
    y = resize_uint8(x, 32)
    assert y.dtype == torch.uint8 and y.shape == (2, 3, 32, 32) and (y == 77).all()


def test_same_seed_same_order():
    ds = load_dataset("fake", None, 8, 0, 0.2, CPU)
    a = [y for _, y in ds.train.batches(16, torch.Generator().manual_seed(5), drop_last=True)]
    b = [y for _, y in ds.train.batches(16, torch.Generator().manual_seed(5), drop_last=True)]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and len(a) == len(ds.train) // 16


def test_digits_at_8px_are_scikit_learns_images():
    from collections import Counter

    from sklearn.datasets import load_digits as sklearn_digits

    ref = sklearn_digits()
    expected = Counter((np.round(img * 255 / 16).astype(np.uint8).tobytes(), int(t)) for img, t in
                       zip(ref.images, ref.target))
    ds = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU)
    got = Counter()
    for split in (ds.train, ds.val, ds.test):
        x, y = everything(split)
        got.update((img[0].numpy().tobytes(), int(label)) for img, label in zip(x, y))
    assert got == expected
    assert len(ds.test) == sum(round(n / 2) for n in np.bincount(ref.target))  # half of every class: 898


def test_digits_summary_equals_counts_from_scikit_learn():
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target)  # 1,797 images in 10 classes, counted by scikit-learn
    # The test split is half of each class, rounded half to even; validation 20% of the rest, likewise.
    test = [round(n / 2) for n in per_class]
    val = [round(0.2 * (n - t)) for n, t in zip(per_class, test)]
    train = [n - t - v for n, t, v in zip(per_class, test, val)]
    summary = load_dataset("digits", None, 32, 0, 0.2, CPU).summary()
    assert summary.per_class == {"train": train, "val": val, "test": test}
    assert summary.total("test") == 898 and sum(train) + sum(val) == 899
    assert summary.sizes == {"8×8": 1797} and summary.modes == {"L": 1797} and summary.converted == 0
    assert f"images train {sum(train)}, val {sum(val)}, test 898" in summary.lines()[0]


def test_image_folder_summary_is_recorded_in_the_row(tmp_path):
    from bench.store.shards import load_runs
    from tests.helpers import bench

    write_image_folder(tmp_path / "data", per_class=10)  # 3 classes × 10 train (12×12 PNG), × 2 test (JPEG)
    for i in range(3):  # and three 16-bit gray images in the first class
        Image.fromarray(np.full((20, 20), 1000 * i, dtype=np.uint16)).save(tmp_path / "data" / "train" / "admiral"
                                                                            / f"gray{i}.png")
    result = bench("run", "--device", "cpu", "--suite", "shortcut", "--variants", "plain32", "--dataset", f"imagefolder:{tmp_path / 'data'}",
                   "--epochs", "1", "--batch-size", "4", "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    (row,) = load_runs(tmp_path / "r", "shortcut").to_dict("records")
    # No test split carving (test/ exists); validation: round(0.2 × 13) = 3 admirals, round(0.2 × 10) = 2 others.
    assert list(row["train_per_class"]) == [10, 8, 8] and list(row["val_per_class"]) == [3, 2, 2]
    assert list(row["test_per_class"]) == [2, 2, 2]
    assert (row["train_images"], row["val_images"], row["test_images"], row["converted_images"]) == (26, 7, 6, 3)
    assert "data imagefolder:" in result.stderr and "images train 26, val 7, test 6" in result.stderr
    assert "sizes 12×12 (36), 20×20 (3)" in result.stderr and "I;16 (3)" in result.stderr


def test_16_bit_pngs_are_scaled_not_clipped(tmp_path):
    rng = np.random.default_rng(0)
    values = {}
    for name in ("dark", "light"):
        for i in range(3):
            raw = rng.integers(0, 65536, (12, 12), dtype=np.uint16)
            path = tmp_path / "data" / "train" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(raw).save(path)
            values[str(path)] = raw
    data = load_dataset(f"imagefolder:{tmp_path / 'data'}", None, 12, 0, 0.2, CPU)
    assert data.summary().modes == {"I;16": 6}
    for source in (data.train, data.test):  # (3 images a class leave the validation split empty)
        images, _ = everything(source)  # in the split's order, as source.files lists them
        for image, path in zip(images, source.files, strict=True):
            expected = np.round(values[str(path)].astype(np.float64) * 255 / 65535)  # independent conversion
            for channel in image.numpy():
                assert np.abs(channel.astype(int) - expected).max() <= 1
            assert (image.numpy() == 255).mean() < 0.05  # PIL's plain convert("RGB") saturates ~99% of them


def test_palette_with_transparency_and_cmyk_decode_like_pil_through_rgba(tmp_path):
    from bench.data.check import to_rgb

    palette = Image.new("P", (6, 6))
    palette.putpalette([200, 10, 10, 10, 200, 10] + [0] * 762)
    palette.putpixel((0, 0), 1)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    Image.new("CMYK", (6, 6), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    with Image.open(tmp_path / "p.png") as img:
        rgb = np.asarray(to_rgb(img))
        assert rgb.shape == (6, 6, 3) and tuple(rgb[0, 0]) == (10, 200, 10) and tuple(rgb[1, 1]) == (200, 10, 10)
    with Image.open(tmp_path / "c.jpg") as img:
        assert img.mode == "CMYK"
        red = np.asarray(to_rgb(img))[0, 0].astype(int)  # C=0, M=Y=255: red
        assert red[0] > 240 and red[1] < 15 and red[2] < 15


def class_counts(labels, classes: int) -> list[int]:
    return np.bincount(np.asarray(labels), minlength=classes).tolist()


@pytest.mark.parametrize("limit", [500, 137])
def test_train_limit_gives_exactly_n_stratified_seeded_images(limit):
    full = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU)
    a = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU, train_limit=limit)
    again = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU, train_limit=limit)
    other = load_dataset("digits", None, 8, seed=1, val_fraction=0.2, device=CPU, train_limit=limit)
    assert len(a.train) == limit and len(other.train) == limit
    shares = np.bincount(full.train.targets(), minlength=10) / len(full.train)  # proportional, by hand
    assert all(abs(n - limit * share) < 1 for n, share in zip(class_counts(a.train.targets(), 10), shares))
    # every kept image is one of the full split's (the same pixels with its own label), chosen by the seed
    images, labels = everything(a.train)
    full_images, full_labels = everything(full.train)
    rows = {bytes(x.numpy().tobytes()): int(y) for x, y in zip(full_images, full_labels)}
    assert all(rows.get(bytes(x.numpy().tobytes())) == int(y) for x, y in zip(images, labels))
    assert torch.equal(everything(again.train)[0], images)
    labels = np.repeat(np.arange(3), [50, 30, 20])  # the seed chooses the members: another seed, other images
    assert not np.array_equal(stratified_subset(labels, 10, 0), stratified_subset(labels, 10, 1))
    assert class_counts(labels[stratified_subset(labels, 10, 0)], 3) == [5, 3, 2]
    # validation shrinks in proportion: 1,438 train : 359 val in the full split
    assert len(a.val) == round(len(full.val) * limit / len(full.train))
    assert len(a.test) == len(full.test)  # test_limit not given: the whole test split


def test_test_limit_is_stratified_and_the_same_for_every_seed():
    full = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU)
    a = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU, test_limit=300)
    b = load_dataset("digits", None, 8, seed=5, val_fraction=0.2, device=CPU, test_limit=300)
    assert len(a.test) == 300 and len(a.train) == len(full.train)
    shares = np.bincount(full.test.targets(), minlength=10) / len(full.test)
    assert all(abs(n - 300 * share) < 1 for n, share in zip(class_counts(a.test.targets(), 10), shares))
    assert torch.equal(everything(a.test)[0], everything(b.test)[0])  # paired comparisons see the same images


def test_a_limit_above_the_split_keeps_it_whole():
    full = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU)
    big = load_dataset("digits", None, 8, seed=0, val_fraction=0.2, device=CPU, train_limit=10**6, test_limit=10**6)
    assert (len(big.train), len(big.val), len(big.test)) == (len(full.train), len(full.val), len(full.test))


def test_train_limit_on_an_image_folder(tmp_path):
    write_image_folder(tmp_path, per_class=10)
    ds = load_dataset(f"imagefolder:{tmp_path}", None, 8, seed=0, val_fraction=0.2, device=CPU, train_limit=9)
    images, labels = everything(ds.train)
    assert len(ds.train) == 9 and images.shape[0] == 9 and len(ds.train.files) == 9
    assert max(class_counts(labels, ds.num_classes)) - min(class_counts(labels, ds.num_classes)) <= 1
