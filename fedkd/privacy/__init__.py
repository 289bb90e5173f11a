"""Differential privacy at a site: DP-SGD settings and training, the privacy ledger, what a figure covers.

- :mod:`fedkd.privacy.dp_settings`: DP-SGD parameters (no Opacus import);
- :mod:`fedkd.privacy.dp_sgd`: DP-SGD training with Opacus' per-sample gradients;
- :mod:`fedkd.privacy.ledger`: the per-site history of DP-SGD runs and its epsilon;
- :mod:`fedkd.privacy.scopes`: what a reported epsilon covers.
"""
