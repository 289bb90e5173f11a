"""Distillation losses as pure functions of tensors, one file per kind of knowledge.

- :mod:`fedkd.losses.logit`: soft targets (Hinton 2015), decoupled KD (Zhao 2022), not-true KD (Lee 2022);
- :mod:`fedkd.losses.feature`: FitNets hints (Romero 2015), attention transfer (Zagoruyko 2017);
- :mod:`fedkd.losses.relational`: RKD (Park 2019), similarity-preserving KD (Tung 2019);
- :mod:`fedkd.losses.trust`: per-sample teacher trust from its confidence;
- :mod:`fedkd.losses.token`: per-token KD of causal language models, one value per sequence, and a top-k teacher cache.
"""
