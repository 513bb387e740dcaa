"""ISO 3166-1 alpha-2 country codes and the ISO 3166-2 subdivision code shape, for geography fields.

The 249 officially assigned alpha-2 codes (ISO 3166 Maintenance Agency list). Data & Trust Alliance
provenance fields record where data originated, was processed and is stored; a typo such as ``UK``
(reserved, not assigned: the United Kingdom is ``GB``) must fail loudly rather than reach a log entry
that can never be corrected in place.
"""

from __future__ import annotations

import re

ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()  # noqa: SIM905 - one line per initial letter reads like the standard's table
)

# ISO 3166-2: the country's alpha-2 code, a hyphen, and one to three alphanumerics.
_SUBDIVISION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")


def is_country_code(code: str) -> bool:
    """An assigned ISO 3166-1 alpha-2 code (``DE``), or an ISO 3166-2 subdivision of one (``US-CA``)."""
    if code in ALPHA2:
        return True
    match = _SUBDIVISION.fullmatch(code)
    return match is not None and match.group(1) in ALPHA2
