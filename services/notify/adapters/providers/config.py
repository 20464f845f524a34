"""Provider configuration: ``PEONY_NOTIFY_PROVIDERS_FILE`` (YAML or JSON), validated at start.

::

    providers:                       # name -> one configured provider account
      aliyun_sms:
        type: aliyun_sms  # aliyun_sms | tencent_sms | webhook_sms | smtp | wechat_oa | wechat_subscribe | fcm
        endpoint: https://dysmsapi.aliyuncs.com
        access_key_id: LTAI5t...
        access_key_secret: env:PEONY_ALIYUN_SMS_SECRET   # or file:/run/secrets/aliyun, or a literal
        sign_name: 佩妮美业
        receipt_token: env:PEONY_ALIYUN_SMS_RECEIPT_TOKEN
        price_per_segment_minor: 5   # fen per billed segment (paid channels only)
      ...
    routing:
      default: {sms: [aliyun_sms, tencent_sms], email: [smtp], wechat: [wechat_oa], push: [fcm]}
      tenants:
        acme: {sms: [tencent_sms]}   # a tenant's own order for the channels it names

Secret fields accept ``env:VAR`` and ``file:/path`` references so that the file itself holds
no secret. Every problem is reported at once as a :class:`kit.config.ConfigError`.

Without a file, outside production, the development configuration is used: every provider
points at the local provider servers (``peony dev-providers``, started by ``peony up``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kit.config import ConfigError, ServiceConfig
from services.notify.adapters.providers.aliyun import AliyunSms
from services.notify.adapters.providers.base import CHANNELS, Provider, ProviderRegistry
from services.notify.adapters.providers.fcm import FcmPush
from services.notify.adapters.providers.smtp import SmtpEmail
from services.notify.adapters.providers.tencent import TencentSms
from services.notify.adapters.providers.webhook import WebhookSms
from services.notify.adapters.providers.wechat import WechatSubscribe, WechatTemplate

PROVIDERS_FILE_VAR = "PEONY_NOTIFY_PROVIDERS_FILE"
DEV_PROVIDERS_URL_VAR = "PEONY_DEV_PROVIDERS_URL"
DEV_SMTP_PORT_VAR = "PEONY_DEV_SMTP_PORT"
DEV_PROVIDERS_URL = "http://127.0.0.1:8099"
DEV_SMTP_PORT = 8025
DEV_FCM_ACCOUNT_FILE = "var/notify/dev-fcm-service-account.json"
DEV_SECRET = "peony-dev-provider-secret-do-not-use-in-production"  # noqa: S105 - dev only, refused in prod

# Field kinds: "str" (required text), "secret" (text, env:/file: references resolved), "url",
# "int", "bool", "float"; a default of ``None`` marks an optional field.
_REQUIRED = object()


@dataclass(frozen=True)
class _Field:
    kind: str
    default: Any = _REQUIRED


_COMMON = {"type": _Field("str"), "timeout_seconds": _Field("float", 10.0)}
_SCHEMAS: dict[str, dict[str, _Field]] = {
    "aliyun_sms": {
        "endpoint": _Field("url", "https://dysmsapi.aliyuncs.com"),
        "access_key_id": _Field("str"),
        "access_key_secret": _Field("secret"),
        "sign_name": _Field("str"),
        "receipt_token": _Field("secret"),
        "region_id": _Field("str", "cn-hangzhou"),
        "price_per_segment_minor": _Field("int", 0),
    },
    "tencent_sms": {
        "endpoint": _Field("url", "https://sms.tencentcloudapi.com"),
        "secret_id": _Field("str"),
        "secret_key": _Field("secret"),
        "sms_sdk_app_id": _Field("str"),
        "sign_name": _Field("str"),
        "receipt_token": _Field("secret"),
        "region": _Field("str", "ap-guangzhou"),
        "price_per_segment_minor": _Field("int", 0),
    },
    "webhook_sms": {
        "url": _Field("url"),
        "secret": _Field("secret"),
        "price_per_segment_minor": _Field("int", 0),
    },
    "smtp": {
        "host": _Field("str"),
        "port": _Field("int", 587),
        "sender": _Field("str"),
        "sender_name": _Field("str", None),
        "username": _Field("str", None),
        "password": _Field("secret", None),
        "starttls": _Field("bool", True),
        "use_tls": _Field("bool", False),
        "verify_tls": _Field("bool", True),
        "message_id_domain": _Field("str", "notify.peony"),
    },
    "wechat_oa": {
        "endpoint": _Field("url", "https://api.weixin.qq.com"),
        "app_id": _Field("str"),
        "app_secret": _Field("secret"),
        "callback_token": _Field("secret"),
    },
    "wechat_subscribe": {
        "endpoint": _Field("url", "https://api.weixin.qq.com"),
        "app_id": _Field("str"),
        "app_secret": _Field("secret"),
        "callback_token": _Field("secret"),
    },
    "fcm": {
        "endpoint": _Field("url", "https://fcm.googleapis.com"),
        "service_account": _Field("secret"),  # the service-account JSON (usually file:/path.json)
        "project_id": _Field("str", None),  # defaults to the service account's project_id
        "token_uri": _Field("url", None),  # defaults to the service account's token_uri
    },
}
_CHANNEL_OF = {
    "aliyun_sms": "sms",
    "tencent_sms": "sms",
    "webhook_sms": "sms",
    "smtp": "email",
    "wechat_oa": "wechat",
    "wechat_subscribe": "wechat",
    "fcm": "push",
}
_MAX_PROVIDERS = 64


@dataclass(frozen=True)
class ProvidersConfig:
    """The validated document: provider settings (secrets resolved) and routing."""

    providers: Mapping[str, Mapping[str, Any]]
    default_routes: Mapping[str, list[str]]
    tenant_routes: Mapping[str, Mapping[str, list[str]]]

    def channel_of(self, name: str) -> str:
        return _CHANNEL_OF[self.providers[name]["type"]]


def _resolve_secret(value: str, environ: Mapping[str, str], base_dir: Path | None) -> str:
    if value.startswith("env:"):
        var = value[4:]
        if var not in environ or not environ[var]:
            raise ValueError(f"environment variable {var} is not set")
        return environ[var]
    if value.startswith("file:"):
        path = Path(value[5:])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    return value


def _coerce(kind: str, value: Any, environ: Mapping[str, str], base_dir: Path | None) -> Any:
    if kind in ("str", "secret", "url"):
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if kind == "secret":
            value = _resolve_secret(value, environ, base_dir)
            if not value:
                raise ValueError("resolves to an empty secret")
        if kind == "url":
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http(s) URL")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("must be a non-negative integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError("must be a positive number")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    raise AssertionError(kind)


def _provider_settings(
    name: str, raw: Any, environ: Mapping[str, str], base_dir: Path | None, problems: list[str]
) -> dict[str, Any] | None:
    where = f"providers.{name}"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping")
        return None
    kind = raw.get("type")
    if kind not in _SCHEMAS:
        problems.append(f"{where}.type: must be one of {', '.join(sorted(_SCHEMAS))}")
        return None
    schema = {**_COMMON, **_SCHEMAS[kind]}
    settings: dict[str, Any] = {}
    for key in raw:
        if key not in schema:
            problems.append(f"{where}.{key}: unknown setting for type {kind}")
    for key, spec in schema.items():
        if key not in raw or raw[key] is None:
            if spec.default is _REQUIRED:
                problems.append(f"{where}.{key}: required")
            else:
                settings[key] = spec.default
            continue
        try:
            settings[key] = _coerce(spec.kind, raw[key], environ, base_dir)
        except ValueError as exc:
            problems.append(f"{where}.{key}: {exc}")
    if kind == "fcm" and isinstance(settings.get("service_account"), str):
        _check_service_account(where, settings, problems)
    return settings


def _check_service_account(where: str, settings: dict[str, Any], problems: list[str]) -> None:
    try:
        account = json.loads(settings["service_account"])
    except ValueError:
        problems.append(f"{where}.service_account: not a service-account JSON document")
        return
    if not isinstance(account, dict):
        problems.append(f"{where}.service_account: not a service-account JSON document")
        return
    for key in ("client_email", "private_key"):
        if not isinstance(account.get(key), str):
            problems.append(f"{where}.service_account: {key} missing")
    settings["project_id"] = settings["project_id"] or account.get("project_id")
    settings["token_uri"] = (
        settings["token_uri"] or account.get("token_uri") or "https://oauth2.googleapis.com/token"
    )
    if not settings["project_id"]:
        problems.append(f"{where}.project_id: required (not in the service account either)")
    settings["service_account"] = account


def _routes(
    where: str, raw: Any, providers: Mapping[str, Mapping[str, Any]], problems: list[str]
) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must map channels to provider lists")
        return {}
    routes: dict[str, list[str]] = {}
    for channel, names in raw.items():
        if channel not in CHANNELS:
            problems.append(f"{where}.{channel}: unknown channel (one of {', '.join(CHANNELS)})")
            continue
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            problems.append(f"{where}.{channel}: must be a non-empty list of provider names")
            continue
        if len(set(names)) != len(names):
            problems.append(f"{where}.{channel}: lists a provider twice")
        for n in names:
            if n not in providers:
                problems.append(f"{where}.{channel}: unknown provider {n!r}")
            elif _CHANNEL_OF[providers[n]["type"]] != channel:
                problems.append(f"{where}.{channel}: {n!r} is a {_CHANNEL_OF[providers[n]['type']]} provider")
        routes[channel] = list(names)
    return routes


def parse_config(
    doc: Any, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> ProvidersConfig:
    """Validate a providers document; every problem is reported in one :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    if not isinstance(doc, Mapping):
        raise ConfigError(["providers config: must be a mapping with 'providers' and 'routing'"])
    for key in doc:
        if key not in ("providers", "routing"):
            problems.append(f"{key}: unknown top-level key (expected 'providers' and 'routing')")
    raw_providers = doc.get("providers")
    providers: dict[str, dict[str, Any]] = {}
    if not isinstance(raw_providers, Mapping) or not raw_providers:
        problems.append("providers: must name at least one provider")
    elif len(raw_providers) > _MAX_PROVIDERS:
        problems.append(f"providers: at most {_MAX_PROVIDERS}")
    else:
        for name, raw in raw_providers.items():
            if (
                not isinstance(name, str)
                or not name.replace("_", "").replace("-", "").isalnum()
                or len(name) > 64
            ):
                problems.append(f"providers.{name}: names are letters, digits, '_' and '-' (at most 64)")
                continue
            settings = _provider_settings(name, raw, env, base_dir, problems)
            if settings is not None:
                providers[name] = settings
    routing = doc.get("routing")
    if not isinstance(routing, Mapping):
        problems.append("routing: must be a mapping with 'default' (and optionally 'tenants')")
        routing = {}
    for key in routing:
        if key not in ("default", "tenants"):
            problems.append(f"routing.{key}: unknown key (expected 'default' and 'tenants')")
    default = _routes("routing.default", routing.get("default"), providers, problems)
    tenants: dict[str, dict[str, list[str]]] = {}
    raw_tenants = routing.get("tenants") or {}
    if not isinstance(raw_tenants, Mapping):
        problems.append("routing.tenants: must map tenant ids to channel routes")
    else:
        for tenant, raw in raw_tenants.items():
            tenants[str(tenant)] = _routes(f"routing.tenants.{tenant}", raw, providers, problems)
    if problems:
        raise ConfigError([f"{PROVIDERS_FILE_VAR}: {p}" for p in problems])
    return ProvidersConfig(providers=providers, default_routes=default, tenant_routes=tenants)


def read_config_file(path: str | Path, environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    """Parse a YAML (``.yaml``/``.yml``) or JSON file; relative ``file:`` secrets resolve beside it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"{PROVIDERS_FILE_VAR}={str(path)!r}: cannot read ({exc.strerror})"]) from None
    if path.suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([f"{PROVIDERS_FILE_VAR}={str(path)!r}: not valid YAML ({exc})"]) from None
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError([f"{PROVIDERS_FILE_VAR}={str(path)!r}: not valid JSON ({exc})"]) from None
    return parse_config(doc, environ, path.parent)


# --- building the clients -------------------------------------------------------------------------


def _build_one(name: str, s: Mapping[str, Any]) -> Provider:
    kind, timeout = s["type"], s["timeout_seconds"]
    if kind == "aliyun_sms":
        return AliyunSms(
            name,
            endpoint=s["endpoint"],
            access_key_id=s["access_key_id"],
            access_key_secret=s["access_key_secret"],
            sign_name=s["sign_name"],
            receipt_token=s["receipt_token"],
            region_id=s["region_id"],
            timeout_seconds=timeout,
        )
    if kind == "tencent_sms":
        return TencentSms(
            name,
            endpoint=s["endpoint"],
            secret_id=s["secret_id"],
            secret_key=s["secret_key"],
            sms_sdk_app_id=s["sms_sdk_app_id"],
            sign_name=s["sign_name"],
            receipt_token=s["receipt_token"],
            region=s["region"],
            timeout_seconds=timeout,
        )
    if kind == "webhook_sms":
        return WebhookSms(name, url=s["url"], secret=s["secret"], timeout_seconds=timeout)
    if kind == "smtp":
        return SmtpEmail(
            name,
            host=s["host"],
            port=s["port"],
            sender=s["sender"],
            sender_name=s["sender_name"],
            username=s["username"],
            password=s["password"],
            starttls=s["starttls"],
            use_tls=s["use_tls"],
            verify_tls=s["verify_tls"],
            message_id_domain=s["message_id_domain"],
            timeout_seconds=timeout,
        )
    if kind in ("wechat_oa", "wechat_subscribe"):
        wechat = WechatTemplate if kind == "wechat_oa" else WechatSubscribe
        return wechat(
            name,
            endpoint=s["endpoint"],
            app_id=s["app_id"],
            app_secret=s["app_secret"],
            callback_token=s["callback_token"],
            timeout_seconds=timeout,
        )
    if kind == "fcm":
        account = s["service_account"]
        return FcmPush(
            name,
            endpoint=s["endpoint"],
            project_id=s["project_id"],
            client_email=account["client_email"],
            private_key=account["private_key"],
            private_key_id=account.get("private_key_id"),
            token_uri=s["token_uri"],
            timeout_seconds=timeout,
        )
    raise AssertionError(kind)


def build_registry(cfg: ProvidersConfig) -> ProviderRegistry:
    providers = {name: _build_one(name, s) for name, s in cfg.providers.items()}
    prices = {name: s.get("price_per_segment_minor", 0) for name, s in cfg.providers.items()}
    return ProviderRegistry(providers, cfg.default_routes, cfg.tenant_routes, prices)


# --- development defaults -------------------------------------------------------------------------


def ensure_dev_service_account(path: str | Path = DEV_FCM_ACCOUNT_FILE) -> Path:
    """A throw-away FCM service account (fresh RSA key) shared by notify and the local FCM server."""
    path = Path(path)
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        account = {
            "type": "service_account",
            "project_id": "peony-dev",
            "private_key_id": "dev",
            "private_key": pem,
            "client_email": "notify@peony-dev.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path  # another process wrote it first: use theirs
        with os.fdopen(fd, "w") as f:
            json.dump(account, f)
    return path


def dev_document(
    base_url: str = DEV_PROVIDERS_URL,
    smtp_port: int = DEV_SMTP_PORT,
    fcm_account: str | Path = DEV_FCM_ACCOUNT_FILE,
) -> dict[str, Any]:
    """Every provider pointed at the local servers (``peony dev-providers``), with dev credentials."""
    base = base_url.rstrip("/")
    return {
        "providers": {
            "aliyun_sms": {
                "type": "aliyun_sms",
                "endpoint": f"{base}/aliyun_sms",
                "access_key_id": "LTAIdevpeony",
                "access_key_secret": DEV_SECRET,
                "sign_name": "佩妮",
                "receipt_token": DEV_SECRET,
                "price_per_segment_minor": 5,
            },
            "tencent_sms": {
                "type": "tencent_sms",
                "endpoint": f"{base}/tencent_sms",
                "secret_id": "AKIDdevpeony",
                "secret_key": DEV_SECRET,
                "sms_sdk_app_id": "1400000000",
                "sign_name": "佩妮",
                "receipt_token": DEV_SECRET,
                "price_per_segment_minor": 5,
            },
            "webhook_sms": {
                "type": "webhook_sms",
                "url": f"{base}/webhook_sms/send",
                "secret": DEV_SECRET,
                "price_per_segment_minor": 4,
            },
            "smtp": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "notify@peony.example",
                "sender_name": "Peony",
                "username": "peony",
                "password": DEV_SECRET,
                "starttls": False,
            },
            "wechat_oa": {
                "type": "wechat_oa",
                "endpoint": f"{base}/wechat_oa",
                "app_id": "wxdevpeony",
                "app_secret": DEV_SECRET,
                "callback_token": DEV_SECRET,
            },
            "wechat_mp": {
                "type": "wechat_subscribe",
                "endpoint": f"{base}/wechat_mp",
                "app_id": "wxdevpeonymp",
                "app_secret": DEV_SECRET,
                "callback_token": DEV_SECRET,
            },
            "fcm": {
                "type": "fcm",
                "endpoint": f"{base}/fcm",
                "service_account": f"file:{Path(fcm_account).resolve()}",
                "token_uri": f"{base}/fcm/token",
            },
        },
        "routing": {
            "default": {
                "sms": ["aliyun_sms", "tencent_sms"],
                "email": ["smtp"],
                "wechat": ["wechat_oa"],
                "push": ["fcm"],
            },
        },
    }


def dev_config(environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    env = os.environ if environ is None else environ
    base = env.get(DEV_PROVIDERS_URL_VAR) or DEV_PROVIDERS_URL
    port_text = env.get(DEV_SMTP_PORT_VAR) or str(DEV_SMTP_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError([f"{DEV_SMTP_PORT_VAR}={port_text!r}: must be a TCP port"])
    account = ensure_dev_service_account()
    return parse_config(dev_document(base, int(port_text), account), env)


def providers_config(
    config: ServiceConfig | None = None, environ: Mapping[str, str] | None = None
) -> ProvidersConfig:
    """The file named by ``PEONY_NOTIFY_PROVIDERS_FILE``, or the development config outside production."""
    env = os.environ if environ is None else environ
    extra = config.extra if config is not None else {}
    path = extra.get(PROVIDERS_FILE_VAR) or env.get(PROVIDERS_FILE_VAR)
    if path:
        return read_config_file(path, env)
    if config is not None and config.is_production:
        raise ConfigError([f"{PROVIDERS_FILE_VAR} is required in production (the dev providers are local)"])
    return dev_config(env)


LoadSource = ServiceConfig | ProvidersConfig | Mapping[str, Any] | str | Path | None


def load_registry(config: LoadSource = None, environ: Mapping[str, str] | None = None) -> ProviderRegistry:
    """The provider registry from a :class:`ServiceConfig` (the env var or dev default), an already
    parsed :class:`ProvidersConfig`, a document mapping, or a file path."""
    if isinstance(config, ProvidersConfig):
        cfg = config
    elif isinstance(config, str | Path):
        cfg = read_config_file(config, environ)
    elif isinstance(config, Mapping):
        cfg = parse_config(config, environ)
    else:
        cfg = providers_config(config, environ)
    return build_registry(cfg)
