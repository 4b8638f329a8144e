"""VBench 0.1.5 quality dimensions, reimplemented batched on the device and checked for parity (tests/parity)."""
