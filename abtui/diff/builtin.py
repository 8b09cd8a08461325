"""The built-in diff categories, registered in display order (``categories.py`` is the
registry; the package's ``__init__`` imports this module before anything else)."""

from __future__ import annotations

from abtui.diff import (
    code,
    config,
    data,
    environment,
    envvars,
    files,
    hardware,
    image,
    nodes,
    numerics,
    values,
)
from abtui.diff.categories import Category, register

BUILTIN = (
    Category("config", (config.config_findings,), values.config, ("launch.",)),
    Category("image", (image.compare_images,), values.image, ("image.",), ("image",)),
    Category("environment", (environment.environment_findings, numerics.numerics_findings),
             values.environment, ("env.", "numerics."), ("numerics",)),
    Category("code", (code.code_findings,), values.code, ("code.",), ("code",)),
    Category("hardware", (hardware.hardware_findings, nodes.node_findings),
             values.hardware, ("hardware.", "host.")),
    Category("data", (data.data_findings,), values.data, ("data.",)),
    Category("files", (files.files_findings,), values.files, ("files.",)),
    Category("envvars", (envvars.envvar_findings,), values.envvars, ("envvar.",)),
)
for _category in BUILTIN:
    register(_category)
