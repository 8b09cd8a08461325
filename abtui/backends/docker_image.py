"""Image identity: resolve what an arm's image reference means on this daemon, once.

Tags move; an image ID does not. abtui resolves every reference before any arm starts,
records the facts in the manifest, and launches every arm by ID, so both arms of an A/B
run the very same bytes even if someone retags the image in between.
"""

from __future__ import annotations

import re
from typing import Any

import docker.errors

from abtui.infra.errors import BackendError
from abtui.infra.secrets import mask_env

BUILD_HINT = "docker build -f docker/Dockerfile -t {ref} ."
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def is_pinned(ref: str) -> bool:
    """True for ``name@sha256:<digest>`` or an image ID, which cannot move."""
    return bool(_DIGEST.search(ref) or _IMAGE_ID.match(ref))


def image_facts(image: Any) -> dict[str, Any]:
    """The identity of an image as the manifest and the diff want it."""
    attrs = image.attrs
    config = attrs.get("Config") or {}
    env = config.get("Env") or []
    return {
        "id": image.id,
        "repo_digests": list(attrs.get("RepoDigests") or []),
        "repo_tags": list(attrs.get("RepoTags") or []),
        "created": attrs.get("Created"),
        "labels": dict(config.get("Labels") or {}),
        "env": mask_env({k: v for k, _, v in (e.partition("=") for e in env)}),
        "architecture": attrs.get("Architecture"),
        "os": attrs.get("Os"),
        "entrypoint": config.get("Entrypoint"),
        "cmd": config.get("Cmd"),
        "working_dir": config.get("WorkingDir") or None,
        "size": attrs.get("Size"),
    }


def resolve_image(client: docker.DockerClient, ref: str) -> tuple[dict[str, Any], list[str]]:
    """Facts about ``ref`` on the daemon and warnings (an unpinned tag). Nothing is pulled."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise BackendError(
            f"image {ref!r} is not on this Docker host (abtui never pulls implicitly).\n"
            f"  build it:  {BUILD_HINT.format(ref=ref.split('@')[0])}\n"
            f"  or pull it yourself:  docker pull {ref}"
        ) from None
    except docker.errors.APIError as exc:
        raise BackendError(f"image {ref!r}: the Docker daemon refused: {exc.explanation or exc}") from None
    facts = image_facts(image)
    facts["ref"] = ref
    warnings: list[str] = []
    if not is_pinned(ref):
        pin = (f"image: {facts['repo_digests'][0]}" if facts["repo_digests"]
               else f"image: {facts['id']}  (a local build has no registry digest; its ID pins it)")
        warnings.append(
            f"image {ref!r} is named by tag, and tags move; abtui runs it by ID "
            f"{facts['id'][:19]} for this run. Pin it in the spec:  {pin}"
        )
    return facts, warnings
