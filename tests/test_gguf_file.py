"""check_gguf turns missing, foreign, damaged and cut-off files into one-line errors; load_model checks first."""

from __future__ import annotations

import gguf
import pytest

from _gguf_fixtures import make_checkpoint
from solar_lab.gguf_export import export_gguf
from solar_lab.gguf_file import check_gguf, load_model


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    checkpoint = make_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=1)
    return export_gguf(checkpoint, tmp_path_factory.mktemp("gguf") / "tiny.gguf", outtype="f16")


def test_sound_file_summary(gguf_path):
    summary = check_gguf(gguf_path)
    assert (summary.version, summary.architecture, summary.context_length) == (3, "llama", 256)
    assert summary.tensor_count == 2 * 9 + 3
    assert summary.data_end == summary.file_size == gguf_path.stat().st_size


@pytest.mark.parametrize("keep", [0, 3, 24, 1000, "header", "half"])
def test_cut_off_files_are_refused(gguf_path, tmp_path, keep):
    data = gguf_path.read_bytes()
    data_start = min(t.data_offset for t in gguf.GGUFReader(gguf_path).tensors)
    lengths = {"header": data_start + 100, "half": len(data) // 2}
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: lengths.get(keep, keep)])
    with pytest.raises(ValueError) as error:
        check_gguf(cut)
    assert "\n" not in str(error.value) and str(cut) in str(error.value)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        check_gguf(tmp_path / "absent.gguf")
    (tmp_path / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ValueError, match="not a GGUF file"):
        check_gguf(tmp_path / "weights.safetensors")


def test_damaged_counts_are_refused(gguf_path, tmp_path):
    data = bytearray(gguf_path.read_bytes())
    data[16:24] = (2**40).to_bytes(8, "little")  # the metadata count
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or cut-off GGUF"):
        check_gguf(damaged)


def test_loading_checks_the_file_first(gguf_path, tmp_path):
    (tmp_path / "half.gguf").write_bytes(gguf_path.read_bytes()[: gguf_path.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.off"):
        with load_model(tmp_path / "half.gguf"):
            pass
