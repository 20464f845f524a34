"""RS256 tokens verified against a JWKS served over HTTP (as an identity provider would)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from kit.auth import TokenVerifier
from kit.config import AuthConfig
from kit.errors import Unauthenticated


@pytest.fixture(scope="module")
def idp():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def _claims(**over):
    now = int(time.time())
    claims = {
        "iss": "https://idp",
        "aud": "peony",
        "sub": "user:x",
        "exp": now + 60,
        "tenant": "t1",
        "roles": ["finance"],
    }
    claims.update(over)
    return claims


def test_rs256_token_from_jwks_is_accepted_and_hs256_is_not(idp):
    key, url = idp
    verifier = TokenVerifier(
        AuthConfig(
            issuer="https://idp", audience="peony", algorithms=("RS256",), hs256_secret=None, jwks_url=url
        )
    )
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    principal = verifier.verify(token)
    assert (
        principal.tenant == "t1" and principal.has("members.read") and not principal.has("members.pii.read")
    )

    # Algorithm confusion: an HS256 token "signed" with anything is refused by the allow-list.
    forged = jwt.encode(_claims(), "x" * 32, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(_claims(), other_key, algorithm="RS256", headers={"kid": "k1"}))
    with pytest.raises(Unauthenticated):
        verifier.verify(
            jwt.encode(_claims(iss="https://evil"), key, algorithm="RS256", headers={"kid": "k1"})
        )
