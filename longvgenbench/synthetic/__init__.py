"""Synthetic long videos with exact controls: procedural scenes (``scene``), camera paths
(``camera_path``), an analytic ray caster (``raycast``), exact tracks (``tracks``), captions
(``captions``), one video with its controls (``video``), and the split sources (``source``)."""
