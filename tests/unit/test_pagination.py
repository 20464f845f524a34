"""kit.pagination.PageTokens.page: one List page's size, cursor and next token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kit.errors import InvalidArgument
from kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageTokens


@dataclass
class Req:
    page_size: int = 0
    page_token: str = ""


def test_a_page_walks_a_keyset_and_ends_on_a_short_page() -> None:
    tokens = PageTokens(b"k" * 32)
    rows = list(range(7))
    seen, request = [], Req(page_size=3)
    while True:
        page = tokens.page(request, binding="t|things")
        chunk = [r for r in rows if page.after is None or r > page.after][: page.size]
        seen += chunk
        token = page.next_token(chunk, lambda r: r)
        if not token:
            break
        request = Req(page_size=3, page_token=token)
    assert seen == rows


def test_sizes_are_bounded_and_a_token_only_serves_its_own_query() -> None:
    tokens = PageTokens(b"k" * 32)
    assert tokens.page(Req(), binding="b").size == DEFAULT_PAGE_SIZE
    assert tokens.page(Req(page_size=10**6), binding="b").size == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        tokens.page(Req(page_size=-1), binding="b")
    token = tokens.page(Req(page_size=1), binding="tenant-a").next_token([5], lambda r: r)
    assert tokens.page(Req(page_token=token), binding="tenant-a").after == 5
    with pytest.raises(InvalidArgument) as refused:
        tokens.page(Req(page_token=token), binding="tenant-b")
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
