"""Drop-in loggers that make a framework's run speak abtui's protocol.

``abtui.integrations.hf.AbtuiCallback`` (a Hugging Face ``TrainerCallback``) and
``abtui.integrations.lightning.AbtuiLogger`` (a Lightning ``Logger``) write protocol
records through ``abtui.reporter``: an env record at the start, a metric record per log
call with abtui's names (``lr``, ``throughput_samples_per_sec`` ...), the final record at
the end. Each module imports its framework, so it is only imported by scripts that
already have it: abtui itself depends on neither.
"""
