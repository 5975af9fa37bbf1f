import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from vit_edge import data
from vit_edge.errors import DataError


def test_idx_round_trip(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:3])
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:3])
    got_images, got_labels = data.load_split("train", tmp_path, allow_download=False)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert data.load_split("test", tmp_path, allow_download=False)[0].shape == (3, 28, 28)


def test_torchvision_layout_is_found(tmp_path: Path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    data.write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    data.write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    images, labels = data.load_split("test", tmp_path, allow_download=False)
    assert images.shape == (2, 28, 28) and labels.shape == (2,)


def _header(*ints: int) -> bytes:
    return np.array(ints, dtype=">i4").tobytes()


@pytest.mark.parametrize(
    ("raw", "magic", "message"),
    [
        (_header(2049, 1, 28, 28) + bytes(784), data.IMAGE_MAGIC, "bad IDX magic 2049"),
        (_header(2051, 1, 32, 32) + bytes(1024), data.IMAGE_MAGIC, "32x32, expected 28x28"),
        (_header(2051, 2, 28, 28) + bytes(784), data.IMAGE_MAGIC, "payload is 784 bytes, expected 1568"),
        (_header(2051, 2), data.IMAGE_MAGIC, "truncated IDX header"),
        (_header(2049, 3) + bytes(2), data.LABEL_MAGIC, "payload is 2 bytes, expected 3"),
    ],
)
def test_header_errors_name_the_file(raw: bytes, magic: int, message: str):
    with pytest.raises(DataError, match=message) as e:
        data.parse_idx(raw, Path("some/file-idx3-ubyte"), magic)
    assert "some/file-idx3-ubyte" in str(e.value)


def test_count_mismatch_between_images_and_labels(tiny_mnist: Path):
    data.write_idx(tiny_mnist / "t10k-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="holds 5 items, expected 200"):
        data.load_split("test", tiny_mnist, allow_download=False)


def test_corrupt_gzip_is_reported(tiny_mnist: Path):
    path = tiny_mnist / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: cannot read"):
        data.load_split("test", tiny_mnist, allow_download=False)


def test_missing_files_say_where_to_put_them(tmp_path: Path):
    with pytest.raises(DataError, match=f"not found in {tmp_path}.*--data-dir"):
        data.load_split("test", tmp_path, allow_download=False)


def test_data_dir_falls_back_to_env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("VIT_EDGE_DATA", str(tmp_path))
    assert data.resolve_data_dir(None) == tmp_path
    assert data.resolve_data_dir("elsewhere") == Path("elsewhere")
    monkeypatch.delenv("VIT_EDGE_DATA")
    assert data.resolve_data_dir(None).parts[-2:] == ("vit-edge", "mnist")


def _mirror(tmp_path: Path, body: bytes) -> str:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(body)
    return mirror.as_uri() + "/"


def test_download_verifies_md5(tmp_path: Path, monkeypatch):
    body = gzip.compress(_header(2049, 2) + bytes([3, 4]))
    mirror = _mirror(tmp_path, body)
    target = tmp_path / "data"
    with pytest.raises(DataError, match="MD5 .* != published"):
        data.download("t10k-labels-idx1-ubyte", target, (mirror,))
    assert not list(target.glob("*.gz")), "a file that failed its checksum must not stay"
    monkeypatch.setitem(data.GZ_MD5, "t10k-labels-idx1-ubyte.gz", hashlib.md5(body).hexdigest())
    path = data.download("t10k-labels-idx1-ubyte", target, (mirror,))
    assert path.read_bytes() == body


def test_unreachable_mirror_gives_one_clear_error(tmp_path: Path):
    with pytest.raises(DataError, match="could not be downloaded.*--data-dir"):
        data.download("t10k-labels-idx1-ubyte", tmp_path, ((tmp_path / "nowhere").as_uri() + "/",))


def test_split_is_deterministic_and_disjoint():
    images = np.arange(100, dtype=np.uint8).repeat(784).reshape(100, 28, 28)
    labels = np.arange(100, dtype=np.uint8) % 10
    a = data.train_val_split(images, labels, val_size=20, seed=3)
    b = data.train_val_split(images, labels, val_size=20, seed=3)
    np.testing.assert_array_equal(a.val_images, b.val_images)
    assert len(a.train_images) == 80 and len(a.val_images) == 20
    train_ids, val_ids = set(a.train_images[:, 0, 0]), set(a.val_images[:, 0, 0])
    assert not train_ids & val_ids and len(train_ids | val_ids) == 100
    everything = data.train_val_split(images, labels, val_size=0)
    assert len(everything.train_images) == 100 and len(everything.val_images) == 0
    with pytest.raises(DataError, match="between 0 and 99"):
        data.train_val_split(images, labels, val_size=100)


def test_shared_mnist_loads(shared_mnist: Path):
    images, labels = data.load_split("test", shared_mnist, allow_download=False)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert np.bincount(labels).min() > 800
