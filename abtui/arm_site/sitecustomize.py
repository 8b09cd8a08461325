"""abtui's hook in an arm's Python processes (abtui puts this folder first on PYTHONPATH).

It records which files each process opens for writing outside the arm's own output folder
(``$ABTUI_OUT``), one path a line in ``$ABTUI_WRITES_DIR/<pid>.txt``, through a
``sys.addaudithook`` on the ``open`` event: so abtui can say when two arms wrote the same
file in a shared working directory (one overwrote the other), and can read the metric files
(TensorBoard, ``metrics.csv``) an arm wrote wherever its script put them. Then it runs the
``sitecustomize`` that would have run without it, so a user's own still does.

Stdlib only (it runs in the arm's interpreter, whatever its version); it never raises into
the process and costs one string compare per audit event. Bounded: ``MAX_PATHS`` per process.
"""

import os
import sys

MAX_PATHS = 2000
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _install() -> None:
    folder = os.environ.get("ABTUI_WRITES_DIR")
    if not folder or not os.path.isdir(folder):
        return
    # the arm's own folder in the run directory (its relay writes output.log there)
    arm = os.path.dirname(os.path.abspath(folder))
    own = tuple(os.path.join(p, "") for p in (os.environ.get("ABTUI_OUT"), arm) if p)
    skip = own + ("/dev/", "/proc/", "/sys/")
    seen = set()
    state: dict = {"fd": None, "busy": False, "torch": False}

    def record(path: str) -> None:
        if state["fd"] is None:
            name = os.path.join(folder, f"{os.getpid()}.txt")
            state["fd"] = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
                                  0o600)
        os.write(state["fd"], (path.replace("\n", "?") + "\n").encode("utf-8", "replace"))

    def written(path: object) -> None:
        if len(seen) >= MAX_PATHS or isinstance(path, int) or path is None:
            return
        full = os.path.abspath(os.fsdecode(path))
        if full in seen or full.startswith(skip):
            return
        seen.add(full)
        record(full)

    def wrap_torch_save() -> None:
        """``torch.save(obj, PATH)`` writes through torch's C++ zip writer, which raises no
        audit event: its path is recorded at the (private) function that opens it. Only
        when that function is there; otherwise nothing changes (tests/test_arm_site.py
        checks it on the torch the suite runs)."""
        ser = sys.modules.get("torch.serialization")
        orig = getattr(ser, "_open_zipfile_writer", None)
        if orig is None or getattr(orig, "_abtui", False):
            return
        state["torch"] = True

        def _open_zipfile_writer(name_or_buffer, *a, **k):
            if isinstance(name_or_buffer, (str, bytes, os.PathLike)):
                try:  # noqa: SIM105 - contextlib is one import more in every arm process
                    written(name_or_buffer)
                except Exception:  # noqa: BLE001, S110 - never in the arm's way
                    pass
            return orig(name_or_buffer, *a, **k)

        _open_zipfile_writer._abtui = True
        ser._open_zipfile_writer = _open_zipfile_writer

    def hook(event: str, args: tuple) -> None:
        if state["busy"]:
            return
        if not state["torch"] and "torch.serialization" in sys.modules:
            state["busy"] = True
            try:
                wrap_torch_save()
            except Exception:  # noqa: BLE001, S110
                pass
            finally:
                state["busy"] = False
        if event != "open" or len(seen) >= MAX_PATHS:
            return
        state["busy"] = True  # our own os.open must not come back here
        try:
            path, mode, flags = args
            if mode is not None:
                writing = any(c in str(mode) for c in "wax+")
            else:
                writing = bool(int(flags or 0) & _WRITE_FLAGS)
            if writing:
                written(path)
        except Exception:  # noqa: BLE001, S110 - a hook that raised would break open()
            pass
        finally:
            state["busy"] = False

    sys.addaudithook(hook)


def _chain() -> None:
    """The ``sitecustomize`` that Python would have imported without this one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:  # noqa: SIM105 - contextlib is one import more in every arm process
    _install()
except Exception:  # noqa: BLE001 - never in the arm's way
    pass
_chain()
