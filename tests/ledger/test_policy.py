"""C2SP tlog-policy: parsing, validation of hostile files, and quorum evaluation."""

from __future__ import annotations

import itertools

import pytest

from modeltrace.ledger import CosignatureSigner, Ed25519Signer, FormatError, Policy, parse_policy
from modeltrace.ledger.note import TYPE_COSIGNATURE_V1, format_vkey
from modeltrace.ledger.policy import MAX_POLICY_BYTES


def _witness_vkey(name: str) -> str:
    seed = name.encode().ljust(32, b"\x00")[:32]
    return CosignatureSigner.from_seed(f"{name}.example", seed).vkey


LOG_VKEY = Ed25519Signer.from_seed("log.example", bytes(range(32))).vkey

# The spec's example (c2sp.org/tlog-policy §Example policy), with real keys.
SPEC_EXAMPLE = f"""log {LOG_VKEY}

witness X1 {_witness_vkey("X1")}
witness X2 {_witness_vkey("X2")}
witness X3 {_witness_vkey("X3")}
group X-witnesses 2 X1 X2 X3

witness Y1 {_witness_vkey("Y1")}
witness Y2 {_witness_vkey("Y2")}
witness Y3 {_witness_vkey("Y3")}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_spec_example_parses() -> None:
    policy = parse_policy(SPEC_EXAMPLE)
    assert [log.verifier.vkey for log in policy.logs] == [LOG_VKEY]
    assert list(policy.witnesses) == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert policy.groups["X-witnesses"].threshold == 2
    assert policy.groups["Y-witnesses"].threshold == 1
    assert policy.groups["X-and-Y"].threshold == 2
    assert policy.quorum == "X-and-Y"


def test_spec_example_quorum_needs_two_x_and_one_y() -> None:
    policy = parse_policy(SPEC_EXAMPLE)
    names = list(policy.witnesses)
    for count in range(len(names) + 1):
        for cosigned in itertools.combinations(names, count):
            xs = sum(name.startswith("X") for name in cosigned)
            ys = sum(name.startswith("Y") for name in cosigned)
            assert policy.satisfied_by(cosigned) == (xs >= 2 and ys >= 1), cosigned


def test_jurisdiction_policy_from_the_ledger_note() -> None:
    policy = parse_policy(
        f"""# witnesses per jurisdiction (ledger note §5)
log {LOG_VKEY} https://log.example/
witness eu-a {_witness_vkey("eu-a")} https://eu-a.example/
witness eu-b {_witness_vkey("eu-b")}
witness eu-c {_witness_vkey("eu-c")}
witness us-a {_witness_vkey("us-a")}
witness us-b {_witness_vkey("us-b")}
witness jp {_witness_vkey("jp")}
group EU 2 eu-a eu-b eu-c
group US 1 us-a us-b
group cross 2 EU US jp
quorum cross
"""
    )
    assert policy.logs[0].url == "https://log.example/"
    assert policy.witnesses["eu-a"].url == "https://eu-a.example/"
    assert policy.satisfied_by({"eu-a", "eu-b", "us-b"})
    assert policy.satisfied_by({"us-a", "jp"})
    assert not policy.satisfied_by({"eu-a", "us-a"})  # one EU witness does not make EU
    assert not policy.satisfied_by({"eu-a", "eu-b", "eu-c"})  # one jurisdiction is not two
    assert not policy.satisfied_by({"unknown", "jp"})


def test_quorum_none_and_single_witness() -> None:
    assert parse_policy(f"log {LOG_VKEY}\nquorum none\n").satisfied_by(())
    policy = parse_policy(f"witness w {_witness_vkey('w')}\nquorum w\n")
    assert policy.logs == ()  # logs may come from context
    assert policy.satisfied_by({"w"}) and not policy.satisfied_by(())


def test_whitespace_comments_and_blank_lines() -> None:
    text = (
        f"  # comment\n\t\nlog\t{LOG_VKEY}   \n   witness  w \t{_witness_vkey('w')}\n#quorum none\nquorum w"
    )
    policy = parse_policy(text.encode())
    assert policy.quorum == "w" and len(policy.logs) == 1


def test_names_are_opaque_and_non_ascii_allowed() -> None:
    kelvin = "\u212a"
    policy = parse_policy(
        f"witness K {_witness_vkey('a')}\nwitness {kelvin} {_witness_vkey('b')}\n"
        f"group g all K {kelvin}\nquorum g\n"
    )
    assert set(policy.witnesses) == {"K", "\u212a"}  # Kelvin sign is not K
    assert not policy.satisfied_by({"K"})


def test_to_text_round_trips() -> None:
    policy = parse_policy(SPEC_EXAMPLE)
    again = parse_policy(policy.to_text())
    assert again == policy
    assert again.to_text() == policy.to_text()


def test_witness_names_map_keys_back_to_policy_names() -> None:
    policy = parse_policy(SPEC_EXAMPLE)
    verifiers = [policy.witnesses["X2"].verifier, policy.witnesses["Y3"].verifier]
    assert policy.witness_names(verifiers) == {"X2", "Y3"}


W = _witness_vkey("w")
V = _witness_vkey("v")
HOSTILE_POLICIES: dict[str, str | bytes] = {
    "empty": "",
    "no quorum": f"log {LOG_VKEY}\n",
    "two quorums": f"witness w {W}\nquorum w\nquorum none\n",
    "unknown keyword": "quorum none\nlogs x\n",
    "quorum before its witness": f"quorum w\nwitness w {W}\n",
    "group before its member": f"group g any w\nwitness w {W}\nquorum g\n",
    "group naming itself": f"witness w {W}\ngroup g any g w\nquorum g\n",
    "member listed twice": f"witness w {W}\ngroup g 1 w w\nquorum g\n",
    "threshold 0": f"witness w {W}\ngroup g 0 w\nquorum g\n",
    "threshold above n": f"witness w {W}\ngroup g 2 w\nquorum g\n",
    "threshold with leading zero": f"witness w {W}\ngroup g 01 w\nquorum g\n",
    "threshold negative": f"witness w {W}\ngroup g -1 w\nquorum g\n",
    "group without members": f"witness w {W}\ngroup g any\nquorum g\n",
    "none as a member": f"witness w {W}\ngroup g any w none\nquorum g\n",
    "none redefined": f"witness none {W}\nquorum none\n",
    "duplicate witness name": f"witness w {W}\nwitness w {V}\nquorum w\n",
    "witness and group share a name": f"witness w {W}\ngroup w any w\nquorum w\n",
    "duplicate log": f"log {LOG_VKEY}\nlog {LOG_VKEY}\nquorum none\n",
    "log with a cosignature key": f"log {W}\nquorum none\n",
    "witness with a log key": f"witness w {LOG_VKEY}\nquorum w\n",
    "bad vkey": "log example.com+00000000+AAAA\nquorum none\n",
    "extra item on log": f"log {LOG_VKEY} https://a https://b\nquorum none\n",
    "extra item on quorum": "quorum none none\n",
    "quorum without name": "quorum\n",
    "witness without key": "witness w\nquorum none\n",
    "carriage return": f"log {LOG_VKEY}\r\nquorum none\r\n",
    "NUL": b"quorum none\x00\n",
    "DEL": b"quorum none\x7f\n",
    "form feed": b"quorum\x0cnone\n",
    "invalid UTF-8": b"# \xff\xfe\nquorum none\n",
    "non-ASCII space is not a separator": "quorum\u00a0none\n",
    "line of 5000 bytes": "# " + "x" * 5000 + "\nquorum none\n",
    "over 64 KiB": ("# comment\n" * (MAX_POLICY_BYTES // 10 + 1)) + "quorum none\n",
    "300 witnesses": "".join(f"witness w{i} {_witness_vkey(f'w{i}')}\n" for i in range(300))
    + "quorum none\n",
}


@pytest.mark.parametrize("text", HOSTILE_POLICIES.values(), ids=HOSTILE_POLICIES.keys())
def test_hostile_policies_are_clean_format_errors(text: str | bytes) -> None:
    with pytest.raises(FormatError):
        parse_policy(text)


def test_one_public_key_under_two_names_is_a_duplicate() -> None:
    public_key = parse_policy(f"witness w {W}\nquorum w\n").witnesses["w"].verifier.public_key
    renamed = format_vkey("other.example", TYPE_COSIGNATURE_V1, public_key)
    with pytest.raises(FormatError, match="same public key"):
        parse_policy(f"witness w {W}\nwitness v {renamed}\nquorum w\n")


def test_error_names_the_line() -> None:
    with pytest.raises(FormatError, match="line 3"):
        parse_policy(f"# ok\nwitness w {W}\ngroup g 5 w\nquorum g\n")


def test_policy_type_is_exported() -> None:
    assert isinstance(parse_policy("quorum none\n"), Policy)
