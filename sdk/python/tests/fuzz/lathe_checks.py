"""Schemathesis checks of Lathe's refusals (loaded with SCHEMATHESIS_HOOKS=lathe_checks): every 4xx
is application/problem+json with a detail, and a 400 names the field it is about."""

import schemathesis


@schemathesis.check
def problem_details(ctx, response, case):
    status = response.status_code
    if not 400 <= status < 500:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{status} answered as {content_type!r}, not application/problem+json")
    body = response.json()
    if not isinstance(body, dict) or not body.get("detail"):
        raise AssertionError(f"{status} without a detail: {response.text[:200]}")
    if status == 400 and not body.get("field"):
        raise AssertionError(f"400 names no field: {body['detail']}")
