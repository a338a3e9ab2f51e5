"""The OAuth client registry's rules: what each kind of client may be, in plain Python (no I/O).

Kinds
    ``web``             the platform's own web site: public (no secret), authorization code + PKCE, refresh
                        tokens. Redirects over https (plain http only on 127.0.0.1, [::1] and localhost).
    ``mobile``          an iOS/Android app: public; redirects as RFC 8252 allows for native apps: a private-use
                        URI scheme in reverse-domain form (``ru.gorod.app:/callback``, §7.1), a loopback IP
                        redirect (``http://127.0.0.1/callback``, ``http://[::1]/callback``, §7.3: the port is
                        not part of the match, any port is allowed at authorize time; ``localhost`` is refused,
                        §8.3), or an https "claimed" URL (§7.2).
    ``widget``          the widget on one municipal site: public; its ``allowed_origins`` are that site's
                        origins (the CORS and ``frame-ancestors`` allow-list), https except on a local machine,
                        and every redirect URI lies on one of them.
    ``partner``         a partner system: confidential (a secret), client credentials only, limited to the
                        audiences and the API scopes it is registered with; no redirects, no browser origins.
    ``resource_server`` a service that checks tokens: confidential; may call introspection
                        (``can_introspect``); may also get client-credentials tokens for its own API calls.

Only the validation lives here. :func:`check_client` takes a :class:`ClientDraft` (what an operator sent, or a
stored client with a change applied) and returns the normalised :class:`ClientSpec`, or raises
:class:`InvalidClient` naming every bad field with a Russian message.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

WEB = "web"
MOBILE = "mobile"
WIDGET = "widget"
PARTNER = "partner"
RESOURCE_SERVER = "resource_server"
KINDS = (WEB, MOBILE, WIDGET, PARTNER, RESOURCE_SERVER)
PUBLIC_KINDS = frozenset({WEB, MOBILE, WIDGET})
CONFIDENTIAL_KINDS = frozenset({PARTNER, RESOURCE_SERVER})

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type, not a secret
CLIENT_CREDENTIALS = "client_credentials"

SCOPES: dict[str, str] = {
    # About the signed-in person: only with a user, i.e. through the authorization code flow.
    "openid": "Вход через OpenID Connect: id_token с идентификатором пользователя.",
    "profile": "Имя и домашнее муниципальное образование (ОКТМО) пользователя.",
    "email": "Адрес электронной почты пользователя и подтверждён ли он.",
    "phone": "Номер телефона пользователя, если он его указал.",
    "offline_access": "Токен обновления: приложение остаётся в системе, пока пользователь не выйдет.",
    # The platform's APIs: on a user's behalf (public clients) or as a partner system (client credentials).
    "problems:read": "Чтение проблем, фотографий, комментариев и их статусов.",
    "problems:write": "Сообщение о проблемах, комментарии и поддержка от имени пользователя.",
    "open311": "Open311 GeoReport v2: список услуг, чтение и подача заявок через шлюз.",
    "routing:read": "Чтение территорий, органов власти, подведомственных служб и хода обращений.",
    "inspectors:read": "Чтение мероприятий общественного контроля и отчётов инспекторов.",
    "budgeting:read": "Чтение кампаний инициативного бюджетирования, проектов и итогов голосования.",
    "initiatives:read": "Чтение инициатив, их целей, задач и новостей.",
    "analytics:read": "Чтение сводной аналитики: счётчики по территориям, сроки ответов, рейтинги служб.",
}
"""Every scope a client can be registered with, and what it lets the client do (shown to operators)."""

USER_SCOPES = frozenset({"openid", "profile", "email", "phone", "offline_access"})
"""Scopes about a signed-in person: meaningless for client credentials, so refused for partners."""
READ_SCOPES = tuple(scope for scope in SCOPES if scope.endswith(":read"))

GRANT_TYPES: dict[str, frozenset[str]] = {
    WEB: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    MOBILE: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    WIDGET: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    PARTNER: frozenset({CLIENT_CREDENTIALS}),
    RESOURCE_SERVER: frozenset({CLIENT_CREDENTIALS}),
}
"""The grant types each kind may use."""

DEFAULT_GRANT_TYPES: dict[str, tuple[str, ...]] = {
    WEB: (AUTHORIZATION_CODE, REFRESH_TOKEN),
    MOBILE: (AUTHORIZATION_CODE, REFRESH_TOKEN),
    WIDGET: (AUTHORIZATION_CODE, REFRESH_TOKEN),
    PARTNER: (CLIENT_CREDENTIALS,),
    RESOURCE_SERVER: (),
}
DEFAULT_USER_CLIENT_SCOPES = ("openid", "profile", "email", "offline_access")

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9][a-z0-9+-]*)+$")
_LOOPBACK_IPS = frozenset({"127.0.0.1", "::1"})
_LOCAL_HOSTS = _LOOPBACK_IPS | {"localhost"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_ITEMS = 20

FIELD_LABELS: dict[str, str] = {
    "client_id": "идентификатор клиента",
    "name": "название",
    "kind": "тип клиента",
    "redirect_uris": "адреса возврата",
    "post_logout_redirect_uris": "адреса возврата после выхода",
    "allowed_origins": "разрешённые сайты (origins)",
    "grant_types": "способы получения токенов",
    "scopes": "области доступа (scopes)",
    "audiences": "получатели токенов (audiences)",
    "can_introspect": "право проверять токены",
}
"""Russian names of the fields, for error messages."""


@dataclass(frozen=True)
class FieldError:
    field: str
    """The field's name, with the index of a bad list item: ``redirect_uris.1``."""
    message: str
    """In Russian, for the operator."""


class InvalidClient(ValueError):
    """The client breaks the rules; ``errors`` names every bad field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("invalid client: " + ", ".join(e.field for e in errors))
        self.errors = list(errors)

    @property
    def fields_in_russian(self) -> list[str]:
        names: list[str] = []
        for error in self.errors:
            base = error.field.split(".", 1)[0]
            label = f"{FIELD_LABELS.get(base, base)} ({base})"
            if label not in names:
                names.append(label)
        return names


@dataclass(frozen=True)
class ClientDraft:
    """A client as sent: ``None`` means "not given" (the kind's default applies)."""

    kind: str
    name: str
    redirect_uris: Sequence[str] | None = None
    post_logout_redirect_uris: Sequence[str] | None = None
    allowed_origins: Sequence[str] | None = None
    grant_types: Sequence[str] | None = None
    scopes: Sequence[str] | None = None
    audiences: Sequence[str] | None = None
    can_introspect: bool | None = None


@dataclass(frozen=True)
class ClientSpec:
    """A client that follows the rules, normalised (origins canonical, duplicates gone)."""

    kind: str
    name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    can_introspect: bool

    @property
    def confidential(self) -> bool:
        return self.kind in CONFIDENTIAL_KINDS


def is_confidential(kind: str) -> bool:
    """A confidential client authenticates with a secret; a public one (web, mobile, widget) cannot keep one."""
    return kind in CONFIDENTIAL_KINDS


def check_client_id(client_id: str) -> None:
    if not CLIENT_ID.match(client_id):
        raise InvalidClient(
            [
                FieldError(
                    "client_id",
                    "Идентификатор: от 3 до 64 символов — строчные латинские буквы, цифры, точка, дефис и "
                    "подчёркивание; начинается с буквы или цифры.",
                )
            ]
        )


def check_client(draft: ClientDraft, *, known_audiences: Iterable[str]) -> ClientSpec:
    """The normalised client, or :class:`InvalidClient` with every problem found (not just the first)."""
    errors: list[FieldError] = []
    kind = draft.kind
    if kind not in KINDS:
        raise InvalidClient([FieldError("kind", f"Тип клиента — один из: {', '.join(KINDS)}.")])

    name = draft.name.strip()
    if not name:
        errors.append(FieldError("name", "Укажите название клиента."))
    elif len(name) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"Название длиннее {MAX_NAME_LENGTH} символов."))

    origins = _check_origins(kind, draft.allowed_origins, errors)
    redirect_uris = _check_redirects("redirect_uris", kind, draft.redirect_uris, origins, errors)
    logout_uris = _check_redirects("post_logout_redirect_uris", kind, draft.post_logout_redirect_uris, origins, errors)
    if kind in PUBLIC_KINDS and not redirect_uris and not _has_error(errors, "redirect_uris"):
        errors.append(FieldError("redirect_uris", "Укажите хотя бы один адрес возврата."))

    grant_types = _check_grant_types(kind, draft.grant_types, errors)
    scopes = _check_scopes(kind, draft.scopes, grant_types, errors)
    audiences = _check_audiences(kind, draft.audiences, set(known_audiences), errors)

    can_introspect = False
    if kind == RESOURCE_SERVER:
        can_introspect = True if draft.can_introspect is None else draft.can_introspect
    elif draft.can_introspect is not None:
        errors.append(
            FieldError(
                "can_introspect",
                "Проверять токены (introspection) может только сервер ресурсов (kind = resource_server); "
                "у этого типа клиента такого поля нет.",
            )
        )

    if errors:
        raise InvalidClient(errors)
    return ClientSpec(
        kind=kind,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=logout_uris,
        allowed_origins=origins,
        grant_types=grant_types,
        scopes=scopes,
        audiences=audiences,
        can_introspect=can_introspect,
    )


# --- origins --------------------------------------------------------------------------------------------


def canonical_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin``: lower case, IDN as punycode, no default
    port. Raises ValueError with a Russian message if ``value`` is not a bare origin."""
    if not value or len(value) > MAX_URI_LENGTH or _has_space_or_control(value):
        raise ValueError("Нужен адрес сайта вида https://example.org (без пробелов).")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError("Нужен адрес сайта вида https://example.org или https://example.org:8443.")
    if parts.path or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("Только схема, домен и порт: без пути, завершающей «/», параметров и фрагмента.")
    if "@" in parts.netloc:
        raise ValueError("Имя пользователя и пароль в адресе сайта недопустимы.")
    host, port = _host_and_port(parts.netloc)
    if not _is_local(host) and scheme != "https":
        raise ValueError("Сайт должен работать по https (http — только для 127.0.0.1, [::1] и localhost).")
    shown_host = f"[{host}]" if ":" in host else host
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{shown_host}{shown_port}"


def _check_origins(kind: str, values: Sequence[str] | None, errors: list[FieldError]) -> tuple[str, ...]:
    values = list(values or [])
    if kind in {MOBILE, PARTNER, RESOURCE_SERVER}:
        if values:
            errors.append(
                FieldError(
                    "allowed_origins",
                    "Разрешённые сайты бывают только у веб-клиента и виджета: этот клиент не работает из браузера.",
                )
            )
        return ()
    if len(values) > MAX_ITEMS:
        errors.append(FieldError("allowed_origins", f"Не больше {MAX_ITEMS} сайтов."))
        return ()
    result: list[str] = []
    for index, value in enumerate(values):
        try:
            origin = canonical_origin(value)
        except ValueError as error:
            errors.append(FieldError(f"allowed_origins.{index}", f"Сайт: {error}"))
            continue
        if origin not in result:
            result.append(origin)
    if kind == WIDGET and not values:
        errors.append(
            FieldError("allowed_origins", "Укажите сайт муниципалитета, на котором работает виджет (https://…).")
        )
    return tuple(result)


def _host_and_port(netloc: str) -> tuple[str, int | None]:
    """Host (lower case, punycode, IPv6 without brackets) and port; ValueError in Russian if malformed."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError("Неверно записан адрес IPv6.")
        host, rest = netloc[1:end], netloc[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("Неверно записан адрес IPv6.") from None
        host = host.lower()
        if rest and not rest.startswith(":"):
            raise ValueError("Неверно записан адрес.")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_or_empty = netloc.partition(":")
        port_text = port_text_or_empty if sep else None
        if not host:
            raise ValueError("В адресе нет домена.")
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError("Неверно записан домен.") from None
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?", host):
            raise ValueError("Неверно записан домен.")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("Порт — число от 1 до 65535.")
    return host, int(port_text)


def _is_local(host: str) -> bool:
    return host in _LOCAL_HOSTS


# --- redirect URIs --------------------------------------------------------------------------------------


def _check_redirects(
    field: str, kind: str, values: Sequence[str] | None, origins: tuple[str, ...], errors: list[FieldError]
) -> tuple[str, ...]:
    values = list(values or [])
    if kind in CONFIDENTIAL_KINDS:
        if values:
            errors.append(
                FieldError(field, "У клиента без браузера (партнёр, сервер ресурсов) не бывает адресов возврата.")
            )
        return ()
    if len(values) > MAX_ITEMS:
        errors.append(FieldError(field, f"Не больше {MAX_ITEMS} адресов."))
        return ()
    result: list[str] = []
    for index, value in enumerate(values):
        problem = redirect_uri_problem(kind, value, origins)
        if problem is not None:
            errors.append(FieldError(f"{field}.{index}", f"Адрес возврата: {problem}"))
        elif value not in result:
            result.append(value)
    return tuple(result)


def redirect_uri_problem(kind: str, uri: str, origins: Sequence[str] = ()) -> str | None:
    """Why ``uri`` cannot be a redirect URI of a client of ``kind`` (in Russian), or None if it can.

    Redirect URIs are compared exactly at authorize time (for a mobile loopback redirect, all but the port),
    so they are kept as written; only what makes one unsafe or unmatchable is refused.
    """
    if not uri or len(uri) > MAX_URI_LENGTH:
        return f"нужен адрес не длиннее {MAX_URI_LENGTH} символов."
    if _has_space_or_control(uri):
        return "адрес не должен содержать пробелов и управляющих символов."
    if "#" in uri:
        return "адрес не должен содержать фрагмент (#…)."
    if "*" in uri:
        return "подстановочные знаки (*) недопустимы: адрес сравнивается точно."
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or not uri.lower().startswith(f"{scheme}:"):
        return "нужен абсолютный адрес со схемой, например https://example.org/callback."
    if scheme in _DEFAULT_PORTS:
        return _web_redirect_problem(kind, scheme, parts.netloc, origins)
    if kind != MOBILE:
        return "нужен адрес https://… (http — только для 127.0.0.1, [::1] и localhost)."
    if not _PRIVATE_SCHEME.match(scheme):
        return (
            "для приложения нужна собственная схема в виде обратного доменного имени "
            "(например ru.gorod.app:/callback), адрес 127.0.0.1 или https://…."
        )
    if not uri[len(scheme) + 1 :].strip("/"):
        return "после схемы приложения нужен путь, например ru.gorod.app:/callback."
    return None


def _web_redirect_problem(kind: str, scheme: str, netloc: str, origins: Sequence[str]) -> str | None:
    if not netloc:
        return "в адресе нет домена."
    if "@" in netloc:
        return "имя пользователя и пароль в адресе недопустимы."
    try:
        host, _port = _host_and_port(netloc)
    except ValueError as error:
        return str(error)[0].lower() + str(error)[1:]
    if scheme == "http":
        if kind == MOBILE and host not in _LOOPBACK_IPS:
            return (
                "приложению http разрешён только на 127.0.0.1 или [::1] (RFC 8252; localhost не годится), "
                "иначе нужен https."
            )
        if kind != MOBILE and not _is_local(host):
            return "нужен https (http — только для 127.0.0.1, [::1] и localhost)."
    if kind == WIDGET:
        try:
            origin = canonical_origin(f"{scheme}://{netloc}")
        except ValueError as error:
            return str(error)[0].lower() + str(error)[1:]
        if origin not in origins:
            return "адрес возврата виджета должен быть на одном из его разрешённых сайтов (allowed_origins)."
    return None


def is_loopback_redirect(uri: str) -> bool:
    """True for ``http://127.0.0.1…`` and ``http://[::1]…``: RFC 8252 §7.3 loopback redirects, matched without
    their port (the app listens on whatever port it got from the system)."""
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_IPS


# --- grants, scopes, audiences --------------------------------------------------------------------------


def _check_grant_types(kind: str, values: Sequence[str] | None, errors: list[FieldError]) -> tuple[str, ...]:
    if values is None:
        return DEFAULT_GRANT_TYPES[kind]
    allowed = GRANT_TYPES[kind]
    result: list[str] = []
    bad = False
    for index, value in enumerate(values):
        if value not in allowed:
            names = ", ".join(sorted(allowed))
            errors.append(FieldError(f"grant_types.{index}", f"Клиенту типа {kind} доступны только: {names}."))
            bad = True
        elif value not in result:
            result.append(value)
    if bad:
        return ()
    if kind in PUBLIC_KINDS and AUTHORIZATION_CODE not in result:
        errors.append(FieldError("grant_types", "Публичному клиенту нужен authorization_code (с PKCE)."))
    if kind == PARTNER and CLIENT_CREDENTIALS not in result:
        errors.append(FieldError("grant_types", "Партнёрская система получает токены через client_credentials."))
    return tuple(result)


def _check_scopes(
    kind: str, values: Sequence[str] | None, grant_types: tuple[str, ...], errors: list[FieldError]
) -> tuple[str, ...]:
    if values is None:
        if kind in PUBLIC_KINDS:
            values = DEFAULT_USER_CLIENT_SCOPES
        elif kind == RESOURCE_SERVER:
            values = ()
        else:
            errors.append(FieldError("scopes", "Укажите, к каким API (областям доступа) допущена система."))
            return ()
    if len(values) > len(SCOPES):
        errors.append(FieldError("scopes", "Слишком много областей доступа."))
        return ()
    result: list[str] = []
    for index, value in enumerate(values):
        if value not in SCOPES:
            errors.append(FieldError(f"scopes.{index}", f"Неизвестная область доступа; известны: {' '.join(SCOPES)}."))
        elif kind in CONFIDENTIAL_KINDS and value in USER_SCOPES:
            errors.append(
                FieldError(
                    f"scopes.{index}",
                    "Эта область доступа — о пользователе, а client_credentials выдаёт токен без пользователя.",
                )
            )
        elif value == "offline_access" and REFRESH_TOKEN not in grant_types:
            errors.append(FieldError(f"scopes.{index}", "offline_access требует способа получения refresh_token."))
        elif value not in result:
            result.append(value)
    if kind == PARTNER and not values:
        errors.append(FieldError("scopes", "Укажите, к каким API (областям доступа) допущена система."))
    if kind in PUBLIC_KINDS and not values:
        errors.append(FieldError("scopes", "Укажите хотя бы одну область доступа, например openid."))
    if kind == RESOURCE_SERVER and result and CLIENT_CREDENTIALS not in grant_types:
        errors.append(
            FieldError("scopes", "Области доступа нужны серверу ресурсов только вместе со способом client_credentials.")
        )
    return tuple(result)


def _check_audiences(
    kind: str, values: Sequence[str] | None, known: set[str], errors: list[FieldError]
) -> tuple[str, ...]:
    values = list(values or [])
    result: list[str] = []
    for index, value in enumerate(values):
        if value not in known:
            errors.append(
                FieldError(f"audiences.{index}", f"Неизвестный получатель; известны: {' '.join(sorted(known))}.")
            )
        elif value not in result:
            result.append(value)
    if kind == PARTNER and not values:
        errors.append(FieldError("audiences", "Укажите службы, которым партнёрская система может предъявлять токены."))
    return tuple(result)


def _has_error(errors: list[FieldError], field: str) -> bool:
    return any(e.field == field or e.field.startswith(f"{field}.") for e in errors)


def _has_space_or_control(value: str) -> bool:
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)
