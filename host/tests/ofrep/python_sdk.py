"""OpenFeature's Python SDK with its OFREP provider against a running tailor node
(tests/ofrep.rs starts it): a string flag (hero-banner's variant), an object flag (a policy
whose config makes the render map the value), an unknown flag (the default and
FLAG_NOT_FOUND), and the bulk evaluation with a 304 for an unchanged second call (the
provider evaluates one flag a request, so the bulk call is made with `requests`, which the
provider itself uses).

Usage: python_sdk.py BASE_URL API_TOKEN CUSTOMER EXPECTED_VARIANT OBJECT_FLAG
"""

import sys

import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode


def main() -> None:
    base, token, customer, expected_variant, object_flag = sys.argv[1:6]
    headers = {"Authorization": f"Bearer {token}"}
    api.set_provider(OFREPProvider(base, headers_factory=lambda: headers))
    client = api.get_client()
    attributes = {"channel": "web", "page": {"kind": "home"}, "locale": "en-GB"}
    context = EvaluationContext(targeting_key=customer, attributes=attributes)

    string = client.get_string_details("hero-banner", "fallback", context)
    assert string.error_code is None, string
    assert string.value == expected_variant, string
    assert string.variant == expected_variant, string
    assert str(string.flag_metadata["version"]).startswith("sha256:"), string

    obj = client.get_object_details(object_flag, {}, context)
    assert obj.error_code is None, obj
    assert isinstance(obj.value["headline"], str), obj
    assert obj.variant == expected_variant, obj

    unknown = client.get_string_details("no-such-flag", "fallback", context)
    assert unknown.value == "fallback", unknown
    assert unknown.error_code == ErrorCode.FLAG_NOT_FOUND, unknown

    body = {"context": {"targetingKey": customer, **attributes}}
    url = f"{base}/ofrep/v1/evaluate/flags"
    first = requests.post(url, json=body, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    flags = {flag["key"]: flag for flag in first.json()["flags"]}
    assert flags["hero-banner"]["value"] == expected_variant, flags
    etag = first.headers["ETag"]
    second = requests.post(
        url, json=body, headers={**headers, "If-None-Match": etag}, timeout=30
    )
    assert second.status_code == 304, second.text
    assert second.content == b"", second.content
    print(f"ok: {string.value}, {sorted(obj.value)}, {len(flags)} flags")


if __name__ == "__main__":
    main()
