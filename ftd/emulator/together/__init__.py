"""The Together AI flavour of the emulator (``ftd emulator --flavor together``).

Served on one loopback port under ``/v1`` (``ROOT/v1`` stands in for
``https://api.together.ai/v1``), ``Authorization: Bearer KEY`` required::

    POST          /v1/files/upload                 (multipart: purpose, file_name, file)
    GET           /v1/files   GET/DELETE /v1/files/{id}   GET /v1/files/{id}/content
    POST/GET      /v1/fine-tunes                   (list: every job, newest first, no paging)
    GET           /v1/fine-tunes/{id}              POST /v1/fine-tunes/{id}/cancel
    GET           /v1/fine-tunes/{id}/events | checkpoints | metrics
    POST          /v1/fine-tunes/estimate-price
    GET           /v1/fine-tunes/models/supported  GET /v1/fine-tunes/models/limits?model_name=
    GET           /v1/models                       GET /v1/hardware
    POST/GET      /v1/endpoints                    GET/DELETE /v1/endpoints/{endpointId}
    POST          /v1/chat/completions             (a base, a serverless LoRA fine-tune's
                                                    output name, or a dedicated endpoint's name)

Statuses run pending -> queued -> running -> compressing -> uploading ->
completed on the compressed clock (``--speed``); a cancel shows
cancel_requested, then cancelled; a failed job shows error. Endpoints stay
PENDING/STARTING for ``--deployment-provisioning-seconds`` (emulated).

Admin (no auth, no faults): the usual ``/_emulator/…`` routes plus ``GET
/_emulator/endpoints`` (live endpoints, and how many creates and deletes
arrived since start).
"""
