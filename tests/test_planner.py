"""The memory planner: choosing a SOLAR file, the bandwidth bound, downloading without the network."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import huggingface_hub
import pytest

from _gguf_fixtures import make_checkpoint
from solar_lab.gguf_export import export_gguf
from solar_lab.planner import (
    SOLAR_GGUF_FILES, DownloadError, Machine, QuantFile, bandwidth_bound, download, pick_quant, plan_run,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=5)
    return export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf", outtype="f16")


def test_table_and_choice():
    by_quant = {f.quant: f for f in SOLAR_GGUF_FILES}
    assert by_quant["Q4_K_M"].filename == "solar-10.7b-instruct-v1.0.Q4_K_M.gguf"
    assert all(round(f.max_ram_gb - f.size_gb, 2) == 2.5 for f in SOLAR_GGUF_FILES)
    assert pick_quant(15.0).quant == "Q8_0"  # a T4
    assert pick_quant(9.0).quant == "Q4_K_M"
    assert pick_quant(7.5).quant == "Q3_K_S"
    assert pick_quant(7.0) is None


def test_bandwidth_bound_for_a_t4():
    assert bandwidth_bound(6.46e9, 320.0) == pytest.approx(49.5, abs=0.1)


def test_gpu_plan_offloads_everything(gguf_path):
    fetched = []
    plan = plan_run(
        gguf_path, Machine(12.7, "Tesla T4", 15.8), is_online=lambda: True,
        fetch=lambda file: fetched.append(file.quant) or gguf_path,
    )
    assert fetched == ["Q8_0"] and plan.n_gpu_layers == -1 and plan.bandwidth_gb_s == 320.0
    assert plan.bound_tokens_per_second == pytest.approx(320e9 / gguf_path.stat().st_size)


@pytest.mark.parametrize("machine, online, why", [
    (Machine(12.7), True, "no GPU"),
    (Machine(12.7, "Tesla T4", 15.8), False, "offline"),
    (Machine(12.7, "Tesla K80", 6.0), True, "no SOLAR file fits"),
])
def test_fallback_runs_the_local_file(gguf_path, machine, online, why):
    def refuse(file):
        raise AssertionError("must not download")

    plan = plan_run(gguf_path, machine, is_online=lambda: online, fetch=refuse)
    assert plan.path == gguf_path and plan.n_gpu_layers == 0 and plan.reason.startswith(why)
    assert plan.bandwidth_gb_s > 0 and plan.bound_tokens_per_second > 0


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers hf_hub_download's HEAD and GET for one file, like the hub's resolve endpoint."""

    files: dict[str, bytes] = {}

    def send_file_headers(self) -> bytes | None:
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None or "/resolve/" not in self.path:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{len(body)}-{hash(body)}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_HEAD(self):
        self.send_file_headers()

    def do_GET(self):
        body = self.send_file_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    FakeHub.files = {}


def test_download_through_a_local_hub(hub, gguf_path, tmp_path):
    file = QuantFile("TEST", gguf_path.stat().st_size / 1e9, 1.0)
    FakeHub.files = {file.filename: gguf_path.read_bytes()}
    path = download(file, endpoint=hub, cache_dir=tmp_path)
    assert Path(path).read_bytes() == gguf_path.read_bytes()


def test_cut_off_download_is_refused(hub, gguf_path, tmp_path):
    data = gguf_path.read_bytes()[:-5000]
    file = QuantFile("CUT", len(data) / 1e9, 1.0)
    FakeHub.files = {file.filename: data}
    with pytest.raises(DownloadError, match="cut.off"):
        download(file, endpoint=hub, cache_dir=tmp_path)


def test_failed_downloads_say_what_to_do(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.utils._http.time, "sleep", lambda seconds: None)  # skip retry waits
    with pytest.raises(ConnectionError) as missing:
        download(SOLAR_GGUF_FILES[0], endpoint=hub, cache_dir=tmp_path)
    with pytest.raises(DownloadError) as refused:
        download(SOLAR_GGUF_FILES[0], endpoint="http://127.0.0.1:9", cache_dir=tmp_path)
    for error in (missing.value, refused.value):
        assert "check the network" in str(error) and "\n" not in str(error)
