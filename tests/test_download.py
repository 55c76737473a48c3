import functools
import gzip
import http.server
import pickle
import shutil
import socket
import threading

import numpy as np
import pytest

from nnreg.datasets.download import DownloadError, content_sha256, data_folder, download
from nnreg.datasets.mnist import CONTENT_SHA256, ensure_mnist, load_mnist

LABELS = "train-labels-idx1-ubyte"


@pytest.fixture
def serve():
    """serve(folder) -> base URL of an HTTP server on 127.0.0.1 for that folder."""
    servers = []

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def dead_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_shipped_checksums_match_the_real_files(mnist_folder):
    for stem, sha in CONTENT_SHA256.items():
        assert content_sha256(mnist_folder / f"{stem}.gz") == sha


def test_download_over_http_from_127_0_0_1(tmp_path, mnist_folder, serve):
    path = download(
        f"{LABELS}.gz", tmp_path / "mnist", [serve(mnist_folder)], CONTENT_SHA256[LABELS]
    )
    assert path.read_bytes() == (mnist_folder / f"{LABELS}.gz").read_bytes()
    assert leftovers(tmp_path / "mnist") == [f"{LABELS}.gz"]


def test_download_from_a_file_url_reports_progress(tmp_path, mnist_folder):
    seen = []
    download(
        f"{LABELS}.gz",
        tmp_path,
        [mnist_folder.as_uri()],
        CONTENT_SHA256[LABELS],
        progress=lambda name, done, total: seen.append((name, done, total)),
    )
    size = (mnist_folder / f"{LABELS}.gz").stat().st_size
    assert seen[-1] == (f"{LABELS}.gz", size, size)


def test_corrupted_file_fails_its_checksum_and_leaves_nothing(tmp_path, mnist_folder, serve):
    bad = tmp_path / "bad"
    bad.mkdir()
    raw = bytearray(gzip.decompress((mnist_folder / f"{LABELS}.gz").read_bytes()))
    raw[100] ^= 0xFF  # one label changed: still a valid gzip, wrong content
    (bad / f"{LABELS}.gz").write_bytes(gzip.compress(bytes(raw)))
    target = tmp_path / "data"
    with pytest.raises(DownloadError, match="checksum mismatch") as caught:
        download(f"{LABELS}.gz", target, [serve(bad), bad.as_uri()], CONTENT_SHA256[LABELS])
    assert "could not download" in str(caught.value)
    assert leftovers(target) == []


def test_dead_and_missing_mirrors_are_skipped_for_a_good_one(tmp_path, mnist_folder, serve):
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [dead_url(), serve(empty), (tmp_path / "nowhere").as_uri(), serve(mnist_folder)]
    path = download(f"{LABELS}.gz", tmp_path / "data", mirrors, CONTENT_SHA256[LABELS])
    assert content_sha256(path) == CONTENT_SHA256[LABELS]


def test_every_mirror_failing_says_why_for_each_and_what_to_do(tmp_path, serve):
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [dead_url(), serve(empty)]
    with pytest.raises(DownloadError) as caught:
        download(f"{LABELS}.gz", tmp_path / "data", mirrors, CONTENT_SHA256[LABELS])
    message = str(caught.value)
    assert "HTTP 404" in message and "refused" in message.lower()
    # in Python's terms for a Python user, in the options' for the commands
    assert "folder=" in message and "NNREG_DATA" in message and "mirrors=[URL]" in message
    assert "--" not in message
    command = caught.value.for_command()
    assert "--data-dir or $NNREG_DATA" in command and "--mirror URL" in command
    assert pickle.loads(pickle.dumps(caught.value)).for_command() == command
    assert leftovers(tmp_path / "data") == []


def test_missing_mnist_is_downloaded_into_the_data_folder_then_loaded(tmp_path, mnist_folder):
    splits = load_mnist(tmp_path, mirrors=[mnist_folder.as_uri()])
    assert leftovers(tmp_path / "mnist") == sorted(f"{stem}.gz" for stem in CONTENT_SHA256)
    assert [len(splits[k]) for k in ("training", "validation", "test")] == [50_000, 10_000, 10_000]


def test_files_already_present_are_not_downloaded_again(tmp_path, mnist_folder):
    target = tmp_path / "mnist"
    shutil.copytree(mnist_folder, target)
    assert ensure_mnist(tmp_path, mirrors=[dead_url()]) == target


def test_data_folder_order_option_then_environment_then_user_default(tmp_path, monkeypatch):
    monkeypatch.setenv("NNREG_DATA", str(tmp_path / "env"))
    assert data_folder(tmp_path / "opt") == tmp_path / "opt"
    assert data_folder() == tmp_path / "env"
    monkeypatch.delenv("NNREG_DATA")
    assert data_folder().name == "nnreg"


def test_mirrors_come_from_the_environment_when_not_given(tmp_path, mnist_folder, monkeypatch):
    monkeypatch.setenv("NNREG_MNIST_MIRRORS", f"{dead_url()} , {mnist_folder.as_uri()}")
    assert ensure_mnist(tmp_path).is_dir()
    assert np.all([(tmp_path / "mnist" / f"{s}.gz").is_file() for s in CONTENT_SHA256])
