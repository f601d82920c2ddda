"""How ftd marks what it creates at the provider, so that it can always find it again.

A file's name and a job's metadata carry the dataset's content hash and its
random tag (one per dataset row, so a retried copy of a failed dataset is not
mistaken for the first try); every job also carries the installation's id,
which lets one list call return all of this ftd's jobs.
"""

from __future__ import annotations

from typing import Protocol

INSTANCE_KEY = "ftd_instance"
TAG_KEY = "ftd_tag"


class Tagged(Protocol):
    @property
    def sha256(self) -> str: ...

    @property
    def tag(self) -> str: ...


def dataset_tag(dataset: Tagged) -> str:
    return f"{dataset.sha256[:16]}-{dataset.tag}"


def upload_name(dataset: Tagged, side: str) -> str:
    """The provider-side name of a split: found again by it after a crash."""
    return f"ftd-{dataset_tag(dataset)}-{side}.jsonl"
