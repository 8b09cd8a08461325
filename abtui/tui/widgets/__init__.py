"""The console's widgets. Each one reads the store when the app sets its ``data_version``."""
