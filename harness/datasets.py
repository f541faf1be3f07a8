"""Datasets: a registry of factories that return in-memory numpy arrays.

Each entry of ``DATASETS`` is a plain factory whose keyword arguments override
its defaults; ``load(name, **kwargs)`` looks the name up, calls the factory and
keeps the result in an in-process cache. Factories return a frozen ``Dataset``
holding four arrays -- x as float32 of shape (N, n_features), one flattened row
per example, and y as int64 class indices -- plus ``shape``, the shape of one
example (channels first, e.g. (1, 28, 28)), so that a CNN reshapes with
``x.reshape(-1, *ds.shape)`` while an MLP uses the rows as they are.

Every dataset carries ``digest``: a SHA-256 over the dtype, shape and bytes of
its four arrays, which every result logs so that "the same data" is checkable.
The arrays are made read-only, because ``load`` hands the same object to every
caller; copy before changing them (``torch.tensor`` copies; ``torch.from_numpy``
would warn about the read-only buffer).

Nothing here reaches the internet unless the user opts in with
``HARNESS_ALLOW_DOWNLOAD=1``. Environment variables:

``HARNESS_CACHE_DIR``          root of every on-disk cache (default ``~/.cache/harness``):
                               ``<root>/fashion-mnist`` (downloads), ``<root>/mnist1d`` (generated arrays)
``HARNESS_FASHION_MNIST_DIR``  a directory holding the four Fashion-MNIST idx files
``HARNESS_ALLOW_DOWNLOAD=1``   allow fetching Fashion-MNIST from its official source, checked by SHA-256

This module imports only numpy at import time: scikit-learn and mnist1d are
imported inside their factories (and torch never), so listing datasets is cheap.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import inspect
import json
import os
import random
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.registry import Registry

DATASETS: Registry[Callable[..., "Dataset"]] = Registry("dataset")

ENV_CACHE_DIR = "HARNESS_CACHE_DIR"
ENV_FASHION_MNIST_DIR = "HARNESS_FASHION_MNIST_DIR"
ENV_ALLOW_DOWNLOAD = "HARNESS_ALLOW_DOWNLOAD"
DEFAULT_CACHE_DIR = Path("~/.cache/harness")

# Where Debian's `dataset-fashion-mnist` package installs the idx files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Official source (zalandoresearch/fashion-mnist README); used only with HARNESS_ALLOW_DOWNLOAD=1.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the official gzipped files (checked against the Debian package's copies).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
# The four files by role, without the .gz suffix (either form is accepted on disk).
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class DataUnavailableError(RuntimeError):
    """The data is not on this machine; the message says exactly how to get it."""


class ChecksumMismatchError(DataUnavailableError):
    """A downloaded file's SHA-256 differs from the expected one (the file is discarded)."""


class IdxFormatError(ValueError):
    """A file is not a well-formed idx file."""


# --------------------------------------------------------------------------- Dataset


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 hex over each array's dtype, shape and C-order bytes, in order.

    The dtype and shape are part of the hash, so a reshape or a reinterpreting
    view of the same bytes gives a different digest."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train and test arrays with where they came from.

    x_*: float32, shape (N, n_features), one flattened example per row.
    y_*: int64 class indices in [0, classes).
    shape: shape of one example, channels first; ``x.reshape(-1, *shape)`` restores it.
    digest: ``array_digest(x_train, y_train, x_test, y_test)``.
    Equality is identity; compare ``digest`` to compare contents.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    digest: str
    source: str
    classes: int
    shape: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.float32 or y.dtype != np.int64:
                raise ValueError(f"{self.name}: x_{split} must be float32 and y_{split} int64, "
                                 f"got {x.dtype} and {y.dtype} (use Dataset.from_arrays to convert)")
            if x.ndim != 2 or x.shape[1] != self.n_features:
                raise ValueError(f"{self.name}: x_{split} has shape {x.shape}, expected (N, {self.n_features}) "
                                 f"for examples of shape {self.shape}")
            if y.shape != (x.shape[0],):
                raise ValueError(f"{self.name}: y_{split} has shape {y.shape}, expected ({x.shape[0]},)")
            if y.size and (y.min() < 0 or y.max() >= self.classes):
                raise ValueError(f"{self.name}: y_{split} has labels outside [0, {self.classes})")
            x.setflags(write=False)
            y.setflags(write=False)

    @classmethod
    def from_arrays(cls, name: str, x_train, y_train, x_test, y_test, *, source: str,
                    classes: int, shape: tuple) -> "Dataset":
        """Build a Dataset: converts dtypes, flattens x to (N, prod(shape)), computes the digest."""
        n_features = int(np.prod(shape))
        xs = [np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), n_features))
              for x in (x_train, x_test)]
        ys = [np.ascontiguousarray(np.asarray(y).astype(np.int64, copy=False)) for y in (y_train, y_test)]
        return cls(name=name, x_train=xs[0], y_train=ys[0], x_test=xs[1], y_test=ys[1],
                   digest=array_digest(xs[0], ys[0], xs[1], ys[1]), source=source,
                   classes=int(classes), shape=tuple(shape))

    @property
    def n_features(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def provenance(self) -> dict[str, str]:
        """What a tracked run logs about its data."""
        return {"dataset": self.name, "data_digest": self.digest, "data_source": self.source,
                "n_train": str(self.n_train), "n_test": str(self.n_test)}

    def subsample(self, n_train: int | None, seed: int, *, stratify: bool = False) -> "Dataset":
        """A random subset of ``n_train`` training examples; the test set is unchanged.

        Indices come from ``numpy.random.default_rng(seed).choice`` without
        replacement (``stratify=True``: per class, in proportion to the class
        counts) and are kept in their original order: a subset, not a
        reshuffle. ``n_train=None`` or the full size returns ``self``."""
        if n_train is None or n_train == self.n_train:
            return self
        if not 0 < n_train <= self.n_train:
            raise ValueError(f"{self.name}: cannot subsample n_train={n_train} examples from the "
                             f"{self.n_train} training examples available")
        rng = np.random.default_rng(seed)
        if stratify:
            idx = _stratified_choice(self.y_train, n_train, rng)
        else:
            idx = np.sort(rng.choice(self.n_train, size=n_train, replace=False))
        how = "stratified " if stratify else ""
        return Dataset.from_arrays(
            self.name, self.x_train[idx], self.y_train[idx], self.x_test, self.y_test,
            source=f"{self.source} | {how}subsample(n_train={n_train}, seed={seed})",
            classes=self.classes, shape=self.shape)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.n_train}, test={self.n_test}, shape={self.shape}, "
                f"classes={self.classes}, digest={self.digest[:12]}, source={self.source!r})")


def _stratified_choice(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` elements of ``y``, each class drawn in proportion to its count
    (largest-remainder rounding, ties to the lower class index)."""
    labels, counts = np.unique(y, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    short = n - int(quota.sum())
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:short]] += 1
    picked = [rng.choice(np.flatnonzero(y == lab), size=q, replace=False)
              for lab, q in zip(labels, quota) if q]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------- load / describe


def load(name: str, **kwargs) -> Dataset:
    """The dataset ``name`` built by its factory with ``kwargs`` overriding the defaults.

    Unknown names raise ``registry.UnknownNameError`` listing the known ones.
    ``n_train``/``subsample_seed`` are applied here to the cached full dataset,
    so several subsample sizes share one load. Results are cached in-process by
    (name, kwargs, the HARNESS_* environment); ``clear_cache()`` empties it."""
    DATASETS.get(name)  # raise early, with the known names, for an unknown one
    n_train = kwargs.pop("n_train", None)
    subsample_seed = kwargs.pop("subsample_seed", 0)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("HARNESS_")))
    items = tuple(sorted(kwargs.items()))
    try:
        hash(items)
    except TypeError:  # unhashable kwarg values: build without caching
        full = DATASETS.get(name)(**kwargs)
    else:
        full = _load_cached(name, items, env)
    return full.subsample(n_train, subsample_seed)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, items: tuple, env: tuple) -> Dataset:
    return DATASETS.get(name)(**dict(items))


def clear_cache() -> None:
    """Forget every dataset ``load`` has cached in this process."""
    _load_cached.cache_clear()


def describe(name: str) -> str:
    """One line for ``harness list datasets``: the first line of the factory's docstring."""
    doc = inspect.getdoc(DATASETS.get(name)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cache_root() -> Path:
    """Root of the on-disk caches: ``$HARNESS_CACHE_DIR`` or ``~/.cache/harness``."""
    return Path(os.environ.get(ENV_CACHE_DIR) or DEFAULT_CACHE_DIR).expanduser()


def _download_allowed() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- idx files

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an idx file (gzipped if the name ends in .gz) into an array.

    Format: two zero bytes, a dtype code, the number of dimensions, one
    big-endian uint32 per dimension, then the data. Anything else raises
    ``IdxFormatError``."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise IdxFormatError(f"{path}: not a valid gzip file: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise IdxFormatError(f"{path}: bad idx magic number {raw[:4].hex() or '(empty)'}; "
                             f"expected 0000<dtype code><ndim>")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise IdxFormatError(f"{path}: idx header truncated or has no dimensions (ndim={ndim})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IdxFormatError(f"{path}: idx header says {dims} x {dtype.itemsize} bytes = {expected} "
                             f"bytes of data, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST files in ``directory`` (gzipped or not), or None if any is missing."""
    found = {}
    for role, stem in FASHION_MNIST_FILES.items():
        for candidate in (directory / f"{stem}.gz", directory / stem):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            return None
    return found


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_fashion_mnist(dest: str | os.PathLike, base_url: str | None = None) -> Path:
    """Fetch the four gzipped Fashion-MNIST files from ``base_url`` (default
    ``FASHION_MNIST_URL``; a ``file://`` URL works too) into ``dest``.

    Each file is streamed to a temporary file in ``dest``, checked against
    ``FASHION_MNIST_SHA256`` and only then renamed into place, so an
    interrupted or corrupt download never leaves a file under its final name.
    Files already present are kept. A mismatch deletes the temporary file and
    raises ``ChecksumMismatchError`` with both hashes."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    base = (base_url or FASHION_MNIST_URL).rstrip("/") + "/"
    for fname, expected in FASHION_MNIST_SHA256.items():
        final = dest / fname
        if final.is_file():
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=dest)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(base + fname, timeout=60) as resp:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
            got = h.hexdigest()
            if got != expected:
                raise ChecksumMismatchError(
                    f"{base + fname}: SHA-256 {got} does not match the expected {expected}; "
                    f"the file was discarded. Retry later or use another copy "
                    f"(apt-get install dataset-fashion-mnist, or {ENV_FASHION_MNIST_DIR}).")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    return dest


def _fashion_mnist_dir() -> Path:
    """Where the Fashion-MNIST idx files are; see ``fashion_mnist`` for the order."""
    explicit = os.environ.get(ENV_FASHION_MNIST_DIR)
    if explicit:
        # An explicit path that is wrong is an error, not a reason to use other data silently.
        d = Path(explicit).expanduser()
        if _find_idx_files(d) is None:
            raise DataUnavailableError(
                f"{ENV_FASHION_MNIST_DIR}={explicit} does not hold the four Fashion-MNIST idx files "
                f"({', '.join(s + '[.gz]' for s in FASHION_MNIST_FILES.values())}). "
                f"Point it at the directory that does, or unset it to use "
                f"{DEBIAN_FASHION_MNIST_DIR} or the download cache.")
        return d
    cache = cache_root() / "fashion-mnist"
    for d in (Path(DEBIAN_FASHION_MNIST_DIR), cache):
        if _find_idx_files(d) is not None:
            return d
    if _download_allowed():
        return download_fashion_mnist(cache, FASHION_MNIST_URL)
    raise DataUnavailableError(
        f"Fashion-MNIST not found (looked in ${ENV_FASHION_MNIST_DIR} (unset), "
        f"{DEBIAN_FASHION_MNIST_DIR}, {cache}). Get it one of three ways:\n"
        f"  1. Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist  (installs {DEBIAN_FASHION_MNIST_DIR})\n"
        f"  2. export {ENV_FASHION_MNIST_DIR}=/path/to/idx/files  (a directory with "
        f"{', '.join(s + '.gz' for s in FASHION_MNIST_FILES.values())}; gzipped or not)\n"
        f"  3. export {ENV_ALLOW_DOWNLOAD}=1  to fetch them from {FASHION_MNIST_URL} into {cache}, "
        f"each checked against its SHA-256")


# --------------------------------------------------------------------------- factories


@DATASETS.register("fashion-mnist")
def fashion_mnist(n_train: int | None = None, subsample_seed: int = 0) -> Dataset:
    """Fashion-MNIST: 60000/10000 28x28 grayscale clothing images, 10 classes (local idx files).

    Looked up in order: ``$HARNESS_FASHION_MNIST_DIR`` (an error if set but
    incomplete), ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``), ``$HARNESS_CACHE_DIR/fashion-mnist``; then, only
    with ``HARNESS_ALLOW_DOWNLOAD=1``, downloaded there with SHA-256 checks.
    Pixels are scaled to [0, 1]; x is (N, 784) with ``shape=(1, 28, 28)``.
    ``n_train`` keeps a random subset of the training set (``subsample_seed``)."""
    directory = _fashion_mnist_dir()
    files = _find_idx_files(directory)
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise IdxFormatError(f"{directory}: Fashion-MNIST {split} images {x.shape} and labels {y.shape} "
                                 f"do not fit (expected (N, 28, 28) and (N,))")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise IdxFormatError(f"{directory}: Fashion-MNIST {split} labels outside 0..9")
    ds = Dataset.from_arrays(
        "fashion-mnist",
        arrays["x_train"].astype(np.float32) / np.float32(255), arrays["y_train"],
        arrays["x_test"].astype(np.float32) / np.float32(255), arrays["y_test"],
        source=str(directory), classes=10, shape=(1, 28, 28))
    return ds.subsample(n_train, subsample_seed)


@DATASETS.register("digits")
def digits(test_fraction: float = 0.25, split_seed: int = 0, n_train: int | None = None,
           subsample_seed: int = 0) -> Dataset:
    """Digits: scikit-learn's 1797 8x8 handwritten digits, 10 classes, fixed stratified 75/25 split.

    Pixels (0..16) are divided by 16 to [0, 1]; x is (N, 64) with
    ``shape=(1, 8, 8)``. The split draws round(test_fraction * N) test examples
    per class in proportion with ``numpy.random.default_rng(split_seed)``
    (implemented here, so it does not change with scikit-learn's version)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataUnavailableError("the digits dataset needs scikit-learn: pip install scikit-learn") from e
    bunch = load_digits()
    x, y = bunch.data / 16.0, bunch.target.astype(np.int64)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    test = _stratified_choice(y, int(round(test_fraction * len(y))), np.random.default_rng(split_seed))
    train = np.setdiff1d(np.arange(len(y)), test)
    ds = Dataset.from_arrays(
        "digits", x[train], y[train], x[test], y[test],
        source=f"sklearn.datasets.load_digits (stratified split test_fraction={test_fraction}, "
               f"split_seed={split_seed})",
        classes=10, shape=(1, 8, 8))
    return ds.subsample(n_train, subsample_seed)


def _generate_mnist1d(args) -> dict:
    """Call ``mnist1d.data.make_dataset`` without disturbing the global RNGs it reseeds."""
    from mnist1d.data import make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


@DATASETS.register("mnist1d")
def mnist1d(seed: int | None = None, n_train: int | None = None, subsample_seed: int = 0,
            **overrides) -> Dataset:
    """MNIST-1D: 4000/1000 length-40 1D signals, 10 classes, generated locally by the mnist1d package.

    ``seed`` defaults to the package's default (``get_dataset_args().seed``,
    42); other keyword arguments override the other generation arguments
    (``num_samples``, ``shuffle_seq``, ...). Never downloads: the arrays are
    generated with ``mnist1d.data.make_dataset`` and cached as
    ``$HARNESS_CACHE_DIR/mnist1d/mnist1d-<hash of the args>.npz``.
    x is (N, 40) with ``shape=(1, 40)``."""
    try:
        from mnist1d.data import get_dataset_args
    except ImportError as e:
        raise DataUnavailableError("the mnist1d dataset is generated by the mnist1d package: "
                                   "pip install mnist1d") from e
    args = get_dataset_args(as_dict=True)
    args.pop("url", None)  # only used by the package's downloader, which we never call
    if seed is not None:
        overrides["seed"] = seed
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise TypeError(f"mnist1d: unknown generation argument(s) {unknown}; known: {sorted(args)}")
    args.update(overrides)
    try:
        from importlib.metadata import version
        pkg_version = version("mnist1d")
    except Exception:  # metadata missing (e.g. a source checkout)
        pkg_version = "unknown"
    key_text = json.dumps({"args": args, "mnist1d": pkg_version}, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    path = cache_root() / "mnist1d" / f"mnist1d-{key}.npz"
    defaults = get_dataset_args(as_dict=True)
    changed = "".join(f", {k}={v!r}" for k, v in sorted(args.items()) if k != "seed" and defaults.get(k) != v)
    source = f"mnist1d.make_dataset(seed={args['seed']}{changed}) [mnist1d {pkg_version}]"

    ds = _read_mnist1d_cache(path, source)
    if ds is None:
        data = _generate_mnist1d(_ObjectView(args))
        ds = Dataset.from_arrays("mnist1d", data["x"], data["y"], data["x_test"], data["y_test"],
                                 source=source, classes=10, shape=(1, data["x"].shape[1]))
        _write_npz_atomic(path, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
                          y_test=ds.y_test, digest=np.array(ds.digest), args=np.array(key_text))
    return ds.subsample(n_train, subsample_seed)


class _ObjectView:
    """Attribute access to a dict, as mnist1d's ``make_dataset`` expects its args."""

    def __init__(self, d: dict):
        self.__dict__.update(d)


def _read_mnist1d_cache(path: Path, source: str) -> Dataset | None:
    """The cached arrays, or None if absent, unreadable or not matching their stored digest."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            stored = str(z["digest"])
        ds = Dataset.from_arrays("mnist1d", *arrays.values(), source=source, classes=10,
                                 shape=(1, arrays["x_train"].shape[1]))
    except Exception:  # a truncated or foreign file: regenerate
        return None
    return ds if ds.digest == stored else None


def _write_npz_atomic(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def synthetic_spectrum(dim: int, decay: float = 0.5) -> np.ndarray:
    """The covariance eigenvalues of ``synthetic``: ``decay ** i`` for i = 0..dim-1 (1, 1/2, 1/4, ...)."""
    return decay ** np.arange(dim, dtype=np.float64)


def synthetic_basis(dim: int, seed: int = 0) -> np.ndarray:
    """The orthogonal (dim, dim) matrix whose columns are ``synthetic``'s principal directions,
    in order of decreasing variance (column i has variance ``synthetic_spectrum(dim)[i]``)."""
    g = np.random.default_rng([seed, 0]).standard_normal((dim, dim))
    q, r = np.linalg.qr(g)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)  # fix signs: a unique Q for a given seed


@DATASETS.register("synthetic")
def synthetic(n_train: int = 512, n_test: int = 256, dim: int = 16, classes: int = 4, seed: int = 0,
              decay: float = 0.5) -> Dataset:
    """Synthetic: zero-mean Gaussian data with a known geometric covariance spectrum, for PCA/linear-AE checks.

    x = z * sqrt(decay ** i) @ Q.T with z ~ N(0, I), so the covariance is
    Q diag(decay ** i) Q.T: eigenvalues ``synthetic_spectrum(dim, decay)`` and
    principal directions the columns of ``synthetic_basis(dim, seed)``.
    Labels are the argmax of x @ W for a random Gaussian W (dim, classes).
    Streams: default_rng([seed, k]) with k = 0 basis, 1 W, 2 train, 3 test, so
    the first rows of the training set do not depend on n_train or n_test.
    x is (N, dim) with ``shape=(1, dim)``. No files, fully deterministic."""
    q = synthetic_basis(dim, seed)
    scale = np.sqrt(synthetic_spectrum(dim, decay))
    w = np.random.default_rng([seed, 1]).standard_normal((dim, classes))

    def draw(stream: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        z = np.random.default_rng([seed, stream]).standard_normal((n, dim))
        x = (z * scale) @ q.T
        return x, np.argmax(x @ w, axis=1)

    x_tr, y_tr = draw(2, n_train)
    x_te, y_te = draw(3, n_test)
    return Dataset.from_arrays(
        "synthetic", x_tr, y_tr, x_te, y_te,
        source=f"harness.datasets.synthetic(dim={dim}, classes={classes}, seed={seed}, decay={decay})",
        classes=classes, shape=(1, dim))
