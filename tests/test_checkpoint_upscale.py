"""`solar-lab upscale` on tiny random Llama checkpoints: against the plan, in-memory DUS and mergekit."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import struct
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, LlamaForCausalLM

from solar_lab import checkpoint, checkpoint_upscale
from solar_lab.cli import main
from solar_lab.dus import DusPlan, depth_upscale

N_LAYERS = 7
SIDE_FILES = {
    "tokenizer.json": '{"version": "1.0", "model": {"type": "BPE"}}',
    "tokenizer_config.json": '{"bos_token": "<s>", "eos_token": "</s>"}',
    "special_tokens_map.json": '{"bos_token": "<s>"}',
    "LICENSE": "Apache-2.0\n",
}


@pytest.fixture(scope="module")
def base_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=48,
        intermediate_size=80,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=6,
        num_key_value_heads=2,
        vocab_size=72,
        max_position_embeddings=32,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).to(torch.bfloat16).eval()


def save_checkpoint(model: LlamaForCausalLM, directory: Path, **kwargs) -> Path:
    model.save_pretrained(directory, **kwargs)
    for name, text in SIDE_FILES.items():
        (directory / name).write_text(text)
    (directory / "README.md").write_text("model card of the 7-layer source\n")
    return directory


@pytest.fixture(scope="module")
def single(base_model, tmp_path_factory) -> Path:
    return save_checkpoint(base_model, tmp_path_factory.mktemp("single") / "ckpt")


@pytest.fixture(scope="module")
def sharded(base_model, tmp_path_factory) -> Path:
    directory = save_checkpoint(
        base_model, tmp_path_factory.mktemp("sharded") / "ckpt", max_shard_size="40KB"
    )
    assert (
        len({*json.loads((directory / "model.safetensors.index.json").read_text())["weight_map"].values()})
        > 2
    )
    return directory


def read_all(directory: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(path, framework="pt") as file:
            for name in file.keys():
                assert name not in tensors, f"{name} stored twice"
                tensors[name] = file.get_tensor(name)
    return tensors


def expected_tensors(state_dict: dict[str, torch.Tensor], m: int) -> dict[str, torch.Tensor]:
    """Written out independently of the module: new layer i is a copy of base layer source_layers[i]."""
    plan = DusPlan(N_LAYERS, m)
    prefix = "model.layers."
    expected = {name: t for name, t in state_dict.items() if not name.startswith(prefix)}
    suffixes = [name[len(f"{prefix}0.") :] for name in state_dict if name.startswith(f"{prefix}0.")]
    for new, old in enumerate(plan.source_layers):
        for suffix in suffixes:
            expected[f"{prefix}{new}.{suffix}"] = state_dict[f"{prefix}{old}.{suffix}"]
    return expected


def upscale(src: Path, out: Path, m: int, *extra: str) -> int:
    return main(["upscale", str(src), str(out), "--drop", str(m), "--quiet", *extra])


@pytest.mark.parametrize("m", [0, 1, 3])
@pytest.mark.parametrize("layout", ["single", "sharded"])
def test_every_tensor_is_its_planned_source(layout, m, request, base_model, tmp_path):
    src = request.getfixturevalue(layout)
    assert upscale(src, tmp_path / "out", m) == 0
    got = read_all(tmp_path / "out")
    expected = expected_tensors(base_model.state_dict(), m)
    assert sorted(got) == sorted(expected)
    for name, tensor in expected.items():
        assert got[name].dtype == torch.bfloat16
        assert torch.equal(got[name], tensor), name


def test_config_side_files_and_single_output_file(single, tmp_path):
    out = tmp_path / "out"
    assert upscale(single, out, 2) == 0
    source_config = json.loads((single / "config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config.pop("num_hidden_layers") == 2 * (N_LAYERS - 2)
    assert config == {k: v for k, v in source_config.items() if k != "num_hidden_layers"}
    for name in [*SIDE_FILES, "generation_config.json"]:
        assert (out / name).read_bytes() == (single / name).read_bytes(), name
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*SIDE_FILES, "generation_config.json", "config.json", "model.safetensors"]
    )


def test_sharded_output_has_a_complete_index(sharded, base_model, tmp_path):
    out = tmp_path / "out"
    assert upscale(sharded, out, 1, "--max-shard-size", "30KB") == 0
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) > 2 and {path.name for path in shards} == set(index["weight_map"].values())
    tensors = read_all(out)
    assert set(index["weight_map"]) == set(tensors)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in tensors.values())
    for name, tensor in expected_tensors(base_model.state_dict(), 1).items():
        assert torch.equal(tensors[name], tensor), name
    for path in shards:
        with safe_open(path, framework="pt") as file:
            assert all(index["weight_map"][name] == path.name for name in file.keys())
            assert file.metadata() == {"format": "pt"}
        assert path.stat().st_size < 30_000 + 2_000


def test_mixed_dtypes_are_kept_tensor_by_tensor(single, tmp_path, capsys):
    tensors = {name: t.float() if "norm" in name else t for name, t in read_all(single).items()}
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(single / "config.json", src)
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})
    assert upscale(src, tmp_path / "out", 2) == 0
    got = read_all(tmp_path / "out")
    for name, tensor in expected_tensors(tensors, 2).items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name
    assert upscale(src, tmp_path / "out", 2, "--print-mergekit-config") == 0
    assert "dtype: bfloat16" in capsys.readouterr().out


def test_loads_and_computes_like_the_in_memory_upscale(single, tmp_path):
    upscaled = checkpoint_upscale.upscale_checkpoint(single, tmp_path / "out", 2, progress=False)
    # float32 on both sides: depth_upscale on a bf16 model also casts RoPE's inv_freq buffer to bf16.
    loaded = AutoModelForCausalLM.from_pretrained(upscaled, dtype=torch.float32).eval()
    reference = depth_upscale(AutoModelForCausalLM.from_pretrained(single, dtype=torch.float32), 2).eval()
    tokens = torch.randint(0, 72, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens).logits, reference(tokens).logits, rtol=0, atol=0)


def test_print_mergekit_config_writes_nothing(sharded, tmp_path, capsys):
    assert upscale(sharded, tmp_path / "out", 2, "--print-mergekit-config") == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert not (tmp_path / "out").exists()
    assert config["merge_method"] == "passthrough" and config["dtype"] == "bfloat16"
    assert [s["sources"][0]["layer_range"] for s in config["slices"]] == [[0, N_LAYERS - 2], [2, N_LAYERS]]
    assert config["slices"][0]["sources"][0]["model"] == str(sharded.resolve())


def test_equal_to_mergekit_passthrough(sharded, tmp_path, capsys, monkeypatch):
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert upscale(sharded, tmp_path / "ours", 3, "--print-mergekit-config") == 0
    merge = MergeConfiguration.model_validate(yaml.safe_load(capsys.readouterr().out))
    run_merge(
        merge,
        str(tmp_path / "mergekit"),
        MergeOptions(write_model_card=False, quiet=True, out_shard_size=30_000),
    )
    assert upscale(sharded, tmp_path / "ours", 3, "--max-shard-size", "30KB") == 0

    ours, theirs = read_all(tmp_path / "ours"), read_all(tmp_path / "mergekit")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype and torch.equal(ours[name], theirs[name]), name
    assert read_text(tmp_path / "ours", "config.json", json.loads) == read_text(
        tmp_path / "mergekit", "config.json", json.loads
    )
    copied = {
        p.name for p in (tmp_path / "mergekit").iterdir() if not p.name.startswith(("model", "config"))
    }
    assert copied == {*SIDE_FILES, "generation_config.json"} - {"LICENSE"}
    for name in copied:
        assert read_text(tmp_path / "ours", name) == read_text(tmp_path / "mergekit", name), name


def read_text(directory: Path, name: str, parse=str):
    return parse((directory / name).read_text())


def shard(src: Path, number: int) -> Path:
    return sorted(src.glob("model-*.safetensors"))[number]


def _truncate(src: Path) -> str:
    path = shard(src, 1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.name


def _garbage(src: Path) -> str:
    path = shard(src, 2)
    path.write_bytes(os.urandom(4096))
    return path.name


def _absurd_header_length(src: Path) -> str:
    path = shard(src, 1)
    path.write_bytes(struct.pack("<Q", 2**60) + path.read_bytes()[8:])
    return "header too large"


def _missing_shard(src: Path) -> str:
    path = shard(src, 2)
    path.unlink()
    return path.name


def _gpt2_config(src: Path) -> str:
    (src / "config.json").write_text(json.dumps(GPT2Config().to_dict()))
    return "config is missing"


def _layer_missing_a_tensor(src: Path) -> str:
    tensors = read_all(src)
    del tensors["model.layers.3.mlp.up_proj.weight"]
    _replace_weights(src, tensors)
    return "layer 3 lacks"


def _layer_beyond_config(src: Path) -> str:
    tensors = read_all(src)
    tensors["model.layers.7.input_layernorm.weight"] = tensors[
        "model.layers.0.input_layernorm.weight"
    ].clone()
    _replace_weights(src, tensors)
    return "names layer 7"


def _index_disagrees(src: Path) -> str:
    index = json.loads((src / "model.safetensors.index.json").read_text())
    holder = index["weight_map"]["model.norm.weight"]
    index["weight_map"]["model.norm.weight"] = next(v for v in index["weight_map"].values() if v != holder)
    (src / "model.safetensors.index.json").write_text(json.dumps(index))
    return "model.norm.weight"


def _no_layer_tensors(src: Path) -> str:
    _replace_weights(src, {k: t for k, t in read_all(src).items() if ".layers." not in k})
    return "no tensor names a layer"


def _replace_weights(src: Path, tensors: dict[str, torch.Tensor]) -> None:
    for path in src.glob("model*.safetensors*"):
        path.unlink()
    save_file(tensors, src / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize(
    "break_source",
    [
        _truncate,
        _garbage,
        _absurd_header_length,
        _missing_shard,
        _gpt2_config,
        _layer_missing_a_tensor,
        _layer_beyond_config,
        _index_disagrees,
        _no_layer_tensors,
    ],
)
def test_bad_checkpoints_fail_cleanly(break_source, sharded, tmp_path, capsys):
    src = shutil.copytree(sharded, tmp_path / "src")
    expected = break_source(src)
    assert upscale(src, tmp_path / "out", 2) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("solar-lab upscale: error:")
    assert expected in lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["src"]


@pytest.mark.parametrize(("m", "message"), [(4, "out of range"), (-1, "out of range")])
def test_m_out_of_range(m, message, single, tmp_path, capsys):
    assert upscale(single, tmp_path / "out", m) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_missing_source_and_no_weights(tmp_path, capsys):
    assert upscale(tmp_path / "nowhere", tmp_path / "out", 1) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps(LlamaConfig(num_hidden_layers=4).to_dict()))
    assert upscale(tmp_path / "empty", tmp_path / "out", 1) == 2
    assert "needs model.safetensors or model.safetensors.index.json" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_force(single, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert upscale(single, out, 1) == 2
    assert "already exists" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["keep.txt"]
    assert upscale(single, out, 1, "--force") == 0
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize("inside", ["sub", ".", "sub/deeper"])
def test_output_inside_the_source_is_refused(inside, force, single, tmp_path, capsys):
    src = shutil.copytree(single, tmp_path / "src")
    before = sorted(path.relative_to(src) for path in src.rglob("*"))
    assert upscale(src, src / inside, 1, *force) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "lies inside SRC_DIR" in lines[0]
    assert sorted(path.relative_to(src) for path in src.rglob("*")) == before


@pytest.mark.parametrize("existing", [False, True])
def test_interrupted_write_leaves_nothing_half_written(existing, single, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "keep.txt").write_text("old")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_upscale, "copy_side_files", interrupt)
    assert upscale(single, out, 1, "--force") == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == (["out"] if existing else [])
    if existing:
        assert [path.name for path in out.iterdir()] == ["keep.txt"]


def refuse(*args) -> int:
    raise OSError(errno.EXDEV, "refused by this file system")


def in_pieces(copy, count_at: int, piece: int = 1000):
    """``copy`` copying at most ``piece`` bytes a call (its count is argument ``count_at``)."""

    def partial(*args):
        return copy(*args[:count_at], min(args[count_at], piece), *args[count_at + 1 :])

    return partial


def every_other_call_refused(copy):
    """``copy_file_range`` copying 1000 bytes, then refusing, by turns: the rest goes elsewhere."""
    calls = itertools.count()
    partial = in_pieces(copy, 2)

    def flaky(*args):
        return refuse() if next(calls) % 2 else partial(*args)

    return flaky


def force_copy_path(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``checkpoint.copy_range`` take ``path`` (see COPY_PATHS)."""
    if path == "copy_file_range in pieces":
        monkeypatch.setattr(os, "copy_file_range", in_pieces(os.copy_file_range, 2))
    elif path == "sendfile in pieces":
        monkeypatch.delattr(os, "copy_file_range")
        monkeypatch.setattr(os, "sendfile", in_pieces(os.sendfile, 3))
    elif path == "kernel refuses midway":
        monkeypatch.setattr(os, "copy_file_range", every_other_call_refused(os.copy_file_range))
        monkeypatch.setattr(os, "sendfile", refuse)
        monkeypatch.setattr(checkpoint, "COPY_BUFFER_BYTES", 999)
    elif path == "kernel refuses":
        monkeypatch.setattr(os, "copy_file_range", refuse)
        monkeypatch.setattr(os, "sendfile", refuse)
    else:
        assert path == "no kernel copy"
        monkeypatch.setattr(checkpoint, "kernel_copies", list)
        monkeypatch.setattr(checkpoint, "COPY_BUFFER_BYTES", 999)  # many buffers per tensor


COPY_PATHS = [
    "copy_file_range in pieces",
    "sendfile in pieces",
    "kernel refuses midway",
    "kernel refuses",
    "no kernel copy",
]


@pytest.fixture
def kernel_copies_work(tmp_path) -> None:
    """Skip where this file system refuses ``copy_file_range`` (the default path is then the fallback)."""
    (tmp_path / "probe").write_bytes(b"probe")
    try:
        with (tmp_path / "probe").open("rb") as source, (tmp_path / "copy").open("wb") as target:
            os.copy_file_range(source.fileno(), target.fileno(), 5, 0)
    except (AttributeError, OSError) as error:
        pytest.skip(f"no kernel-side copy here: {error!r}")


def test_the_kernel_copies_every_tensor_byte(kernel_copies_work, sharded, tmp_path, monkeypatch):
    copied, buffered = [], []
    real_copy, real_buffered = os.copy_file_range, checkpoint.buffered_copy

    def counted_copy(*args):
        copied.append(real_copy(*args))
        return copied[-1]

    def counted_buffered(source, start, nbytes, *args):
        buffered.append(nbytes)
        return real_buffered(source, start, nbytes, *args)

    monkeypatch.setattr(os, "copy_file_range", counted_copy)
    monkeypatch.setattr(checkpoint, "buffered_copy", counted_buffered)
    assert upscale(sharded, tmp_path / "out", 1, "--max-shard-size", "30KB") == 0
    expected = expected_tensors(read_all(sharded), 1)
    assert sum(copied) == sum(t.numel() * t.element_size() for t in expected.values())
    assert buffered and not any(buffered)


@pytest.mark.parametrize("path", COPY_PATHS)
def test_every_copy_path_writes_the_same_files(path, kernel_copies_work, sharded, tmp_path, monkeypatch):
    assert upscale(sharded, tmp_path / "kernel", 1, "--max-shard-size", "30KB") == 0
    force_copy_path(path, monkeypatch)
    assert upscale(sharded, tmp_path / path, 1, "--max-shard-size", "30KB") == 0
    names = sorted(p.name for p in (tmp_path / "kernel").iterdir())
    assert len(names) > 4 and names == sorted(p.name for p in (tmp_path / path).iterdir())
    for name in names:
        assert (tmp_path / path / name).read_bytes() == (tmp_path / "kernel" / name).read_bytes(), name


@pytest.mark.parametrize("path", ["default", *COPY_PATHS])
def test_a_source_that_shrinks_while_read_is_an_error(path, tmp_path, monkeypatch):
    if path != "default":
        force_copy_path(path, monkeypatch)
    (tmp_path / "short").write_bytes(b"x" * 4000)
    with (tmp_path / "short").open("rb") as source, (tmp_path / "out").open("wb") as target:
        with pytest.raises(ValueError, match="short ended early"):
            checkpoint.copy_range(source, 1500, 3000, target, tqdm(disable=True))


def test_shard_size_option():
    assert checkpoint_upscale.shard_size("500MB") == 500 * 10**6
    assert checkpoint_upscale.shard_size("2GiB") == 2 * 2**30
    assert checkpoint_upscale.shard_size("1234") == 1234
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", "a", "b", "--drop", "1", "--max-shard-size", "big"])
    assert exit_info.value.code == 2
