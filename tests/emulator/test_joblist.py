"""The job list index gives the pages a walk over every job would, filters and cursors alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ftd.emulator.joblist import JobListIndex

Metadata = dict[str, str] | None
_metadata: st.SearchStrategy[Metadata] = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2"]), max_size=3),
)


def walked_page(
    jobs: list[tuple[str, Metadata]],
    after: str | None,
    limit: int,
    metadata: dict[str, str],
    without: bool,
) -> tuple[list[str], bool]:
    """The page by definition: newest first, past the cursor, then filtered."""
    newest_first = list(reversed(jobs))
    if after is not None:
        position = next((i for i, (job_id, _) in enumerate(newest_first) if job_id == after), None)
        newest_first = [] if position is None else newest_first[position + 1 :]
    if without:
        chosen = [job_id for job_id, meta in newest_first if not meta]
    else:
        chosen = [
            job_id
            for job_id, meta in newest_first
            if all((meta or {}).get(k) == v for k, v in metadata.items())
        ]
    return chosen[:limit], len(chosen) > limit


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_metadata, max_size=40),
    st.integers(min_value=-2, max_value=45),
    st.integers(min_value=0, max_value=12),
    st.dictionaries(st.sampled_from(["a", "b", "d"]), st.sampled_from(["1", "2"]), max_size=2),
    st.booleans(),
)
def test_every_page_is_the_one_a_walk_finds(
    metadata: list[Metadata],
    cursor: int,
    limit: int,
    wanted: dict[str, str],
    without: bool,
) -> None:
    jobs = [(f"ftjob-{n}", meta) for n, meta in enumerate(metadata)]
    index = JobListIndex()
    for job_id, meta in jobs:
        index.add(job_id, meta)
    # -2 is no cursor; -1 (and past the end) is one that names no job.
    after = None if cursor == -2 else f"ftjob-{cursor}"
    without = without and not wanted  # the route refuses the two together
    assert index.page(after, limit, wanted, without_metadata=without) == walked_page(
        jobs, after, limit, wanted, without
    )


def test_a_walk_through_every_page_sees_each_tagged_job_once() -> None:
    index = JobListIndex()
    for n in range(1000):
        index.add(f"ftjob-{n}", {"ftd_instance": "ours" if n % 3 else "theirs", "n": str(n)})
    index.add("ftjob-7", {"ftd_instance": "theirs"})  # saved again: keeps its place and tags
    seen: list[str] = []
    after = None
    while True:
        page, more = index.page(after, 100, {"ftd_instance": "ours"})
        seen += page
        if not more:
            break
        after = page[-1]
    assert seen == [f"ftjob-{n}" for n in reversed(range(1000)) if n % 3]
