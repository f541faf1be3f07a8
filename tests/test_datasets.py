"""Tests for harness.datasets. Never touch the network: downloads use file:// URLs."""
from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness import datasets as D
from harness.registry import UnknownNameError

NAMES = ["digits", "fashion-mnist", "mnist1d", "synthetic"]
FASHION_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# --------------------------------------------------------------------------- helpers / fixtures


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as an idx file; gzipped if ``path`` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_fake_fashion(directory: Path, n_train: int = 20, n_test: int = 10, gz: bool = True,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Small valid Fashion-MNIST-shaped idx files; returns the uint8 arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255  # so the max pixel is known
    for stem, a in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), a)
    return arrays


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, cache_root):
    """No test reads the user's settings or writes to ~/.cache."""
    monkeypatch.setenv(D.ENV_CACHE_DIR, str(cache_root))
    monkeypatch.delenv(D.ENV_FASHION_MNIST_DIR, raising=False)
    monkeypatch.delenv(D.ENV_ALLOW_DOWNLOAD, raising=False)


@pytest.fixture(scope="session")
def mnist1d_generated(cache_root):
    """The first mnist1d load into an empty cache: (dataset, seconds, npz files before, after)."""
    pytest.importorskip("mnist1d")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(D.ENV_CACHE_DIR, str(cache_root))
        before = sorted((cache_root / "mnist1d").glob("*.npz"))
        t0 = time.perf_counter()
        ds = D.load("mnist1d")
        seconds = time.perf_counter() - t0
        after = sorted((cache_root / "mnist1d").glob("*.npz"))
    return ds, seconds, before, after


def load_any(name: str, request) -> D.Dataset:
    if name == "fashion-mnist" and D._find_idx_files(D.DEBIAN_FASHION_MNIST_DIR) is None:
        pytest.skip(f"{D.DEBIAN_FASHION_MNIST_DIR} missing (apt-get install dataset-fashion-mnist)")
    if name == "mnist1d":
        return request.getfixturevalue("mnist1d_generated")[0]
    return D.load(name)


# --------------------------------------------------------------------------- registry


def test_registry_lists_exactly_the_four_datasets():
    assert D.DATASETS.names() == NAMES


def test_unknown_name_lists_known_names_and_suggests_close_match():
    with pytest.raises(UnknownNameError) as e:
        D.load("fashion_mnist")
    msg = str(e.value)
    assert "Did you mean 'fashion-mnist'?" in msg
    for name in NAMES:
        assert name in msg


@pytest.mark.parametrize("name", NAMES)
def test_describe_is_one_informative_line(name):
    line = D.describe(name)
    assert line and "\n" not in line
    prefix = {"digits": "Digits:", "fashion-mnist": "Fashion-MNIST:", "mnist1d": "MNIST-1D:",
              "synthetic": "Synthetic:"}[name]
    assert line.startswith(prefix) and len(line) > len(prefix) + 20


def test_import_is_light():
    code = ("import sys, harness.datasets as d; d.describe('digits'); "
            "print(sorted(m for m in ('torch', 'sklearn', 'mnist1d') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- every entry


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_obeys_the_contract(name, request):
    ds = load_any(name, request)
    assert ds.name == name
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.shape == (ds.n_train, ds.n_features) and ds.x_test.shape == (ds.n_test, ds.n_features)
    assert ds.n_features == int(np.prod(ds.shape)) and ds.shape[0] == 1
    assert 0 < ds.n_train <= 60000 and 0 < ds.n_test <= 10000  # size cap: these must stay small
    assert set(np.unique(ds.y_train)) == set(range(ds.classes))
    assert np.isfinite(ds.x_train).all()
    assert ds.digest == D.array_digest(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    assert ds.source
    assert not ds.x_train.flags.writeable  # load() shares one object between callers
    assert D.load(name) is D.load(name)  # in-process cache


def test_digits_split_and_range():
    ds = D.load("digits")
    assert (ds.n_train, ds.n_test) == (1348, 449) and ds.shape == (1, 8, 8)
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # stratified: every class has about a quarter of its examples in the test set
    total = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=10)
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - 0.25 * total) <= 1)


# --------------------------------------------------------------------------- digest and subsample


def test_digest_stable_across_loads_and_sensitive_to_data():
    a = D.synthetic(seed=3)
    b = D.synthetic(seed=3)
    assert a is not b and a.digest == b.digest
    assert D.synthetic(seed=4).digest != a.digest
    x = a.x_train.copy()
    x[0, 0] += 1e-3
    assert D.array_digest(x, a.y_train, a.x_test, a.y_test) != a.digest
    # dtype and shape are hashed, not only the bytes
    v = np.arange(12, dtype=np.int32)
    assert D.array_digest(v) != D.array_digest(v.view(np.float32))
    assert D.array_digest(v) != D.array_digest(v.reshape(3, 4))
    assert len(a.digest) == 64 and int(a.digest, 16) >= 0


def test_subsample_sizes_digest_determinism():
    ds = D.synthetic(n_train=200)
    s1 = ds.subsample(50, seed=1)
    s2 = ds.subsample(50, seed=1)
    s3 = ds.subsample(50, seed=2)
    assert s1.n_train == 50 and s1.name == ds.name
    assert s1.digest == s2.digest and s1.digest != s3.digest and s1.digest != ds.digest
    assert np.array_equal(s1.x_test, ds.x_test) and np.array_equal(s1.y_test, ds.y_test)
    # the rows are distinct rows of the original, in their original order
    idx = np.sort(np.random.default_rng(1).choice(200, 50, replace=False))
    assert np.array_equal(s1.x_train, ds.x_train[idx]) and np.array_equal(s1.y_train, ds.y_train[idx])
    assert ds.subsample(None, seed=0) is ds
    assert "subsample(n_train=50, seed=1)" in s1.source


def test_stratified_subsample_keeps_class_proportions():
    ds = D.synthetic(n_train=1000)
    s = ds.subsample(100, seed=0, stratify=True)
    expected = np.bincount(ds.y_train, minlength=ds.classes) / 10
    assert s.n_train == 100
    assert np.all(np.abs(np.bincount(s.y_train, minlength=ds.classes) - expected) < 1)


def test_subsample_too_large_names_both_numbers():
    ds = D.synthetic(n_train=100)
    with pytest.raises(ValueError, match=r"n_train=101.*100"):
        ds.subsample(101, seed=0)
    with pytest.raises(ValueError):
        ds.subsample(0, seed=0)


def test_load_applies_n_train_to_the_cached_dataset():
    full = D.load("synthetic")
    sub = D.load("synthetic", n_train=64, subsample_seed=5)
    assert sub.n_train == 64 and sub.digest == full.subsample(64, 5).digest
    assert D.load("synthetic") is full  # the full dataset stayed cached


# --------------------------------------------------------------------------- fashion-mnist


@pytest.fixture(scope="module")
def debian_fashion():
    if D._find_idx_files(D.DEBIAN_FASHION_MNIST_DIR) is None:
        pytest.skip(f"{D.DEBIAN_FASHION_MNIST_DIR} missing (apt-get install dataset-fashion-mnist)")
    return D.fashion_mnist()


def test_fashion_mnist_from_debian_dir(debian_fashion):
    ds = debian_fashion
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.shape == (1, 28, 28) and ds.classes == 10
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert 0.0 <= ds.x_test.min() and ds.x_test.max() <= 1.0
    assert np.array_equal(np.bincount(ds.y_train), np.full(10, 6000))  # Fashion-MNIST is balanced
    assert ds.source == str(D.DEBIAN_FASHION_MNIST_DIR)
    # the Debian files are the official ones
    for name, sha in D.FASHION_MNIST_SHA256.items():
        assert D._sha256_file(D.DEBIAN_FASHION_MNIST_DIR / name) == sha


def test_fashion_mnist_n_train(debian_fashion):
    sub = debian_fashion.subsample(1000, seed=0)
    assert sub.x_train.shape == (1000, 784) and sub.n_test == 10000


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_env_dir(tmp_path, monkeypatch, gz):
    arrays = write_fake_fashion(tmp_path / "fm", gz=gz)
    monkeypatch.setenv(D.ENV_FASHION_MNIST_DIR, str(tmp_path / "fm"))
    ds = D.load("fashion-mnist")
    assert ds.x_train.shape == (20, 784) and ds.x_test.shape == (10, 784)
    assert ds.source == str(tmp_path / "fm")
    assert np.allclose(ds.x_train, arrays["train-images-idx3-ubyte"].reshape(20, 784) / 255.0)
    assert ds.x_train.max() == 1.0
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert D.load("fashion-mnist", n_train=5).n_train == 5


def test_env_dir_without_files_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(D.ENV_FASHION_MNIST_DIR, str(tmp_path))
    with pytest.raises(D.DataUnavailableError, match=D.ENV_FASHION_MNIST_DIR):
        D.load("fashion-mnist")


def test_read_idx_roundtrip_and_malformed_files(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(D.read_idx(write_idx(tmp_path / "ok.gz", a)), a)
    good = (tmp_path / "ok.gz").read_bytes()
    raw = gzip.decompress(good)
    cases = {
        "badmagic": b"\x01\x02" + raw[2:],
        "badtype": raw[:2] + b"\x07" + raw[3:],
        "truncated": raw[:-1],
        "extra": raw + b"\x00",
        "header": raw[:6],
        "empty": b"",
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.gz"
        p.write_bytes(gzip.compress(data))
        with pytest.raises(D.IdxFormatError):
            D.read_idx(p)
    (tmp_path / "notgzip.gz").write_bytes(raw)
    with pytest.raises(D.IdxFormatError, match="gzip"):
        D.read_idx(tmp_path / "notgzip.gz")


def test_malformed_fashion_file_raises_on_load(tmp_path, monkeypatch):
    write_fake_fashion(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x14abc"))
    monkeypatch.setenv(D.ENV_FASHION_MNIST_DIR, str(tmp_path))
    with pytest.raises(D.IdxFormatError, match="train-labels"):
        D.load("fashion-mnist")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nonexistent")
    monkeypatch.setenv(D.ENV_CACHE_DIR, str(tmp_path / "cache"))
    D.clear_cache()
    with pytest.raises(D.DataUnavailableError) as e:
        D.load("fashion-mnist")
    msg = str(e.value)
    for needle in ("apt-get install dataset-fashion-mnist", "HARNESS_FASHION_MNIST_DIR", "HARNESS_ALLOW_DOWNLOAD=1"):
        assert needle in msg
    assert not (tmp_path / "cache").exists()  # nothing written, nothing fetched


def _serve_fake_fashion(tmp_path, monkeypatch) -> str:
    """Fake official files under a file:// URL, with the checksum table pointing at them."""
    src = tmp_path / "server"
    write_fake_fashion(src)
    monkeypatch.setattr(D, "FASHION_MNIST_SHA256", {
        f"{stem}.gz": hashlib.sha256((src / f"{stem}.gz").read_bytes()).hexdigest() for stem in FASHION_FILES})
    return src.as_uri() + "/"


def test_download_via_file_url_with_checksums(tmp_path, monkeypatch):
    url = _serve_fake_fashion(tmp_path, monkeypatch)
    dest = D.download_fashion_mnist(tmp_path / "dl", base_url=url)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in FASHION_FILES)
    for stem in FASHION_FILES:
        assert (dest / f"{stem}.gz").read_bytes() == (tmp_path / "server" / f"{stem}.gz").read_bytes()


def test_load_downloads_only_when_allowed(tmp_path, monkeypatch):
    url = _serve_fake_fashion(tmp_path, monkeypatch)
    monkeypatch.setattr(D, "FASHION_MNIST_URL", url)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nonexistent")
    monkeypatch.setenv(D.ENV_CACHE_DIR, str(tmp_path / "cache"))
    D.clear_cache()
    with pytest.raises(D.DataUnavailableError):
        D.load("fashion-mnist")
    monkeypatch.setenv(D.ENV_ALLOW_DOWNLOAD, "1")
    ds = D.load("fashion-mnist")
    assert ds.n_train == 20 and ds.source == str(tmp_path / "cache" / "fashion-mnist")
    # later loads use the download cache even without the opt-in
    monkeypatch.delenv(D.ENV_ALLOW_DOWNLOAD)
    D.clear_cache()
    assert D.load("fashion-mnist").digest == ds.digest


def test_download_checksum_mismatch_raises_and_leaves_nothing(tmp_path, monkeypatch):
    url = _serve_fake_fashion(tmp_path, monkeypatch)
    table = dict(D.FASHION_MNIST_SHA256)
    first = next(iter(table))
    good = table[first]
    table[first] = "0" * 64
    monkeypatch.setattr(D, "FASHION_MNIST_SHA256", table)
    dest = tmp_path / "dl"
    with pytest.raises(D.ChecksumMismatchError) as e:
        D.download_fashion_mnist(dest, base_url=url)
    assert good in str(e.value) and "0" * 64 in str(e.value)
    assert isinstance(e.value, D.DataUnavailableError)
    assert list(dest.iterdir()) == []  # no temporary file, no file under the final name


# --------------------------------------------------------------------------- mnist1d


def test_mnist1d_generates_and_caches(mnist1d_generated, cache_root, monkeypatch):
    ds, first_seconds, before, after = mnist1d_generated
    assert (ds.n_train, ds.n_test, ds.n_features, ds.shape) == (4000, 1000, 40, (1, 40))
    assert before == [] and len(after) == 1 and after[0].parent == cache_root / "mnist1d"
    assert ds.source.startswith("mnist1d.make_dataset(seed=42)")
    # a second load in a fresh process state reads the npz and never generates
    D.clear_cache()
    class Regenerated(Exception):
        pass

    def refuse(args):
        raise Regenerated

    monkeypatch.setattr(D, "_generate_mnist1d", refuse)
    t0 = time.perf_counter()
    again = D.load("mnist1d")
    assert again.digest == ds.digest and time.perf_counter() - t0 < max(0.5, first_seconds / 3)
    # a different seed is a different cache entry (not generated here: the stub would fail)
    with pytest.raises(Regenerated):
        D.load("mnist1d", seed=1)


def test_mnist1d_generation_leaves_global_rngs_alone(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d")
    import random

    monkeypatch.setenv(D.ENV_CACHE_DIR, str(tmp_path))
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    ds = D.load("mnist1d", num_samples=100)  # small, so generation is quick
    assert (np.random.random(), random.random()) == expected
    assert (ds.n_train, ds.n_test) == (80, 20) and "num_samples=100" in ds.source


def test_mnist1d_rejects_unknown_generation_args():
    pytest.importorskip("mnist1d")
    with pytest.raises(TypeError, match="num_sample"):
        D.load("mnist1d", num_sample=10)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_has_the_documented_spectrum():
    dim = 8
    ds = D.synthetic(n_train=40000, n_test=10, dim=dim, seed=1)
    x = ds.x_train.astype(np.float64)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    expected = 0.5 ** np.arange(dim)
    assert np.allclose(D.synthetic_spectrum(dim), expected)
    assert np.allclose(evals, expected, rtol=0.05)
    q = D.synthetic_basis(dim, seed=1)
    assert np.allclose(q.T @ q, np.eye(dim), atol=1e-12)
    # the top principal directions are the basis columns (up to sign)
    assert np.all(np.abs(np.sum(evecs[:, :3] * q[:, :3], axis=0)) > 0.99)
    # in the basis coordinates the covariance is diagonal with the stated variances
    assert np.allclose(np.var(x @ q, axis=0), expected, rtol=0.05)


def test_synthetic_is_deterministic_and_prefix_stable():
    a = D.synthetic(n_train=100, seed=0)
    b = D.synthetic(n_train=300, n_test=50, seed=0)
    assert np.array_equal(a.x_train, b.x_train[:100]) and np.array_equal(a.y_train, b.y_train[:100])
    ds = D.load("synthetic")
    assert (ds.n_train, ds.n_test, ds.n_features, ds.classes, ds.shape) == (512, 256, 16, 4, (1, 16))
    assert np.bincount(ds.y_train, minlength=4).min() > 512 / 4 / 4  # no class starved
