"""The emulator's records in memory, written through to the journal when there is one.

Dictionaries keep insertion order, which is creation order: listing newest
first is a reversed walk, and a restart reloads rows in the order they were
first written, so the order survives too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.emulator import persistence
from ftd.emulator.blobs import BlobStore, DiskBlobs, MemoryBlobs
from ftd.emulator.joblist import JobListIndex
from ftd.emulator.records import FileRecord, JobRecord, UploadRecord

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ftd.emulator.persistence import Journal


class EmulatorState:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        blob_dir = journal.blob_dir
        self.blobs: BlobStore = MemoryBlobs() if blob_dir is None else DiskBlobs(blob_dir)
        self.files: dict[str, FileRecord] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.job_list = JobListIndex()  # kept beside ``jobs``: list pages by place, not by walk
        self.deleted_models: set[str] = set()
        for row in journal.load(persistence.FILE):
            record = FileRecord.from_json(row)
            self.files[record.id] = record
        for row in journal.load(persistence.UPLOAD):
            upload = UploadRecord.from_json(row)
            self.uploads[upload.id] = upload
        for row in journal.load(persistence.JOB):
            job = JobRecord.from_json(row)
            self.jobs[job.id] = job
            self.job_list.add(job.id, job.metadata)
        for row in journal.load(persistence.DELETED_MODEL):
            self.deleted_models.add(str(row["id"]))

    # -- files -------------------------------------------------------------------
    def live_file(self, file_id: str, now: float) -> FileRecord | None:
        record = self.files.get(file_id)
        if record is None or (record.expires_at is not None and record.expires_at <= now):
            return None
        return record

    def live_files(self, now: float) -> Iterator[FileRecord]:
        for record in self.files.values():
            if record.expires_at is None or record.expires_at > now:
                yield record

    def add_file(self, record: FileRecord) -> None:
        self.files[record.id] = record
        self.journal.save(persistence.FILE, record.id, record.to_json())

    def remove_file(self, file_id: str, *, keep_bytes: bool = False) -> None:
        self.files.pop(file_id, None)
        if not keep_bytes:
            self.blobs.delete(file_id)
        self.journal.delete(persistence.FILE, file_id)

    # -- uploads, jobs, models ----------------------------------------------------
    def save_upload(self, upload: UploadRecord) -> None:
        self.uploads[upload.id] = upload
        self.journal.save(persistence.UPLOAD, upload.id, upload.to_json())

    def save_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job
        self.job_list.add(job.id, job.metadata)
        self.journal.save(persistence.JOB, job.id, job.to_json())

    def delete_model(self, name: str) -> None:
        self.deleted_models.add(name)
        self.journal.save(persistence.DELETED_MODEL, name, {"id": name})

    def close(self) -> None:
        self.journal.close()
