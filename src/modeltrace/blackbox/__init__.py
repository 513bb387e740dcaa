"""Black-box forensics: is an API serving (a derivative of) our model?

Public API: :class:`Client`/:class:`Endpoint` (robust OpenAI-compatible client), :class:`Transcript`
(hash-chained, resumable JSONL), the tests (:func:`identity_test`, :func:`lineage_test`,
:func:`tokenizer_slope_test`), :func:`run_probe`, and serving (:func:`create_app`, :func:`load_local_model`).
"""

from modeltrace.blackbox.client import (
    Client,
    Endpoint,
    EndpointError,
    MalformedResponseError,
    RetriesExhaustedError,
)
from modeltrace.blackbox.probe import ProbeConfig, run_probe
from modeltrace.blackbox.tests import TestResult, identity_test, lineage_test, tokenizer_slope_test
from modeltrace.blackbox.transcript import Transcript, TranscriptError, verify_transcript

__all__ = [
    "Client",
    "Endpoint",
    "EndpointError",
    "MalformedResponseError",
    "ProbeConfig",
    "RetriesExhaustedError",
    "TestResult",
    "Transcript",
    "TranscriptError",
    "identity_test",
    "lineage_test",
    "run_probe",
    "tokenizer_slope_test",
    "verify_transcript",
]
