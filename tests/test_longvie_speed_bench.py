"""The LongVie 2 speed benchmark's step timer (``benchmarks/longvie2_step_timing.py``): what it records per step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")


@pytest.mark.parametrize("printed, expected", [("1755, 61, 650.31\n", (1755, 61, 650.31)), ("[N/A], 61, 650\n", None),
                                                ("", None)])
def test_speed_bench_reads_the_gpu_state_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         printed: str, expected: tuple | None) -> None:
    """The step timer records each step's SM clock, temperature and power, or nothing where nvidia-smi cannot say."""
    from benchmarks.longvie2_step_timing import GpuState, StepTiming, read_gpu_state

    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\nprintf '{printed}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    state = read_gpu_state()
    assert state == (GpuState(*expected) if expected else None)
    timing = StepTiming(seconds=3.0, step_seconds=(1.0, 2.0), setup_seconds=0.0, warmup_seconds=0.0,
                        step_gpu_states=(state,) if state else ())
    record = timing.per_step_record()
    assert record["step_seconds"] == [1.0, 2.0]
    assert record["step_sm_clock_mhz"] == ([1755] if expected else [])
