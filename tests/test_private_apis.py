"""The few private APIs of other packages abtui calls, each behind one adapter: an upgrade
that removes or changes one fails here, not in a user's console or a run's log reader."""

from __future__ import annotations

import inspect

import docker

from abtui.backends.docker_logs import DOCKER_PRIVATE_API, raw_logs_response


def test_docker_py_still_has_the_internals_the_raw_log_reader_uses() -> None:
    for name in DOCKER_PRIVATE_API:
        assert callable(getattr(docker.APIClient, name, None)), f"docker.APIClient.{name} is gone"
    url = inspect.signature(docker.APIClient._url).parameters
    assert list(url)[:2] == ["self", "pathfmt"], url
    get = inspect.signature(docker.APIClient._get).parameters
    assert any(p.kind is p.VAR_KEYWORD for p in get.values()), get  # stream=, params=


def test_the_raw_log_reader_builds_the_request_docker_py_would() -> None:
    """With a client that records what it is asked: the path, the parameters and no read
    timeout on a follow stream (what the reader's resume tokens and waits rely on)."""
    calls: list[tuple] = []

    class Recorder(docker.APIClient):
        def _get(self, url, **kwargs):  # type: ignore[no-untyped-def, override]
            calls.append((url, kwargs))
            return "response"

        def _raise_for_status(self, response):  # type: ignore[no-untyped-def, override]
            calls.append(("checked", response))

    api = Recorder(base_url="tcp://127.0.0.1:1", version="1.41")
    got = raw_logs_response(api, "abc", {"stdout": 1, "timestamps": 1}, follow=True)
    assert got == "response"
    url, kwargs = calls[0]
    assert url.endswith("/v1.41/containers/abc/logs")
    assert kwargs == {"params": {"stdout": 1, "timestamps": 1}, "stream": True, "timeout": None}
    assert calls[1] == ("checked", "response")
    raw_logs_response(api, "abc", {}, follow=False)
    assert "timeout" not in calls[2][1]
