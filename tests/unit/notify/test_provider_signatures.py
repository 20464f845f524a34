"""Request signing against the worked examples in Alibaba's and Tencent's own documentation."""

from services.notify.adapters.providers.aliyun import aliyun_phone, rpc_signature
from services.notify.adapters.providers.tencent import tc3_authorization
from services.notify.adapters.providers.webhook import webhook_signature
from services.notify.adapters.providers.wechat import wechat_signature


def test_alibaba_rpc_signature_matches_the_documented_example():
    # Alibaba Cloud "RPC signature" document: ECS DescribeRegions with AccessKeySecret "testsecret".
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_alibaba_signature_percent_encodes_utf8_space_and_star():
    # A sign name in Chinese, a space and '*' must be encoded as the spec says (%20, %2A), so the
    # signature differs from one over form-style '+' encoding.
    a = rpc_signature("POST", {"SignName": "佩妮 美业*"}, "k")
    assert a != rpc_signature("POST", {"SignName": "佩妮+美业*"}, "k")


def test_tencent_tc3_matches_the_documented_example():
    # Tencent Cloud API 3.0 "Signature v3" document: CVM DescribeInstances at 1551113065.
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    auth = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
        host="cvm.tencentcloudapi.com",
        path="/",
        payload=payload,
        timestamp=1551113065,
        service="cvm",
    )
    assert auth == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_wechat_signature_sorts_its_inputs():
    assert wechat_signature("tok", "1", "n") == wechat_signature("tok", "1", "n")
    assert wechat_signature("b", "a", "c") == wechat_signature("c", "b", "a")  # order-free by design


def test_webhook_signature_covers_the_timestamp():
    assert webhook_signature("s", "100", b"{}") != webhook_signature("s", "101", b"{}")
    assert webhook_signature("s", "100", b"{}").startswith("sha256=")


def test_alibaba_phone_format():
    assert aliyun_phone("+8613800138000") == "13800138000"
    assert aliyun_phone("+85291234567") == "85291234567"


def test_alibaba_percent_encode_fast_path_encodes_exactly_as_rfc3986():
    from urllib.parse import quote

    from services.notify.adapters.providers.aliyun import percent_encode

    samples = ("SendSms", "A_b.c-~9", "", "a b", "x*y", "佩妮", "2026-12-07T10:00:00Z", '{"a":"/"}', "+86")
    for value in samples:
        assert percent_encode(value) == quote(value, safe="-_.~"), value
