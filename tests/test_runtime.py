import socket

from solar_lab import runtime


def test_local_cpu_offline_when_the_hub_is_switched_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    found = runtime.describe()
    assert found.colab is False and found.online is False
    assert found.device in ("cpu", "cuda")
    assert found.versions["torch"] != "not installed"
    assert "local" in str(found) and "offline" in str(found)


def test_online_probe_answers_true_for_a_listening_host(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def connect(address, timeout):
        calls.append((address, timeout))
        return Connection()

    monkeypatch.setattr(socket, "create_connection", connect)
    assert runtime.online("example.org", timeout=0.5) is True
    assert calls == [(("example.org", 443), 0.5)]


def test_online_probe_answers_false_when_the_connection_fails(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(address, timeout):
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert runtime.online() is False


def test_colab_is_recognised_by_its_environment(monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert runtime.in_colab() is True


def test_missing_packages_are_reported_not_raised():
    assert runtime.package_version("no-such-package-solar-lab") == "not installed"


def test_seed_everything_reproduces_torch_draws():
    import torch

    runtime.seed_everything(7)
    first = torch.rand(3)
    runtime.seed_everything(7)
    assert torch.equal(first, torch.rand(3))
