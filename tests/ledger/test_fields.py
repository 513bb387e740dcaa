"""Field syntax: SPDX license expressions and ISO 3166 geography codes."""

from __future__ import annotations

import pytest

from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.iso3166 import ALPHA2, is_country_code
from modeltrace.ledger.spdx_expression import parse_license_expression


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("MIT", "MIT"),
        ("Apache-2.0 OR MIT", "Apache-2.0 OR MIT"),
        ("  (MIT AND  BSD-3-Clause) OR GPL-2.0+ ", "(MIT AND BSD-3-Clause) OR GPL-2.0+"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("LicenseRef-internal-data-terms", "LicenseRef-internal-data-terms"),
        (
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
        ),
        ("MIT WITH AdditionRef-my-exception", "MIT WITH AdditionRef-my-exception"),
        ("CC-BY-4.0 AND (CC0-1.0 OR ODbL-1.0)", "CC-BY-4.0 AND (CC0-1.0 OR ODbL-1.0)"),
        ("NOASSERTION", "NOASSERTION"),
    ],
)
def test_valid_expressions(text: str, normalised: str) -> None:
    assert parse_license_expression(text) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mit or apache-2.0",
        "MIT and Apache-2.0",
        "MIT AND",
        "(MIT",
        "MIT)",
        "AND MIT",
        "MIT WITH",
        "MIT WITH LicenseRef-x",
        "(MIT OR BSD-2-Clause) WITH Classpath-exception-2.0",
        "MIT/GPL",
        "MIT, Apache-2.0",
        "NONE OR MIT",
        "LicenseRef-",
        "AdditionRef-x",
        "Apache 2.0",
    ],
)
def test_malformed_expressions_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        parse_license_expression(text)


def test_iso3166_alpha2_codes() -> None:
    assert len(ALPHA2) == 249
    for code in ("DE", "FR", "US", "GB", "JP", "CN", "BR", "IN", "AQ", "XK" if "XK" in ALPHA2 else "ZA"):
        assert is_country_code(code)
    for code in ("UK", "EU", "XX", "de", "D", "DEU", "", "ZZ"):
        assert not is_country_code(code)
    assert is_country_code("US-CA") and is_country_code("FR-75")
    assert not is_country_code("UK-ENG") and not is_country_code("US-")
