"""Reference training runners that speak the abtui log protocol."""
