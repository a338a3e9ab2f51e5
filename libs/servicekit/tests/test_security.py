"""The JWT access-token verifier and its FastAPI dependencies.

The auth service is replaced by a real HTTP server on loopback that serves a JWKS, counts how often it is
fetched, and lets a test swap the published keys (rotation) or make it fail.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI

from servicekit.http.problems import install_problem_handlers
from servicekit.security import (
    InvalidToken,
    KeySetUnavailable,
    Principal,
    TokenExpired,
    TokenVerifier,
    current_principal,
    optional_principal,
    require_role,
    require_scope,
)
from servicekit.testing.tokens import JwksServer, SigningKey

ISSUER = "http://auth.gorod.test"
AUDIENCE = "problems"


# --- keys ---------------------------------------------------------------------------------------


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-2025", "RS256", _rsa())


@pytest.fixture(scope="module")
def rsa_key_next() -> SigningKey:
    """The key the issuer rotates to."""
    return SigningKey("rsa-2026", "RS256", _rsa())


@pytest.fixture(scope="module")
def impostor(rsa_key: SigningKey) -> SigningKey:
    """Somebody else's private key, claiming the real key's kid."""
    return SigningKey(rsa_key.kid, "RS256", _rsa())


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey("ec-2025", "ES256", ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def make_verifier(jwks: JwksServer) -> AsyncIterator[Callable[..., TokenVerifier]]:
    made: list[TokenVerifier] = []

    def make(**options: Any) -> TokenVerifier:
        verifier = TokenVerifier(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE, **options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


def claims(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "routing"],
        "sub": "user-42",
        "iat": now,
        "exp": now + 300,
        "client_id": "gorod-web",
        "scope": "problems:read problems:write",
        "roles": ["citizen", "operator"],
        "jti": uuid.uuid4().hex,
    }
    payload.update(changes)
    for name in drop:
        del payload[name]
    return payload


def _segment(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


# --- accepting -------------------------------------------------------------------------------------


async def test_accepts_a_good_token(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    verifier = make_verifier()

    principal = await verifier.verify(rsa_key.sign(claims()))

    assert principal.subject == "user-42"
    assert principal.client_id == "gorod-web"
    assert principal.scopes == {"problems:read", "problems:write"}
    assert principal.roles == {"citizen", "operator"}
    assert principal.has_scope("problems:write")
    assert not principal.has_scope("problems:delete")
    assert principal.has_role("operator")
    assert not principal.has_role("moderator")
    assert principal.claims["iss"] == ISSUER


async def test_accepts_an_es256_token_and_takes_client_id_from_azp(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], ec_key: SigningKey
) -> None:
    jwks.publish(ec_key.jwk())

    principal = await make_verifier().verify(ec_key.sign(claims(drop=("client_id", "scope", "roles"), azp="app")))

    assert principal.subject == "user-42"
    assert principal.client_id == "app"
    assert principal.scopes == frozenset()
    assert principal.roles == frozenset()


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "JWT", None])
async def test_accepts_access_token_types(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey, typ: str | None
) -> None:
    jwks.publish(rsa_key.jwk())

    principal = await make_verifier().verify(rsa_key.sign(claims(), typ=typ))

    assert principal.subject == "user-42"


async def test_accepts_a_token_expired_within_the_leeway(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    now = int(time.time())

    principal = await make_verifier(leeway=30).verify(rsa_key.sign(claims(iat=now - 600, exp=now - 5)))

    assert principal.subject == "user-42"


async def test_the_key_set_is_fetched_once_and_cached(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    verifier = make_verifier()
    assert jwks.fetches == 0  # lazily: nothing fetched before the first token

    for _ in range(5):
        await verifier.verify(rsa_key.sign(claims()))

    assert jwks.fetches == 1


class CountingVerifier(TokenVerifier):
    """A real verifier that counts the tokens it decodes (signature and claims checked)."""

    decoded = 0

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        self.decoded += 1
        return super()._decode(token, key, alg)


async def test_a_verified_token_is_not_checked_again(jwks: JwksServer, rsa_key: SigningKey) -> None:
    jwks.publish(rsa_key.jwk())
    verifier = CountingVerifier(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE)
    token = rsa_key.sign(claims(sub="again"))
    try:
        first = await verifier.verify(token)
        for _ in range(3):
            assert await verifier.verify(token) == first
        assert verifier.decoded == 1
        await verifier.verify(rsa_key.sign(claims(sub="other")))
        assert verifier.decoded == 2
        # A token that failed is checked again each time (and fails each time).
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for _ in range(2):
            with pytest.raises(InvalidToken):
                await verifier.verify(forged)
        assert verifier.decoded == 4
    finally:
        await verifier.aclose()


async def test_a_remembered_token_still_expires(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    verifier = make_verifier(leeway=0)
    exp = int(time.time()) + 2
    token = rsa_key.sign(claims(exp=exp))
    assert (await verifier.verify(token)).subject == "user-42"

    await asyncio.sleep(exp - time.time() + 0.1)

    with pytest.raises(TokenExpired):
        await verifier.verify(token)


async def test_a_remembered_token_of_a_withdrawn_key_is_refused_after_a_refetch(
    jwks: JwksServer,
    make_verifier: Callable[..., TokenVerifier],
    rsa_key: SigningKey,
    rsa_key_next: SigningKey,
) -> None:
    verifier = make_verifier(min_refetch_interval=0.0)  # the default cache_ttl (minutes): no expiry here
    jwks.publish(rsa_key.jwk())
    old = rsa_key.sign(claims(sub="old"))
    assert (await verifier.verify(old)).subject == "old"

    # The issuer withdraws the old key at once (compromised); a token of the new key makes us refetch.
    jwks.publish(rsa_key_next.jwk())
    assert (await verifier.verify(rsa_key_next.sign(claims(sub="new")))).subject == "new"

    with pytest.raises(InvalidToken, match="unknown key id"):
        await verifier.verify(old)


# --- refusing forged tokens ------------------------------------------------------------------------


async def test_rejects_a_signature_by_another_key_with_the_same_kid(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey, impostor: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    token = impostor.sign(claims())

    with pytest.raises(InvalidToken, match="bad signature") as caught:
        await make_verifier().verify(token)
    assert token not in str(caught.value)


async def test_rejects_alg_none(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    unsigned = f"{_segment({'alg': 'none', 'typ': 'at+jwt', 'kid': rsa_key.kid})}.{_segment(claims())}."

    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await make_verifier().verify(unsigned)
    assert jwks.fetches == 0  # refused before any key lookup


async def test_rejects_hs256_signed_with_the_public_key_as_secret(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    """The classic key confusion: an HMAC "signature" made with the published public key."""
    jwks.publish(rsa_key.jwk())
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': rsa_key.kid})}.{_segment(claims())}"
    mac = hmac.new(rsa_key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await make_verifier().verify(forged)


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_symmetric_or_none_algorithms_cannot_be_allowed(algorithm: str) -> None:
    with pytest.raises(ValueError, match="only asymmetric"):
        TokenVerifier(jwks_url="http://127.0.0.1:1/jwks", issuer=ISSUER, audience=AUDIENCE, algorithms=(algorithm,))


async def test_rejects_a_token_whose_alg_differs_from_the_key_alg(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    """The key is published for PS256 only; an RS256 signature by the same private key must not pass."""
    jwks.publish(rsa_key.jwk(alg="PS256"))

    with pytest.raises(InvalidToken, match="key does not match the token algorithm"):
        await make_verifier().verify(rsa_key.sign(claims(), alg="RS256"))


async def test_rejects_a_token_whose_alg_does_not_fit_the_key_type(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match="key does not match the token algorithm"):
        await make_verifier().verify(ec_key.sign(claims(), kid=rsa_key.kid))


@pytest.mark.parametrize("typ", ["id_token+jwt", "dpop+jwt"])
async def test_rejects_other_token_types(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey, typ: str
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match="unexpected token type"):
        await make_verifier().verify(rsa_key.sign(claims(), typ=typ))


async def test_rejects_garbage(make_verifier: Callable[..., TokenVerifier]) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        await make_verifier().verify("not-a-jwt")


# --- refusing wrong claims -------------------------------------------------------------------------


async def test_rejects_a_wrong_issuer(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match="wrong issuer"):
        await make_verifier().verify(rsa_key.sign(claims(iss="http://evil.test")))


async def test_rejects_a_wrong_audience(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match="wrong audience"):
        await make_verifier().verify(rsa_key.sign(claims(aud=["routing", "budgeting"])))


async def test_rejects_a_token_expired_beyond_the_leeway(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    now = int(time.time())

    with pytest.raises(TokenExpired, match="token expired"):
        await make_verifier(leeway=30).verify(rsa_key.sign(claims(iat=now - 600, exp=now - 120)))


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud"])
async def test_rejects_a_token_missing_a_required_claim(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey, claim: str
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match=f"missing claim {claim}"):
        await make_verifier().verify(rsa_key.sign(claims(drop=(claim,))))


async def test_rejects_an_expiry_that_is_not_a_number(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())

    with pytest.raises(InvalidToken, match="malformed claim exp"):
        await make_verifier().verify(rsa_key.sign(claims(exp=str(int(time.time()) + 300))))


# --- key rotation, rate limit, coalescing, outages --------------------------------------------------


async def test_survives_key_rotation(
    jwks: JwksServer,
    make_verifier: Callable[..., TokenVerifier],
    rsa_key: SigningKey,
    rsa_key_next: SigningKey,
) -> None:
    verifier = make_verifier(cache_ttl=1.0, min_refetch_interval=0.0)
    jwks.publish(rsa_key.jwk())
    old = rsa_key.sign(claims(sub="old"))
    assert (await verifier.verify(old)).subject == "old"
    assert jwks.fetches == 1

    # The issuer publishes its next key next to the current one and starts signing with it.
    jwks.publish(rsa_key.jwk(), rsa_key_next.jwk())
    new = rsa_key_next.sign(claims(sub="new"))
    assert (await verifier.verify(new)).subject == "new"  # unknown kid: refetched
    assert jwks.fetches == 2
    assert (await verifier.verify(old)).subject == "old"  # still published, still good
    assert jwks.fetches == 2

    # The old key is withdrawn; once the cache has expired and been refreshed, its tokens are refused.
    jwks.publish(rsa_key_next.jwk())
    await asyncio.sleep(1.1)
    with pytest.raises(InvalidToken, match="unknown key id"):
        await verifier.verify(old)
    assert jwks.fetches >= 3
    assert (await verifier.verify(new)).subject == "new"


async def test_unknown_kids_refetch_at_most_once_per_interval(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    verifier = make_verifier(min_refetch_interval=0.5)
    jwks.publish(rsa_key.jwk())
    await verifier.verify(rsa_key.sign(claims()))
    assert jwks.fetches == 1
    await asyncio.sleep(0.6)  # the next unknown kid may refetch once
    jwks.delay = 0.1  # so that the concurrent ones overlap the fetch

    flood = [rsa_key.sign(claims(), kid=uuid.uuid4().hex) for _ in range(50)]
    results = await asyncio.gather(*(verifier.verify(token) for token in flood), return_exceptions=True)
    for token in flood[:20]:
        with pytest.raises(InvalidToken, match="unknown key id"):
            await verifier.verify(token)

    assert all(isinstance(result, InvalidToken) for result in results), results
    assert jwks.fetches == 2


async def test_concurrent_refetches_are_coalesced(
    jwks: JwksServer,
    make_verifier: Callable[..., TokenVerifier],
    rsa_key: SigningKey,
    rsa_key_next: SigningKey,
) -> None:
    verifier = make_verifier(min_refetch_interval=0.0)  # no rate limit: only the lock keeps it to one
    jwks.publish(rsa_key.jwk())
    jwks.delay = 0.2

    cold = await asyncio.gather(*(verifier.verify(rsa_key.sign(claims(sub=f"u{i}"))) for i in range(20)))
    assert [p.subject for p in cold] == [f"u{i}" for i in range(20)]
    assert jwks.fetches == 1

    jwks.publish(rsa_key.jwk(), rsa_key_next.jwk())
    rotated = await asyncio.gather(*(verifier.verify(rsa_key_next.sign(claims())) for _ in range(20)))
    assert len(rotated) == 20
    assert jwks.fetches == 2


async def test_an_unreachable_key_set_is_reported_and_not_hammered(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    jwks.publish(rsa_key.jwk())
    jwks.status = 500
    verifier = make_verifier(min_refetch_interval=60.0)

    for _ in range(5):
        with pytest.raises(KeySetUnavailable):
            await verifier.verify(rsa_key.sign(claims()))

    assert jwks.fetches == 1


async def test_keeps_serving_the_last_good_key_set_while_the_issuer_is_down(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    verifier = make_verifier(cache_ttl=0.2, min_refetch_interval=0.0)
    jwks.publish(rsa_key.jwk())
    await verifier.verify(rsa_key.sign(claims()))
    jwks.status = 500
    await asyncio.sleep(0.3)

    principal = await verifier.verify(rsa_key.sign(claims()))

    assert principal.subject == "user-42"
    assert jwks.fetches == 2  # it did try to refresh


async def test_aclose_leaves_a_client_passed_in_open(jwks: JwksServer, rsa_key: SigningKey) -> None:
    jwks.publish(rsa_key.jwk())
    async with httpx.AsyncClient() as client:
        verifier = TokenVerifier(jwks_url=jwks.url, issuer=ISSUER, audience=AUDIENCE, http_client=client)
        await verifier.verify(rsa_key.sign(claims()))
        await verifier.aclose()

        assert not client.is_closed
        assert (await client.get(jwks.url)).status_code == 200


# --- FastAPI dependencies --------------------------------------------------------------------------


@pytest.fixture
async def api(
    jwks: JwksServer, make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> AsyncIterator[httpx.AsyncClient]:
    jwks.publish(rsa_key.jwk())
    app = FastAPI()
    install_problem_handlers(app)
    app.state.kit = SimpleNamespace(token_verifier=make_verifier())

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return {"subject": principal.subject, "scopes": sorted(principal.scopes)}

    @app.get("/maybe")
    async def maybe(principal: Annotated[Principal | None, Depends(optional_principal)]) -> dict[str, Any]:
        return {"subject": principal.subject if principal else None}

    @app.get("/x")
    async def needs_x(principal: Annotated[Principal, Depends(require_scope("x"))]) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.get("/ops")
    async def operators(
        principal: Annotated[Principal, Depends(require_role("operator", "moderator"))],
    ) -> dict[str, Any]:
        return {"subject": principal.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gorod.test") as client:
        yield client


def _bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert re.search("[а-яё]", body["detail"], re.IGNORECASE), body["detail"]
    return body


async def test_no_authorization_header_is_a_401_asking_to_sign_in(api: httpx.AsyncClient) -> None:
    response = await api.get("/me")

    body = _assert_problem(response, 401)
    assert "войти" in body["detail"]
    assert response.headers["www-authenticate"] == 'Bearer realm="gorod"'


async def test_another_scheme_counts_as_no_bearer_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="gorod"'


async def test_a_forged_token_is_a_401_invalid_token(
    api: httpx.AsyncClient, impostor: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    token = impostor.sign(claims())
    with caplog.at_level(logging.DEBUG):
        response = await api.get("/me", headers=_bearer(token))

    body = _assert_problem(response, 401)
    assert "Войдите" in body["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in caplog.text
    assert token.split(".")[2] not in response.text


async def test_an_expired_token_says_the_session_expired(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    now = int(time.time())
    response = await api.get("/me", headers=_bearer(rsa_key.sign(claims(iat=now - 900, exp=now - 600))))

    body = _assert_problem(response, 401)
    assert "истёк" in body["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_good_token_passes(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    response = await api.get("/me", headers=_bearer(rsa_key.sign(claims(scope="x y")), scheme="bearer"))

    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "user-42", "scopes": ["x", "y"]}


async def test_a_missing_scope_is_a_403_insufficient_scope(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    response = await api.get("/x", headers=_bearer(rsa_key.sign(claims(scope="problems:read"))))

    _assert_problem(response, 403)
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="x"'


async def test_the_required_scope_passes(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    response = await api.get("/x", headers=_bearer(rsa_key.sign(claims(scope="problems:read x"))))

    assert response.status_code == 200, response.text


async def test_a_wrong_role_is_a_403(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    response = await api.get("/ops", headers=_bearer(rsa_key.sign(claims(roles=["citizen", "volunteer"]))))

    _assert_problem(response, 403)


async def test_any_one_of_the_roles_passes(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    response = await api.get("/ops", headers=_bearer(rsa_key.sign(claims(roles=["citizen", "moderator"]))))

    assert response.status_code == 200, response.text


async def test_a_bad_token_on_a_role_route_is_still_a_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/ops", headers=_bearer("not-a-jwt"))

    _assert_problem(response, 401)


async def test_optional_principal(api: httpx.AsyncClient, rsa_key: SigningKey) -> None:
    anonymous = await api.get("/maybe")
    signed_in = await api.get("/maybe", headers=_bearer(rsa_key.sign(claims())))
    bad = await api.get("/maybe", headers=_bearer("not-a-jwt"))

    assert anonymous.status_code == 200
    assert anonymous.json() == {"subject": None}
    assert signed_in.json() == {"subject": "user-42"}
    _assert_problem(bad, 401)


async def test_an_unreachable_issuer_is_a_503_not_a_401(
    api: httpx.AsyncClient, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    jwks.status = 500

    response = await api.get("/me", headers=_bearer(rsa_key.sign(claims())))

    _assert_problem(response, 503)
    assert "www-authenticate" not in response.headers
