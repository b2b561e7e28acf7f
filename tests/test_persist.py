"""Model files: round trip, atomic writes, and clear errors for bad files (never unpickled)."""

import io
import json
import zipfile

import numpy as np
import pytest

from tfkmeans import KMeans, persist


def read_members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def replace_member(path, name: str, data: bytes) -> None:
    """Rewrites one member of a model file, as a tampered or foreign writer would."""
    members = read_members(path)
    members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


@pytest.fixture
def fitted(blobs):
    X, _ = blobs
    return KMeans(5, random_state=0).fit(X), X


def test_round_trip_predicts_identically(fitted, tmp_path):
    km, X = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    loaded = KMeans.load(path)
    np.testing.assert_array_equal(loaded.cluster_centers_, km.cluster_centers_)
    np.testing.assert_array_equal(loaded.predict(X), km.predict(X))
    assert loaded.get_params() == km.get_params()
    assert (loaded.inertia_, loaded.n_iter_, loaded.n_features_in_) == (
        km.inertia_,
        km.n_iter_,
        km.n_features_in_,
    )


def test_array_init_and_feature_names_survive(tmp_path, blobs):
    import pandas as pd

    X, _ = blobs
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    km = KMeans(3, init=X[:3], n_init=1).fit(frame)
    km.save(tmp_path / "m")
    loaded = KMeans.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.init, X[:3])
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(loaded.predict(frame), km.predict(frame))


def test_file_is_documented_zip_not_pickle(fitted, tmp_path):
    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
        centers = np.load(io.BytesIO(archive.read("cluster_centers_.npy")), allow_pickle=False)
    assert meta["format"] == "tfkmeans.KMeans" and meta["version"] == persist.VERSION
    np.testing.assert_array_equal(centers, km.cluster_centers_)


def test_interrupted_write_keeps_old_file(fitted, tmp_path, monkeypatch):
    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(persist.np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        KMeans(2, random_state=1).fit(np.random.RandomState(0).randn(20, 4)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.tfkm"]


def test_saved_file_has_normal_permissions(fitted, tmp_path):
    import os

    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_truncated_file(fitted, tmp_path):
    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        KMeans.load(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a tfkmeans model file"):
        KMeans.load(text)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "x")
    with pytest.raises(ValueError, match="not a tfkmeans model file"):
        KMeans.load(other_zip)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        KMeans.load(tmp_path / "missing.tfkm")


def test_newer_version_is_refused(fitted, tmp_path):
    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    meta = json.loads(read_members(path)["model.json"])
    meta["version"] = persist.VERSION + 1
    replace_member(path, "model.json", json.dumps(meta).encode())
    with pytest.raises(ValueError, match="upgrade tfkmeans"):
        KMeans.load(path)


def test_pickled_array_is_refused(fitted, tmp_path):
    km, _ = fitted
    path = tmp_path / "model.tfkm"
    km.save(path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    replace_member(path, "cluster_centers_.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="corrupt"):
        KMeans.load(path)


def test_optimizer_instance_is_recorded_and_replaced_by_default(tmp_path, blobs):
    import tensorflow as tf

    X, _ = blobs
    km = KMeans(3, algorithm="gradient", optimizer=tf.keras.optimizers.Adam(0.1), max_iter=5)
    km.fit(X)
    km.save(tmp_path / "m")
    loaded = KMeans.load(tmp_path / "m")
    assert loaded.optimizer == "sgd" and loaded.algorithm == "gradient"
    with zipfile.ZipFile(tmp_path / "m") as archive:
        meta = json.loads(archive.read("model.json"))
    assert meta["replaced_params"] == {"optimizer": "Adam"}
    np.testing.assert_array_equal(loaded.predict(X), km.predict(X))
