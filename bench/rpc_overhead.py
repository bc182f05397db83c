"""Gateway RPC overhead benchmark: what the gateway's RPC pool and an HTTP request through the
gateway add to one bare nameko RPC, measured side by side.

Starts a complete Lodge of its own (tests/support/system.py) and times, in alternating
rounds so that every kind sees the same load:
  (a) bare   - nameko's ClusterRpcClient, started once, calling `inventory.list_collections`;
  (b) pool   - the same call through the gateway's RpcPool (gateway/rpc.py) in this process:
               a borrowed client, its kept publisher and reply consumer, the call's span,
               call-key context and timing metric;
  (k) kept   - the pool's own client (KeptRpcClient) called directly: its publisher and
               reply consumer without the pool, span, keys and metric, so (b) against (k)
               is what the pool's wrapping costs, and (k) against (a) what keeping the
               reply consumer saves (nameko's own opens a connection for every reply);
  (c) HTTP   - GET /api/v1/collections on the gateway, which makes exactly that one RPC,
               on a kept-alive connection; the request also runs the gateway's hooks
               (request and correlation ids, sign-in check for an anonymous caller, text
               safety, metrics, security headers) and serialises the reply as JSON.
The method reads one small table (no collections, no items): the RPC's round trip is
nearly all of it. Prints p50/p95 of each, the ratios to (a), and the 1.5x target.

    python bench/rpc_overhead.py --calls 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402

from bench.workload import add_lodge_arguments, bench_lodge, percentile  # noqa: E402
from gateway.rpc import KeptRpcClient, RpcPool  # noqa: E402

TARGET_RATIO = 1.5
WARM_UP = 20


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls of each kind")
    add_lodge_arguments(parser, "bench-rpc")
    args = parser.parse_args()

    with bench_lodge(args) as system:
        pool = RpcPool(system.amqp_uri, size=1, timeout=30)
        http = requests.Session()
        url = f"{system.base_url}/api/v1/collections"

        def through_pool() -> None:
            with pool.client() as services:
                services.inventory.list_collections()

        def over_http() -> None:
            response = http.get(url, timeout=30)
            response.raise_for_status()

        kept_client = KeptRpcClient(timeout=30, uri=system.amqp_uri)
        kept = kept_client.start()
        with ClusterRpcClient(uri=system.amqp_uri, timeout=30) as bare_client:
            kinds = {
                "bare nameko RPC": bare_client.inventory.list_collections,
                "kept client RPC": kept.inventory.list_collections,
                "gateway pool RPC": through_pool,
                "HTTP via gateway": over_http,
            }
            timings: dict[str, list[float]] = {name: [] for name in kinds}
            for _ in range(WARM_UP):
                for call in kinds.values():
                    call()
            for _ in range(args.calls):
                for name, call in kinds.items():
                    timings[name].append(timed(call))
        kept_client.stop()
        pool.close()

    p50s = {name: percentile(values, 50) for name, values in timings.items()}
    p95s = {name: percentile(values, 95) for name, values in timings.items()}
    bare = "bare nameko RPC"
    print(f"\n{args.calls} calls of each, alternating; inventory.list_collections")
    for name in timings:
        line = f"  {name:<18} p50 {p50s[name]:6.2f} ms   p95 {p95s[name]:6.2f} ms"
        if name != bare:
            line += (
                f"   {p50s[name] / p50s[bare]:.2f}x / {p95s[name] / p95s[bare]:.2f}x the bare call"
            )
        print(line)
    pooled, kept = "gateway pool RPC", "kept client RPC"
    wrapping, ratio = p50s[pooled] - p50s[kept], p50s[pooled] / p50s[kept]
    print(
        f"the pool's wrapping (span, call key, metric, borrowing): "
        f"{wrapping:+.2f} ms at p50, {ratio:.2f}x its own client"
    )
    worst = max(p50s[pooled] / p50s[bare], p95s[pooled] / p95s[bare])
    verdict = "within" if worst <= TARGET_RATIO else "over"
    print(f"gateway pool RPC: {worst:.2f}x a bare nameko RPC, {verdict} the {TARGET_RATIO}x target")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
