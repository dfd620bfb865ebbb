"""Validate ONNX files written by intrain with the official checker (dev tool, not a test dependency).

Usage: python models/scripts/check_onnx.py FILE.onnx [FILE.onnx ...]
Runs onnx.checker.check_model(full_check=True) (strict shape inference included) and loads each
file in onnxruntime; prints one line per file and exits 1 if any fails.
"""
import sys

import onnx
import onnxruntime as ort

failed = 0
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(path, full_check=True)
        ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        m = onnx.load(path)
        print(f"OK   {path}: opset {m.opset_import[0].version}, IR {m.ir_version}, {len(m.graph.node)} nodes")
    except Exception as e:  # noqa: BLE001 - report every failure
        failed += 1
        print(f"FAIL {path}: {str(e).splitlines()[0]}")
sys.exit(1 if failed else 0)
