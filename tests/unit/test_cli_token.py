"""`peony token`: roles are validated when minting, listed in --help and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest

from cli.main import main
from cli.roles import roles_markdown
from kit.auth import ROLE_PERMISSIONS, principal_from_claims

README = Path(__file__).resolve().parents[2] / "README.md"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_unknown_role_fails_at_mint_time_listing_the_valid_roles(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["token", "--role", "bogus"])
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""  # no token printed
    assert "unknown role 'bogus'" in out.err
    for role in ROLE_PERMISSIONS:
        assert role in out.err


def test_help_lists_every_role_with_its_permissions(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["token", "--help"])
    out = capsys.readouterr().out
    for role, perms in ROLE_PERMISSIONS.items():
        line = next(x for x in out.splitlines() if x.strip().startswith(role + " "))
        if role != "hq_admin":
            assert all(p in line for p in perms), role
    assert "all permissions" in out


def test_store_bound_role_without_store_warns_but_mints(capsys) -> None:
    assert main(["token", "--role", "front_desk"]) == 0
    out = capsys.readouterr()
    assert "warning" in out.err and "--store" in out.err
    principal = principal_from_claims(_claims(out.out.strip()))
    assert principal.stores == frozenset()  # exactly why the warning: it sees no store


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "--role", "front_desk", "--store", "stores/s1"],
        ["token", "--role", "hq_admin"],
        ["token"],
        ["token", "--role", "finance"],
    ],
)
def test_no_warning_when_the_scope_is_given_or_not_store_bound(capsys, argv: list[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr()
    assert out.err == ""
    claims = _claims(out.out.strip())
    assert set(claims["roles"]) <= set(ROLE_PERMISSIONS)


def test_readme_role_table_is_generated_from_kit_auth() -> None:
    text = README.read_text()
    found = re.search(r"<!-- roles:begin -->\n(.*?)\n<!-- roles:end -->", text, re.S)
    assert found, "README lost its roles table markers"
    assert found.group(1) == roles_markdown(), (
        "README roles table is stale: python -m cli.roles --write-readme"
    )


def _shell_blocks(text: str) -> str:
    """The README's sh code, without comments."""
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in code.splitlines())


def test_readme_shell_examples_are_portable() -> None:
    """No uuidgen (absent on many machines), no --url-query (curl >= 7.87), no unquoted `?` (zsh)."""
    sh = _shell_blocks(README.read_text())
    assert "curl " in sh
    assert "uuidgen" not in sh
    assert "--url-query" not in sh
    for word in re.findall(r"(?<![\"'\w])(?:https?://)?(?:localhost|127\.0\.0\.1)[^\s\"']*", sh):
        assert "?" not in word, f"unquoted URL with '?' breaks zsh: {word}"
