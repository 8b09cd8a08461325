"""The live console (Textual): arms, curves, GPUs, differences, verdict and logs.

Only this package imports Textual. It reads ``experiment.store`` on a timer and calls the
experiment's methods (detach / stop / finish); it never parses logs or talks to a backend.
Entry points: :func:`abtui.tui.app.make_app` and :func:`abtui.tui.app.run_console`.
"""
