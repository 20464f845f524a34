"""The /insights/ dashboard in a real headless browser (Debian's `chromium`): the gateway serves
the page and plotly.js from the plotly package (no CDN), the page calls the insights REST routes
with the token from its URL fragment, and renders the headline KPIs, the trend charts and the
retention heat-map from seeded history, without a console error. Skipped when chromium is absent."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from peony.insights.v1 import insights_service_pb2 as ipb

from cli.history import history
from gateway.app import build_app
from gateway.services import find_service
from kit.auth import mint_dev_token
from kit.messaging import connect, subject_for
from kit.messaging.outbox import HEADER_MSG_ID
from tests.integration.gateway.conftest import gateway_config
from tests.support.providers import free_port
from tests.support.wallet import md

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
END = datetime(2026, 6, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
async def seeded_gateway(infra, insights):
    tenant = f"d-{uuid.uuid4().hex[:8]}"
    published = list(history(tenant, stores=3, members=60, days=200, end=END, seed=5))
    nc, js = await connect(infra.nats_url, name="insights-dashboard-test")
    try:
        for p in published:
            await js.publish(
                subject_for(p.service, p.envelope.event_type),
                p.envelope.SerializeToString(),
                headers={HEADER_MSG_ID: p.envelope.event_id},
                stream=f"PEONY_{p.service.upper()}",
            )
    finally:
        await nc.close()
    checkouts = sum(1 for p in published if p.envelope.event_type.endswith("CheckoutCompleted"))
    for _ in range(300):
        got = await insights.stub.QueryMetric(
            ipb.QueryMetricRequest(metric="member_revenue", start_date="2025-01-01", end_date="2026-06-30"),
            metadata=md(tenant),
        )
        if sum(int(v.integer) for v in got.rows[0].values[3:5]) == checkouts:
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1)
    config = gateway_config("127.0.0.1:1", "127.0.0.1:1", PEONY_INSIGHTS_ADDR=insights.addr)
    app = build_app(config, services=[(find_service("peony.insights.v1.InsightsService"), "insights")])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield tenant, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def chromium(*args: str) -> tuple[str, str]:
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,  # type: ignore[arg-type]
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=20000",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian package `chromium`)")
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_dashboard_renders_the_seeded_kpis_without_errors(seeded_gateway, tmp_path: Path, lang: str):
    tenant, base = seeded_gateway
    token = mint_dev_token(tenant=tenant, subject="user:hq", roles=["hq_admin"])
    url = f"{base}/insights/#token={token}&lang={lang}&start=2025-12-01&end=2026-06-30"
    dom, log = await chromium("--dump-dom", url)
    assert 'data-state="ready"' in dom, (dom[-3000:], log[-3000:])
    assert not re.findall(r'data-errors="\d+"', dom), log[-3000:]
    assert "Uncaught" not in log, log[-3000:]
    # headline KPIs with values, five charts drawn by plotly (SVG), the heat-map among them
    assert len(re.findall(r'class="kpi" data-kpi="', dom)) == 13
    staff_card = re.search(r'data-kpi="staff_utilisation">.*?class="value">([^<]*)<', dom)
    assert staff_card and staff_card.group(1).endswith("%") and staff_card.group(1) != "0.0%", dom[-3000:]
    assert dom.count('class="main-svg"') >= 5
    assert "heatmaplayer" in dom or "hm" in dom
    title = "会员留存" if lang == "zh-CN" else "Retention by first-visit month"
    assert title in dom
    assert token not in dom  # the fragment is dropped from the address bar
    shot = tmp_path / f"insights-{lang}.png"
    await chromium("--window-size=1400,1500", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 20_000
    keep = Path("/tmp/peony-insights-dashboard")
    keep.mkdir(exist_ok=True)
    shutil.copy(shot, keep / shot.name)  # for a human to look at (the closing note describes it)


async def test_the_page_and_plotly_come_from_the_gateway(seeded_gateway):
    import aiohttp

    _, base = seeded_gateway
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/insights/") as resp:
            page = await resp.text()
            assert resp.status == 200 and "/insights/assets/plotly.min.js" in page
            assert "cdn" not in page.lower() and "https://" not in page
        async with session.get(f"{base}/insights/assets/plotly.min.js") as resp:
            assert resp.status == 200 and len(await resp.read()) > 1_000_000
        # the REST route of the API, as the page calls it
        async with session.post(f"{base}/v1/insights/metrics/no_such:query", json={}) as resp:
            assert resp.status == 401


async def test_the_gateway_stays_ready_while_insights_is_down():
    from aiohttp.test_utils import TestClient, TestServer

    dead = f"127.0.0.1:{free_port()}"
    config = gateway_config("127.0.0.1:1", "127.0.0.1:1", PEONY_INSIGHTS_ADDR=dead)
    app = build_app(config, services=[(find_service("peony.insights.v1.InsightsService"), "insights")])
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["backends"]["insights"] != "SERVING", body
