"""Black-box forensics: is an API serving (a derivative of) our model?

Public API: :class:`Client`/:class:`Endpoint` (robust OpenAI-compatible client), :class:`Transcript`
(hash-chained, resumable JSONL), the tests (:func:`agreement_identity_test`, :func:`identity_test`,
:func:`lineage_test`, :func:`tokenizer_slope_test`), :func:`run_probe` and its HTML page
(:func:`write_report`), and serving (:func:`create_app`, :func:`load_local_model`).
"""

from modeltrace.blackbox.client import (
    Client,
    Endpoint,
    EndpointError,
    MalformedResponseError,
    RetriesExhaustedError,
)
from modeltrace.blackbox.probe import ProbeConfig, run_probe
from modeltrace.blackbox.report_html import write_report
from modeltrace.blackbox.tests import (
    Continuation,
    TestResult,
    agreement_identity_test,
    identity_test,
    lineage_test,
    tokenizer_slope_test,
)
from modeltrace.blackbox.transcript import Transcript, TranscriptError, verify_transcript

__all__ = [
    "Client",
    "Continuation",
    "Endpoint",
    "EndpointError",
    "MalformedResponseError",
    "ProbeConfig",
    "RetriesExhaustedError",
    "TestResult",
    "Transcript",
    "TranscriptError",
    "agreement_identity_test",
    "identity_test",
    "lineage_test",
    "run_probe",
    "tokenizer_slope_test",
    "verify_transcript",
    "write_report",
]
