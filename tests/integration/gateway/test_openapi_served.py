"""The gateway serves the REST contract and Swagger UI from packaged files (no CDN)."""

from __future__ import annotations

from gateway.openapi import DOCS_ASSETS_PREFIX, DOCUMENT_PATH


async def test_openapi_json_is_the_committed_document(client):
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.read() == DOCUMENT_PATH.read_bytes()


async def test_docs_page_loads_swagger_ui_from_the_gateway_itself(client):
    resp = await client.get("/docs")
    assert resp.status == 200
    page = await resp.text()
    assert 'url: "/openapi.json"' in page
    assert "//cdn" not in page and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"{DOCS_ASSETS_PREFIX}/{asset}" in page
        served = await client.get(f"{DOCS_ASSETS_PREFIX}/{asset}")
        assert served.status == 200, asset
        assert len(await served.read()) > 10_000
    missing = await client.get(f"{DOCS_ASSETS_PREFIX}/../../etc/passwd")
    assert missing.status in (403, 404)
