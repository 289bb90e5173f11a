"""``fedkd export --student FILE --format onnx|torchscript --out FILE``: a student that runs without fedkd."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.student_file import CommandError, load_student
from fedkd.export import FORMATS, ExportError, export_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--student", type=Path, required=True, help="a run's student.safetensors")
    parser.add_argument("--format", choices=FORMATS, required=True,
                        help="torchscript (load with torch.jit.load) or onnx (needs the 'onnx' extra)")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")


def run(args: argparse.Namespace) -> int:
    """Export and check the student; 2 on bad input or a failed check."""
    try:
        model, input_shape, num_classes = load_student(args.student)
        difference = export_model(model, input_shape=input_shape, path=args.out, fmt=args.format)
    except (CommandError, ExportError, ImportError, OSError) as error:
        print(f"fedkd export: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.format}; input float32 [batch, {', '.join(map(str, input_shape))}] -> "
          f"{num_classes} logits); same predictions as the student (max logit difference {difference:.2g})")
    return 0
