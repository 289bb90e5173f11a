"""Text classification with a pretrained encoder (``task = "text-encoder"``): MiniLM teachers, a LoRA student.

Plain torch, transformers and peft; never the federation framework.
"""
