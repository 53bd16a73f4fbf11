import pytest

from progress_plugin import errors


def test_one_root_for_every_error_class():
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) > 10
    assert all(issubclass(c, errors.ProgressPluginError) for c in classes)


def test_validation_error_keeps_marshmallow_messages_and_flattens_paths():
    exc = errors.ValidationError({"goals": {3: ["Too many."]}, "tags": {0: {"code": ["Unknown."]}}})
    assert exc.messages["goals"][3] == ["Too many."]
    assert exc.paths() == {"goals.3": ["Too many."], "tags.0.code": ["Unknown."]}
    assert "goals.3: Too many." in str(exc) and exc.status == 422


def test_host_api_error_carries_status_body_and_request_id():
    exc = errors.HostConflict("stale", status_code=412, body="x" * 5000, request_id="req-1")
    assert exc.status_code == 412 and len(exc.body) == 2000 and exc.request_id == "req-1"
    assert str(exc) == "stale status=412 request_id=req-1"
    assert isinstance(exc, errors.HostAPIError) and not exc.retryable
    assert errors.HostUnavailable("down").retryable


@pytest.mark.parametrize("cls,status", [(errors.NotFound, 404), (errors.PreconditionFailed, 412),
                                        (errors.Unauthorized, 401), (errors.WebhookVerificationError, 401),
                                        (errors.Forbidden, 403)])
def test_statuses(cls, status):
    assert cls("x").status == status
