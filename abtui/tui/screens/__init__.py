"""The console's screens: main console, diff view, GPU view, results, quit dialog."""
