"""Local provider servers for development and tests — development only, never imported by notify.

Real protocol endpoints, not mocks: :class:`~.server.DevProviders` speaks the Alibaba Cloud SMS,
Tencent Cloud SMS, webhook SMS, WeChat official-account and FCM HTTP v1 request formats,
verifies signatures and tokens the way those services do, records what it accepted
(``GET /_sim/messages``), can be told to fail (``POST /_sim/faults``) and posts signed delivery
receipts back; :mod:`.smtp` is an ``aiosmtpd`` SMTP server that records what it accepted.
Started by ``peony dev-providers`` / ``python -m services.notify.devproviders`` and ``peony up``.
"""
