"""The process-group session: ranks leave together on success, and never block after an error."""

import pytest
import torch

from SpineFractureLib.train import distributed
from SpineFractureLib.train.distributed import DistInfo, distributed_run


@pytest.fixture()
def two_ranks(monkeypatch):
    """Pretend to be rank 0 of 2 and record the barrier and teardown calls."""
    calls = []
    monkeypatch.setattr(distributed, "setup_distributed", lambda device: DistInfo(0, 2, torch.device("cpu")))
    monkeypatch.setattr(distributed.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed, "cleanup_distributed", lambda: calls.append("destroy"))
    return calls


def test_ranks_meet_at_a_barrier_before_the_group_is_destroyed(two_ranks):
    with distributed_run("cpu") as info:
        assert info.world_size == 2
    assert two_ranks == ["barrier", "destroy"]


def test_an_error_destroys_the_group_without_waiting_for_the_others(two_ranks):
    with pytest.raises(RuntimeError, match="boom"):
        with distributed_run("cpu"):
            raise RuntimeError("boom")
    assert two_ranks == ["destroy"]


def test_single_process_needs_no_barrier(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed_run("cpu") as info:
        assert info.world_size == 1 and info.is_main
    assert calls == []
