"""Skip markers for tests that need data not every machine has; every such test skips the same way."""

from __future__ import annotations

import pytest

from fedkd.data.fashion_mnist import DEBIAN_DIR

needs_fashion_mnist = pytest.mark.skipif(
    not DEBIAN_DIR.is_dir(), reason="Fashion-MNIST files absent: apt-get install dataset-fashion-mnist")

def _llm_missing() -> str:
    from fedkd.llm.extra import missing_llm_packages

    return ", ".join(missing_llm_packages())


needs_llm = pytest.mark.skipif(
    bool(_llm_missing()),
    reason=f"the 'llm' extra is not installed (missing {_llm_missing()}): pip install 'fedkd[llm]'",
)
