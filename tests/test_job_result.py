"""One result type for every job (issue 19): the files a job wrote, its timings, cached or not, its status."""

import dataclasses
import math

import pytest

from comparisons.io import write_json, write_text
from comparisons.jobs.result import JobResult, recording


def test_recording_collects_the_files_written_and_the_time(tmp_path):
    write_text(tmp_path / "before.txt", "not this job's")
    with recording("demo", tmp_path) as rec:
        write_json(tmp_path / "a.json", {"x": 1})
        write_text(tmp_path / "sub" / "b.txt", "b")
        write_json(tmp_path / "a.json", {"x": 2})  # written twice, listed once
    write_text(tmp_path / "after.txt", "not this job's either")
    res = rec.result(compute_s=12.5, cached=True, summary={"n": 3})
    assert res.files == (tmp_path / "a.json", tmp_path / "sub" / "b.txt")
    assert res.job == "demo" and res.folder == tmp_path and res.status == 0 and res.summary == {"n": 3}
    assert res.wall_s >= 0 and res.seconds == 12.5  # reused: the time the results took when computed
    fresh = rec.result(status=1)
    assert fresh.status == 1 and not fresh.cached and math.isnan(fresh.compute_s) and fresh.seconds == fresh.wall_s
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.status = 2  # type: ignore[misc]


def test_recording_stops_listening_when_the_job_fails(tmp_path):
    from comparisons import io

    before = list(io.OUTPUT_LISTENERS)
    with pytest.raises(RuntimeError), recording("demo", tmp_path):
        raise RuntimeError("the job failed")
    assert io.OUTPUT_LISTENERS == before
    assert JobResult("x", tmp_path).files == ()
