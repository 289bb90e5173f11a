"""The distillation settings the generated pages measured, pinned so the pages do not move with fedkd's defaults.

``docs/results.md``, ``docs/privacy.md`` and ``docs/methods.md`` were measured with
Hinton KD at a constant temperature (kd-alpha 0.5, T 4). fedkd's default since
then is the temperature schedule the methods table supports; the pages keep the
setting they measured, and a row that means something else says so in its overrides.
"""

from __future__ import annotations

from typing import Any

HINTON_KD: dict[str, Any] = {"kd-alpha": 0.5, "kd-temperature": 4.0, "kd-temperature-schedule": "constant",
                             "kd-temperature-final": 2.0, "kd-alpha-schedule": "constant",
                             "kd-logit-loss": "soft-target"}
