"""One mark for the exact answers the shipped reader does not yet give: drop it after retraining."""

import pytest

READER_MISSES = pytest.mark.xfail(reason="shipped reader (dev HasAns F1 65.4) misses this; retrain", strict=False)
