"""Prometheus text for the DNS server, on the port the kube-dns Service calls "metrics" (9153).

Metric names follow CoreDNS's (coredns_dns_requests_total, coredns_dns_responses_total,
coredns_cache_hits_total/misses_total, coredns_forward_requests_total) so dashboards built for
CoreDNS find the same series; the label sets are a subset of CoreDNS's.
"""

from __future__ import annotations

from aiohttp import web

from tugboat.dns.handler import DnsHandler


def render(handler: DnsHandler, zone: str) -> str:
    fwd = handler.forwarder
    lines = ["# TYPE coredns_dns_requests_total counter"]
    for (proto, qtype), n in sorted(handler.requests.items()):
        lines.append(f'coredns_dns_requests_total{{server="dns://",zone="{zone}.",proto="{proto}",'
                     f'type="{qtype}"}} {n}')
    lines.append("# TYPE coredns_dns_responses_total counter")
    for rcode, n in sorted(handler.responses.items()):
        lines.append(f'coredns_dns_responses_total{{server="dns://",rcode="{rcode}"}} {n}')
    lines.append("# TYPE coredns_cache_hits_total counter")
    hits = handler.wire_hits + (fwd.cache.hits if fwd else 0)
    lines.append(f'coredns_cache_hits_total{{server="dns://"}} {hits}')
    lines.append("# TYPE coredns_cache_misses_total counter")
    lines.append(f'coredns_cache_misses_total{{server="dns://"}} {fwd.cache.misses if fwd else 0}')
    lines.append("# TYPE coredns_cache_entries gauge")
    lines.append(f'coredns_cache_entries{{server="dns://",type="success"}} {len(fwd.cache) if fwd else 0}')
    lines.append("# TYPE coredns_forward_requests_total counter")
    lines.append(f"coredns_forward_requests_total {fwd.upstream_queries if fwd else 0}")
    return "\n".join(lines) + "\n"


def metrics_app(handler: DnsHandler, zone: str) -> web.Application:
    async def metrics(_req: web.Request) -> web.Response:
        return web.Response(text=render(handler, zone), content_type="text/plain")

    async def health(_req: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


async def serve_metrics(handler: DnsHandler, zone: str, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(metrics_app(handler, zone), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
