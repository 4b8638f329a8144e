"""The split builder: anyone's long footage -> a LongVGenBench-protocol split (see ``pipeline.py``)."""
