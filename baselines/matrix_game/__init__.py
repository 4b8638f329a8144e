"""Matrix-Game-2.0 (SkyworkAI): causal generator with action modules, official checkpoint checks, weights."""
