"""Readable files from a run folder's raw data (report.json, histograms.json)."""
