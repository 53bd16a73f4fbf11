"""The retry policy: which requests are retried, and how long it waits."""
from requests.structures import CaseInsensitiveDict

from progress_plugin.fhir.retry import RETRY_AFTER_MAX, Retry, RetryAdapter, policy


def test_retry_after_is_capped():
    retry = policy()
    assert retry.parse_retry_after("3600") == RETRY_AFTER_MAX == 30
    assert retry.parse_retry_after("2") == 2
    assert policy(retry_after_max=5).parse_retry_after("60") == 5


def test_retry_after_only_for_429_and_503():
    retry = Retry(status_forcelist=())
    assert retry.is_retry("GET", 429, has_retry_after=True)
    assert retry.is_retry("GET", 503, has_retry_after=True)
    assert not retry.is_retry("GET", 413, has_retry_after=True)


def test_statuses_retried():
    retry = policy()
    assert {s for s in range(400, 600) if retry.is_retry("GET", s)} == {429, 502, 503, 504}


def test_writes_need_an_idempotency_key():
    retry = policy()
    no_key = CaseInsensitiveDict()
    with_key = CaseInsensitiveDict({"idempotency-key": "k1"})
    for method in ("POST", "PUT", "PATCH"):
        assert not retry.for_request(method, no_key).is_retry(method, 503)
        assert retry.for_request(method, with_key).is_retry(method, 503)
    for method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        assert retry.for_request(method, no_key).is_retry(method, 503)


def test_for_request_keeps_the_settings():
    retry = policy(retries=5, backoff_factor=0.1)
    chosen = retry.for_request("POST", {"Idempotency-Key": "k"})
    assert (chosen.total, chosen.backoff_factor, chosen.retry_after_max) == (5, 0.1, 30)
    assert chosen.raise_on_status is False


def test_backoff_is_exponential_and_small():
    retry = policy(backoff_factor=0.5)
    waits = []
    for _ in range(3):
        retry = retry.increment("GET", "/x")
        waits.append(retry.get_backoff_time())
    assert waits == [0, 1.0, 2.0]


def test_adapter_exposes_the_base_policy_outside_a_send():
    base = policy(retries=2)
    adapter = RetryAdapter(base)
    assert adapter.max_retries is base
