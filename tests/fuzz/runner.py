"""Run schemathesis over the hub's OpenAPI description against a running hub: a bounded
number of generated cases per operation; every 5xx, hang (request timeout) and response that
does not conform to the description is collected, not raised, so one run reports them all.

Used by tests/fuzz/test_schemathesis.py and bench/fuzz_api.py."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation import GenerationMode

from cityhub.api import openapi

#: operations whose answer is an endless stream: not fuzzed here (tests/e2e/test_live.py)
STREAMS = {("GET", "/cityhub/v1/live")}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance]


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: int = 0
    hangs: int = 0
    operations: int = 0
    failures: list[str] = field(default_factory=list)
    #: answers by status class ("2xx", "4xx", ...)
    statuses: dict[str, int] = field(default_factory=dict)
    #: 501 NotImplemented answers to parameters of the specification CityHub does not
    #: implement (api.http.KNOWN_UNSUPPORTED): described answers, not server faults
    not_implemented: int = 0

    def figures(self) -> dict[str, Any]:
        return {"fuzz_cases": self.cases, "fuzz_5xx": self.server_errors,
                "fuzz_hangs": self.hangs, "operations": self.operations,
                "statuses": dict(sorted(self.statuses.items())),
                "not_implemented_501": self.not_implemented,
                "failures": self.failures[:50]}


def run(base_url: str, max_examples: int, *, timeout: float = 10.0,
        headers: dict[str, str] | None = None) -> FuzzReport:
    schema = schemathesis.openapi.from_dict(openapi.document())
    report = FuzzReport()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        key = (operation.method.upper(), operation.path)
        if key in STREAMS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, key, base_url, max_examples, timeout, headers or {},
                  session, report)
    session.close()
    return report


def _fuzz(operation: Any, mode: GenerationMode, key: tuple[str, str], base_url: str,
          max_examples: int, timeout: float, headers: dict[str, str],
          session: requests.Session, report: FuzzReport) -> None:
    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        report.cases += 1
        label = f"{key[0]} {key[1]} ({mode.value})"
        try:
            response = case.call(base_url=base_url, session=session, headers=headers,
                                 timeout=timeout)
        except requests.Timeout:
            report.hangs += 1
            report.failures.append(f"{label}: no answer in {timeout} s: {case.as_curl_command()}")
            return
        except requests.RequestException as exc:
            report.failures.append(f"{label}: {type(exc).__name__}: {exc}")
            return
        status_class = f"{response.status_code // 100}xx"
        report.statuses[status_class] = report.statuses.get(status_class, 0) + 1
        if response.status_code == 501 and "NotImplemented" in response.text[:200]:
            report.not_implemented += 1
        elif response.status_code >= 500:
            report.server_errors += 1
            report.failures.append(f"{label}: {response.status_code} "
                                   f"{response.text[:200]} <- {case.as_curl_command()}")
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # a conformance failure: collected
            if response.status_code < 500:
                report.failures.append(f"{label}: {str(exc)[:300]}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Unsatisfiable: nothing to make invalid (an operation without parameters)
        with contextlib.suppress(Unsatisfiable):
            one()
