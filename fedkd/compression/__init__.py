"""Update compression: pure tensor codecs, one file each, and the registry that names them.

- :mod:`fedkd.compression.fp16`: half precision;
- :mod:`fedkd.compression.int8`: 8-bit stochastic rounding with one scale per tensor (QSGD-style,
  Alistarh et al., 2017), unbiased;
- :mod:`fedkd.compression.topk`: the largest-magnitude share of entries (sparsification with
  error feedback, Stich et al., 2018);
- :mod:`fedkd.compression.lowrank`: truncated SVD of 2-D updates (FedKD, Wu et al., 2022);
- :mod:`fedkd.compression.update`: a whole state dict of updates through one codec;
- :mod:`fedkd.compression.registry`: codecs by config name.
"""
