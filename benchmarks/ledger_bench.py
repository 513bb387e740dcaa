"""Ledger benchmark: durable appends, HTTP appends by submission mode, latency, proofs, storage, hashing.

    .venv/bin/python benchmarks/ledger_bench.py [--entries 4000] [--http 4000] [--witnessed 1000]
        [--concurrency 64] [--per-request 64] [--batch-concurrency 8] [--repeat 3]
        [--backends sqlite,postgres] [--no-hashing] [--hash-only]

For each backend (SQLite file; PostgreSQL at $MODELTRACE_TEST_POSTGRES or 127.0.0.1:5432, in a fresh
schema dropped afterwards) it prints: durable appends/s in-process (batches of 256, every signature
checked by the log); durable appends/s over HTTP (``modeltrace ledger serve`` in a subprocess, a fresh
log each run) in two submission modes, each run ``--repeat`` times and reported as best and median:

* one signed leaf per request (``application/json``), ``--concurrency`` keep-alive connections; the
  server group-commits concurrent requests into one transaction;
* ``--per-request`` leaves per request (``application/x-ndjson``), ``--batch-concurrency`` connections.

In both, every leaf's signature is verified by the log inside the append transaction, its key must be
registered and active, rate limits and size caps apply, and each answer (201 with the inclusion proof
and tlog-proof) is sent only after the transaction committed (SQLite ``synchronous=FULL`` / PostgreSQL
``synchronous_commit``). With each HTTP figure: the server's CPU time per entry (user + system, from
/proc), which the load of other processes on a shared machine moves far less than appends/s. Then
submit->proof latency without witnesses and with a 2-of-3 quorum of witness subprocesses on loopback,
inclusion-proof verification time, storage bytes per entry; then checkpoint hashing of the zoo's
minilm6 against plain sha256 over the same files, side by side, warm, alternating. Statements are
signed before timing starts. Targets are printed next to each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from modeltrace.ledger import statements
from modeltrace.ledger.entries import Draft, SignedStatement, sign
from modeltrace.ledger.keys import OrgKey
from modeltrace.ledger.log import Log, Receipt
from modeltrace.ledger.note import CosignatureSigner
from modeltrace.ledger.proofs import InMemoryTree, verify_inclusion
from modeltrace.merkle import leaf_hash

ORIGIN = "bench.example/log"
PG_BASE = os.environ.get("MODELTRACE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PYTHON = sys.executable


def statements_for(key: OrgKey, count: int, tag: str) -> list[SignedStatement]:
    out = []
    for number in range(count):
        pub = {
            "time": 1767225600,
            "digest": hashlib.sha256(f"{tag} {number}".encode()).hexdigest(),
            "predicate_type": "https://example.org/bench/v1",
        }
        out.append(sign(Draft("attestation", pub), key))
    return out


def new_db(backend: str, folder: Path, name: str) -> str:
    if backend == "sqlite":
        return str(folder / f"{name}.db")
    return f"{PG_BASE}?schema=b_{uuid.uuid4().hex[:12]}"


def drop(db: str) -> None:
    if not db.startswith("postgresql://"):
        return
    import psycopg
    from psycopg import sql

    schema = db.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def init_log(db: str, key: OrgKey) -> None:
    with Log.init(ORIGIN, db) as log:
        log.append([sign(statements.org_key_register(key), key)])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
            )
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(args: Sequence[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_up(url, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve_log(db: str, policy: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = "import sys; from modeltrace.ledger.cli import app; sys.argv[0] = 'ledger'; app()"
    args = [
        PYTHON,
        "-c",
        code,
        "serve",
        "--db",
        db,
        "--port",
        str(port),
        "--rate",
        "1e9",
        "--burst",
        "1000000000",
    ]
    if policy is not None:
        args += ["--policy", str(policy)]
    url = f"http://127.0.0.1:{port}"
    return start(args, url + "/checkpoint"), url


def serve_witness(folder: Path, number: int, log_vkey: str) -> tuple[subprocess.Popen[bytes], str, str]:
    signer = CosignatureSigner.generate(f"w{number}.bench.example")
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / f"w{number}.key"
    key_file.write_text(signer.skey() + "\n")
    port = free_port()
    code = (
        "import sys; from modeltrace.ledger.serve_cli import witness_app as a; sys.argv[0] = 'witness'; a()"
    )
    args = [PYTHON, "-c", code, "serve", "--state", str(folder / f"w{number}"), "--key", str(key_file)]
    args += ["--log", log_vkey, "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    return start(args, url + "/docs"), url, signer.vkey


async def _post_loop(
    host: str, port: int, bodies: list[bytes], latencies: list[float], failures: list[int], kind: str
) -> None:
    """One keep-alive HTTP/1.1 connection posting leaves: a minimal client, so the client's CPU
    (on the same 2 cores) does not dominate what is measured."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while bodies:
            body = bodies.pop()
            head = (
                f"POST /v1/entries HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            began = time.perf_counter()
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if status.split()[1] not in (b"200", b"201") or b'"tlog_proof"' not in answer:
                failures.append(1)
    finally:
        writer.close()


async def submit_all(
    url: str, bodies: list[bytes], concurrency: int, per_request: int = 1
) -> tuple[float, list[float], int]:
    """POST every leaf with ``concurrency`` connections, ``per_request`` leaves a request (NDJSON when
    more than one); (seconds, latencies, failures)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    kind = "application/json" if per_request == 1 else "application/x-ndjson"
    groups = [b"\n".join(bodies[i : i + per_request]) for i in range(0, len(bodies), per_request)]
    pending = list(reversed(groups))
    latencies: list[float] = []
    failures: list[int] = []
    began = time.perf_counter()
    await asyncio.gather(
        *(_post_loop(host, int(port), pending, latencies, failures, kind) for _ in range(concurrency))
    )
    return time.perf_counter() - began, latencies, len(failures)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stack() -> str:
    """What ``uvicorn.run`` picks by default ("auto"): httptools and uvloop when they are installed."""
    import importlib.util

    import uvicorn

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {uvicorn.__version__}, http={http}, loop={loop}"


def http_run(
    backend: str, folder: Path, key: OrgKey, count: int, concurrency: int, per_request: int, tag: str
) -> dict[str, float]:
    """One HTTP measurement on a fresh log: appends/s, server CPU µs per entry, failures, latency."""
    db = new_db(backend, folder, tag)
    try:
        init_log(db, key)
        bodies = [s.raw for s in statements_for(key, count, tag)]
        server, url = serve_log(db, None)
        try:
            before = cpu_seconds(server.pid)
            elapsed, latencies, failures = asyncio.run(submit_all(url, bodies, concurrency, per_request))
            after = cpu_seconds(server.pid)
        finally:
            stop(server)
    finally:
        drop(db)
    cpu = (after - before) / count * 1e6 if before is not None and after is not None else float("nan")
    return {
        "rate": count / elapsed,
        "cpu_us": cpu,
        "failures": failures,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def storage(db: str, log: Log) -> tuple[float, float]:
    size = log.size
    tiles = sum(len(row.data) for row in log.store.tiles())
    if db.startswith("postgresql://"):
        schema = db.rsplit("schema=", 1)[1]
        import psycopg

        with psycopg.connect(PG_BASE) as connection:
            row = connection.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
        total = float(row[0] if row and row[0] else 0)
    else:
        log.store._one("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
        total = sum(p.stat().st_size for p in Path(db).parent.glob(Path(db).name + "*") if p.is_file())
    return total / size, tiles / size


def verify_time(receipt: Receipt) -> tuple[float, int]:
    """Best-of-5 µs per inclusion-proof verification: the receipt's proof, and a 12-hash one."""
    tree = InMemoryTree([leaf_hash(b"%d" % n) for n in range(4096)])
    proof = tree.inclusion_proof(1234)
    cases = [(receipt.leaf_hash, receipt.index, receipt.size, list(receipt.inclusion), receipt.root)]
    cases.append((leaf_hash(b"1234"), 1234, 4096, proof, tree.root()))
    best = 0.0
    for digest, index, size, hashes, root in cases:
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(2000):
                verify_inclusion(digest, index, size, hashes, root)
            timings.append((time.perf_counter() - began) / 2000)
        best = max(best, min(timings))
    return best * 1e6, max(len(receipt.inclusion), len(proof))


def bench_backend(backend: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    key = OrgKey.generate("bench.example")
    results: dict[str, Any] = {}
    made: list[str] = []
    try:
        # in-process durable appends (best of --repeat, each on its own fresh log)
        results["inproc"] = []
        for run in range(args.repeat):
            db = new_db(backend, folder, f"inproc{run}")
            made.append(db)
            init_log(db, key)
            batch = statements_for(key, args.entries, f"inproc{run}")
            with Log.open(db) as log:
                began, cpu = time.perf_counter(), time.process_time()
                for first in range(0, len(batch), 256):
                    receipts = log.append(batch[first : first + 256])
                seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
                results["inproc"].append({"rate": len(batch) / seconds, "cpu_us": cpu / len(batch) * 1e6})
                if run == 0:
                    results["verify_us"], results["proof_hashes"] = verify_time(receipts[-1])
                    results["bytes_per_entry"], results["tile_bytes_per_entry"] = storage(db, log)

        # over HTTP, one leaf per request and NDJSON batches, alternating, each on a fresh log
        results["single"], results["batched"] = [], []
        for run in range(args.repeat):
            results["single"].append(
                http_run(backend, folder, key, args.http, args.concurrency, 1, f"single{run}")
            )
            results["batched"].append(
                http_run(
                    backend, folder, key, args.http, args.batch_concurrency, args.per_request, f"batch{run}"
                )
            )

        # over HTTP with a 2-of-3 quorum of witnesses on loopback
        db = new_db(backend, folder, "witnessed")
        made.append(db)
        init_log(db, key)
        with Log.open(db) as log:
            log_vkey = log.vkey
        witnesses = [serve_witness(folder / backend, i, log_vkey) for i in range(3)]
        policy = folder / f"{backend}.policy"
        policy.write_text(
            f"log {log_vkey}\n"
            + "".join(f"witness w{i} {vkey} {url}\n" for i, (_, url, vkey) in enumerate(witnesses))
            + "group two 2 w0 w1 w2\nquorum two\n"
        )
        bodies = [s.raw for s in statements_for(key, args.witnessed, "witnessed")]
        server, url = serve_log(db, policy)
        try:
            elapsed, latencies, failures = asyncio.run(submit_all(url, bodies, args.concurrency))
        finally:
            stop(server)
            for process, _, _ in witnesses:
                stop(process)
        results["w_http"] = len(bodies) / elapsed
        results["w_failures"] = failures
        results["w_p50"], results["w_p99"] = percentile(latencies, 0.5), percentile(latencies, 0.99)
    finally:
        for db in made:
            drop(db)
    return results


def bench_hashing(rounds: int) -> dict[str, float]:
    from modeltrace.ledger.model_hash import hash_model
    from modeltrace.zoo import fetch

    folder = fetch("minilm6")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)

    def plain() -> None:
        for path in files:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)

    plain()
    hash_model(folder)  # warm: both read the same page-cached files
    pairs: list[tuple[float, float]] = []
    for _ in range(rounds):  # alternate, side by side: the machine is shared, its load moves
        began = time.perf_counter()
        plain()
        baseline = time.perf_counter() - began
        began = time.perf_counter()
        hash_model(folder)
        pairs.append((baseline, time.perf_counter() - began))
    best_plain, best_ledger = min(p for p, _ in pairs), min(h for _, h in pairs)
    ratios = sorted(p / h for p, h in pairs)
    return {
        "bytes": float(total),
        "sha256": total / best_plain,
        "ledger": total / best_ledger,
        "best_ratio": best_plain / best_ledger,
        "median_ratio": ratios[len(ratios) // 2],
        "rounds": float(rounds),
    }


def _best_median(runs: list[dict[str, float]], key: str = "rate") -> tuple[float, float]:
    values = sorted(run[key] for run in runs)
    return values[-1], values[len(values) // 2]


def _print_http(label: str, runs: list[dict[str, float]], target: str) -> None:
    best, median = _best_median(runs)
    cpu = sorted(run["cpu_us"] for run in runs)[len(runs) // 2]
    failures = sum(int(run["failures"]) for run in runs)
    print(f"  {label}")
    print(
        f"      appends/s best {best:7,.0f}  median {median:7,.0f}  of {len(runs)} runs   {target}"
        f"   server CPU {cpu:4.0f} us/entry (median)   failures {failures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=4000)
    parser.add_argument("--http", type=int, default=4000, help="leaves per HTTP run")
    parser.add_argument("--witnessed", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64, help="connections, one leaf per request")
    parser.add_argument("--per-request", type=int, default=64, help="leaves per NDJSON request")
    parser.add_argument("--batch-concurrency", type=int, default=8, help="connections, NDJSON mode")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each append measurement")
    parser.add_argument("--hash-rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-hashing", action="store_true")
    parser.add_argument("--hash-only", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"ledger_bench on {os.cpu_count()} CPUs, load average {load:.1f} (shared machine: figures vary)")
    print(f"server: {server_stack()}; every figure is a durable append with its signature verified")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in [] if args.hash_only else args.backends.split(","):
            began = time.perf_counter()
            r = bench_backend(backend, args, Path(tmp))
            print(f"\n[{backend}]  ({time.perf_counter() - began:.0f} s)")
            best, median = _best_median(r["inproc"])
            cpu = sorted(run["cpu_us"] for run in r["inproc"])[len(r["inproc"]) // 2]
            print(
                f"  in-process Log.append, batches of 256: best {best:7,.0f}  median {median:7,.0f} appends/s"
                f"   CPU {cpu:4.0f} us/entry"
            )
            _print_http(
                f"HTTP, 1 leaf per request (application/json), {args.concurrency} connections, group commit:",
                r["single"],
                "target >= 2,000",
            )
            _print_http(
                f"HTTP, {args.per_request} leaves per request (application/x-ndjson),"
                f" {args.batch_concurrency} connections:",
                r["batched"],
                "target >= 2,000",
            )
            single = sorted(r["single"], key=lambda run: run["rate"])[len(r["single"]) // 2]
            print(
                f"  submit->proof latency, no witnesses, 1 leaf per request (median run): p50"
                f" {single['p50'] * 1000:7.1f} ms  p99 {single['p99'] * 1000:7.1f} ms   target p99 <= 1 s"
            )
            print(
                f"  submit->proof latency, 2-of-3 witnesses, 1 leaf per request: p50"
                f" {r['w_p50'] * 1000:7.1f} ms  p99 {r['w_p99'] * 1000:7.1f} ms   target p99 <= 2.5 s"
                f"   ({r['w_http']:,.0f} appends/s, failures {r['w_failures']})"
            )
            print(
                f"  inclusion proof verification (up to {r['proof_hashes']} hashes, slower case):"
                f" {r['verify_us']:6.1f} us   target <= 50 us"
            )
            print(
                f"  storage: {r['bytes_per_entry']:6.0f} B/entry in all;"
                f" tree (tiles) {r['tile_bytes_per_entry']:5.1f} B/entry   target tree <= 40 B"
            )
    if args.no_hashing:
        return
    h = bench_hashing(args.hash_rounds)
    print(
        f"\n[hashing] minilm6, {h['bytes'] / 1e6:.1f} MB, warm page cache,"
        f" {h['rounds']:.0f} rounds alternating"
    )
    print(f"  plain sha256 over the files, 1 thread, 1 MiB reads: {h['sha256'] / 1e9:6.2f} GB/s (best)")
    print(
        "  ledger checkpoint hashing (hash_model: per-tensor Merkle + file digests, 2 threads):"
        f" {h['ledger'] / 1e9:6.2f} GB/s (best)"
    )
    print(
        f"  ratio best/best {h['best_ratio']:6.1%}, median of rounds {h['median_ratio']:6.1%}"
        "   target >= 90 %  (two SHA-256 passes: needs a second free core)"
    )


if __name__ == "__main__":
    main()
