"""SOLAR's GGUF files: choosing one, the bandwidth bound, downloading without the network."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import huggingface_hub
import pytest

from _gguf_fixtures import make_checkpoint
from solar_lab import solar_gguf
from solar_lab.gguf_export import export_gguf
from solar_lab.solar_gguf import (
    SOLAR_GGUF_FILES, DownloadError, Machine, QuantFile, bandwidth_bound, download, download_note, fits,
    licence_note, pick_quant, plan_run, quant_file,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=5)
    return export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf", outtype="f16")


def test_table_and_choice():
    assert quant_file("Q4_K_M").filename == "solar-10.7b-instruct-v1.0.Q4_K_M.gguf"
    assert all(round(f.max_ram_gb - f.size_gb, 2) == 2.5 for f in SOLAR_GGUF_FILES)
    assert pick_quant(15.0).quant == "Q4_K_M"  # a T4 gets the default, not the largest file that fits
    assert pick_quant(15.0, "Q8_0").quant == "Q8_0" and pick_quant(15.0, "Q2_K").quant == "Q2_K"
    assert pick_quant(12.0, "Q8_0").quant == "Q6_K"  # too big: the largest smaller file that fits
    assert pick_quant(8.0).quant == "Q3_K_M"
    assert pick_quant(7.0) is None
    assert fits(quant_file("Q8_0"), 13.9) and not fits(quant_file("Q8_0"), 13.8)


def test_unknown_quant_names_the_choices():
    with pytest.raises(ValueError, match="no SOLAR file 'Q4_K_L'; choose one of Q2_K, Q3_K_S, .*, Q8_0$"):
        quant_file("Q4_K_L")


def test_notes_before_a_download():
    assert download_note(quant_file("Q4_K_M")) == (
        "solar-10.7b-instruct-v1.0.Q4_K_M.gguf: 6.46 GB, about 2 min to download at an assumed 50 MB/s "
        "(the progress bar shows the real speed)"
    )
    assert "about 4 min" in download_note(quant_file("Q8_0"))
    assert "about 9 min" in download_note(quant_file("Q4_K_M"), mb_per_second=12.0)
    assert "licensed CC-BY-NC-4.0: non-commercial use only" in licence_note()


def test_bandwidth_bound_for_a_t4():
    assert bandwidth_bound(6.46e9, 320.0) == pytest.approx(49.5, abs=0.1)


def test_gpu_plan_says_what_it_fetches_then_offloads_everything(gguf_path):
    said, fetched = [], []

    def fetch(file):
        fetched.append((file.quant, len(said)))
        return gguf_path

    plan = plan_run(gguf_path, machine=Machine(12.7, "Tesla T4", 15.8), is_online=lambda: True,
                    can_offload=lambda: True, fetch=fetch, say=said.append)
    assert fetched == [("Q4_K_M", 2)]
    assert said[0] == licence_note() and said[1] == download_note(quant_file("Q4_K_M"))
    assert said[2] == f"{gguf_path.name} ready after 0 s (already in the cache)"
    assert plan.label == "SOLAR-10.7B-Instruct Q4_K_M" and plan.n_gpu_layers == -1 and plan.bandwidth_gb_s == 320.0
    assert plan.bound_tokens_per_second == pytest.approx(320e9 / gguf_path.stat().st_size)


def test_a_real_download_reports_its_measured_speed(gguf_path, monkeypatch):
    clock = iter([0.0, 129.2])
    monkeypatch.setattr(solar_gguf.time, "perf_counter", lambda: next(clock))
    said = []
    plan_run(gguf_path, machine=Machine(12.7, "Tesla T4", 15.8), is_online=lambda: True, can_offload=lambda: True,
             fetch=lambda file: gguf_path, say=said.append)
    assert said[-1] == f"{gguf_path.name} ready after 129 s (50 MB/s measured)"


def test_a_file_too_big_for_the_gpu_steps_down_and_says_so(gguf_path):
    said, fetched = [], []
    plan = plan_run(gguf_path, "Q4_K_M", Machine(16.0, "NVIDIA GeForce RTX 3070", 8.0), is_online=lambda: True,
                    can_offload=lambda: True, fetch=lambda file: fetched.append(file.quant) or gguf_path,
                    say=said.append)
    assert fetched == ["Q3_K_M"] and plan.label.endswith("Q3_K_M")
    assert said[0] == "Q4_K_M needs 8.96 GB, more than the 8.0 GB of the NVIDIA GeForce RTX 3070: taking Q3_K_M instead"
    assert plan.bound_tokens_per_second != plan.bound_tokens_per_second  # no bandwidth known for that GPU: NaN


@pytest.mark.parametrize("machine, online, offload, why", [
    (Machine(12.7), True, True, "no GPU"),
    (Machine(12.7, "Tesla T4", 15.8), False, True, "offline"),
    (Machine(12.7, "Tesla T4", 15.8), True, False, "this llama-cpp-python was built without GPU offload"),
    (Machine(12.7, "Tesla K80", 6.0), True, True, "no SOLAR file fits the 6.0 GB of the Tesla K80"),
])
def test_fallback_runs_the_local_file(gguf_path, machine, online, offload, why):
    def refuse(file):
        raise AssertionError("must not download")

    said = []
    plan = plan_run(gguf_path, machine=machine, is_online=lambda: online, can_offload=lambda: offload,
                    fetch=refuse, say=said.append)
    assert plan.path == gguf_path and plan.n_gpu_layers == 0 and plan.reason.startswith(why)
    assert plan.bandwidth_gb_s > 0 and plan.bound_tokens_per_second > 0
    assert said == []


def test_plan_run_refuses_an_unknown_quant_before_anything_else(gguf_path):
    with pytest.raises(ValueError, match="no SOLAR file 'Q9'"):
        plan_run(gguf_path, "Q9", Machine(12.7), fetch=lambda file: pytest.fail("downloaded"))


def test_importable_without_llama_cpp_or_gguf():
    """Colab's core install has neither until notebook 04's install cell has run."""
    code = ("import sys; sys.modules['llama_cpp'] = sys.modules['gguf'] = None; "
            "import solar_lab.solar_gguf, solar_lab.colab_gpu; print(solar_lab.solar_gguf.pick_quant(15.0).quant)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Q4_K_M\n"


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
