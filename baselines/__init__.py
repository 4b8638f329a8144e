"""baselines: a longvgenbench plug-in package (found through entry points)."""
