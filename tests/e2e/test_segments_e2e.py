"""End to end: segments through the REST gateway on the real services — save, count, list — with
the marketing role, and refused for a front-desk token."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from kit.auth import mint_dev_token

pytestmark = pytest.mark.e2e

TENANT = f"e2e-seg-{uuid.uuid4().hex[:6]}"


def headers(roles: list[str]) -> dict[str, str]:
    token = mint_dev_token(tenant=TENANT, subject="user:e2e", roles=roles)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_segment_saved_counted_and_listed_over_rest(stack):
    admin, marketing = headers(["hq_admin"]), headers(["marketing"])
    async with aiohttp.ClientSession() as session:
        gw = stack.gateway_url
        async with session.post(
            f"{gw}/v1/stores",
            params={"storeId": "seg-store", "requestId": str(uuid.uuid4())},
            json={"displayName": "Seg", "timeZone": "Asia/Shanghai"},
            headers=admin,
        ) as resp:
            assert resp.status == 200, await resp.text()
        names = []
        for i, tags in enumerate((["vip"], ["vip"], [])):
            body = {
                "member": {
                    "displayName": f"m{i}",
                    "phone": f"1380013{i:04d}",
                    "homeStore": "stores/seg-store",
                    "tags": tags,
                },
                "requestId": str(uuid.uuid4()),
            }
            async with session.post(f"{gw}/v1/members", json=body, headers=admin) as resp:
                assert resp.status == 200, await resp.text()
                names.append((await resp.json())["member"]["name"])

        segment = {"displayName": "VIP", "filter": {"tagsAny": ["vip"], "homeStores": ["stores/seg-store"]}}
        async with session.post(
            f"{gw}/v1/segments",
            params={"segmentId": "vip", "requestId": str(uuid.uuid4())},
            json=segment,
            headers=marketing,
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["segment"]["name"] == "segments/vip"
        async with session.post(
            f"{gw}/v1/segments:count", json={"segment": "segments/vip"}, headers=marketing
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["memberCount"] == "2"
        async with session.post(
            f"{gw}/v1/segments:listMembers",
            json={"segment": "segments/vip", "pageSize": 10},
            headers=marketing,
        ) as resp:
            listed = await resp.json()
            assert sorted(m["name"] for m in listed["members"]) == sorted(names[:2])
            assert all("*" in m["phone"] for m in listed["members"])
        async with session.post(
            f"{gw}/v1/segments:count", json={"filter": {"birthdayMonths": [13]}}, headers=marketing
        ) as resp:
            assert resp.status == 400
            assert "filter.birthday_months" in await resp.text()
        async with session.post(
            f"{gw}/v1/segments:count", json={"segment": "segments/vip"}, headers=headers(["front_desk"])
        ) as resp:
            assert resp.status == 403
