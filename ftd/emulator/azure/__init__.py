"""The Azure OpenAI flavour of the emulator (``ftd emulator --flavor azure``).

Everything is served on one loopback port; ``ROOT`` is ``http://127.0.0.1:PORT``.

Data plane, v1 shape (plain ``openai.AsyncOpenAI(base_url=ROOT + "/openai/v1/")``;
``api-version`` optional, ``v1`` or ``preview``)::

    POST/GET      /openai/v1/files                 (POST needs expires_after, 14-30 days)
    GET/DELETE    /openai/v1/files/{id}            GET /openai/v1/files/{id}/content
    POST/GET      /openai/v1/fine_tuning/jobs      (list: after, limit; no metadata filter)
    GET           /openai/v1/fine_tuning/jobs/{id}
    POST          /openai/v1/fine_tuning/jobs/{id}/cancel | pause | resume
    GET           /openai/v1/fine_tuning/jobs/{id}/events | checkpoints
    GET           /openai/v1/models                GET /openai/v1/models/{id}
    POST          /openai/v1/chat/completions      ("model" is the DEPLOYMENT name)

Data plane, api-version shape (``openai.AsyncAzureOpenAI(azure_endpoint=ROOT,
api_version="2025-04-01-preview")``; ``api-version`` required): the same
routes under ``/openai/…`` without ``v1``, and chat at
``POST /openai/deployments/{deployment}/chat/completions``.

Auth: the data plane wants ``api-key: KEY`` or ``Authorization: Bearer TOKEN``
(any non-empty value), else 401 ``{"error": {"code": "401", …}}``. ARM wants
``Authorization: Bearer TOKEN``, else 401 ``AuthenticationFailed``.

ARM (``ROOT`` stands in for ``https://management.azure.com``;
``?api-version=2024-10-01`` required)::

    ACCOUNT = /subscriptions/{sub}/resourceGroups/{rg}
              /providers/Microsoft.CognitiveServices/accounts/{account}   (one path)
    PUT/GET/DELETE  ACCOUNT/deployments/{name}
    GET             ACCOUNT/deployments            (nextLink paging, $skipToken)
    GET             ACCOUNT/models                 (Accounts_ListModels, deprecation dates)
    GET             /subscriptions/{sub}/providers/Microsoft.CognitiveServices
                    /locations/eastus/operations/{id}   (one path: the URL PUT and
                    DELETE give in ``azure-asyncoperation``)

Job create accepts ``trainingType`` (``globalStandard``, ``standard``,
``developerTier``), shown back on the job as ``trainingType``. Ids:
``file-<32 hex>``, ``ftjob-<32 hex>``, model ``<base>.ft-<32 hex>[-<suffix>]``,
checkpoint ``ftchkpt-<hex><step>``, checkpoint model ``<model>:ckpt-step-<N>``.

Knobs (``RuntimeConfig``, ``POST /_emulator/config``, or the command's options;
emulated seconds, divided by ``speed``): ``deployment_provisioning_seconds``
(60; Creating until then), ``deployment_not_ready_seconds`` (30; chat answers
404 DeploymentNotReady that long after Succeeded),
``developer_tier_pause_seconds`` (0 = off; a developerTier job is paused by
the service after its first step and resumed this much later),
``arm_page_size`` (100 entries per ARM list page).

Admin (no auth, no faults): the usual ``/_emulator/config``, ``stats``,
``reset_stats``, ``state``, plus ``GET /_emulator/deployments`` (live
deployments, and how many PUTs and DELETEs arrived since start) and
``GET /_emulator/azure_jobs`` (each job's training tier and service pauses).
"""
