"""What every layer may use: abtui's errors and exit codes (``errors``), secret masking
(``secrets``), the one sanitising boundary for arm-derived text (``untrusted``) and the
lazy numpy import (``numeric``). Imports nothing of abtui above it."""
