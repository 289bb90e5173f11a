"""Distillation: the per-sample objective, the local training loop, schedules, features, FedDF, agreement.

- :mod:`fedkd.distill.objective`: which logit knowledge, whom to trust, which labels;
- :mod:`fedkd.distill.training`: the local training loop;
- :mod:`fedkd.distill.schedules`: temperature and alpha over rounds, and each round's values;
- :mod:`fedkd.distill.features`: feature taps, hint adapters, feature and relational terms;
- :mod:`fedkd.distill.site_round`: one site's round built from the run config;
- :mod:`fedkd.distill.hidden_labels`, :mod:`fedkd.distill.mutual`: hidden labels, mutual teachers;
- :mod:`fedkd.distill.ensemble`: server-side ensemble distillation (FedDF);
- :mod:`fedkd.distill.agreement`: student-teacher agreement and accuracy retention.
"""
