"""fedkd: federated, privacy-preserving knowledge distillation in plain PyTorch.

The package is the framework's core. It never imports Flower, so every piece
(data, models, losses, teachers, training, results) can be tested and reused
without a federation; ``clients/`` and ``server/`` are the Flower glue.
"""

__version__ = "0.1.0"
