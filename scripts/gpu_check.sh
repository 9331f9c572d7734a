#!/usr/bin/env bash
# The analysis on a GPU end to end, beside the CPU on the same machine, in one call:
#
#   OUT=FOLDER scripts/gpu_check.sh [PYTHON]     # PYTHON: one with requirements.txt installed (default .venv/bin/python)
#
# 1. the GPU, and where each part runs (torch, and Whisper: CTranslate2 on CUDA, or why not);
# 2. `python -m spikemo analyze` on the bundled example with --device cuda, then --device cpu (stage timings in
#    each analysis JSON), and whether both give the same turns and labels;
# 3. `python -m spikemo bench pipeline` on a generated 60 s conversation, cuda then cpu (median of 3): the GPU
#    seconds per minute of video that demo/worker.py's ZeroGPU duration should be based on;
# 4. the app on cuda answering the README's gradio_client example, timed.
# Everything it prints is also written under $OUT (default: a new temporary folder, named at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
OUT=${OUT:-$(mktemp -d /tmp/spikemo-gpu-check-XXXXXX)}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export GRADIO_ANALYTICS_ENABLED=False
EXAMPLE=assets/examples/two_friends.mp4

echo "== the machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$PY" - <<'EOF'
import ctranslate2
import torch

from spikemo.video.speech import SpeechConfig, cuda_unavailable_reason, whisper_device

print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuda available: {torch.cuda.is_available()}")
print(f"ctranslate2 {ctranslate2.__version__}, CUDA devices it sees: {ctranslate2.get_cuda_device_count()}")
print(f"Whisper asked for cuda runs on: {whisper_device(SpeechConfig(device='cuda'))} "
      f"({cuda_unavailable_reason() or 'CTranslate2 runs on CUDA'})")
EOF

echo "== python -m spikemo analyze $EXAMPLE, cuda then cpu"
for device in cuda cpu; do
  started=$(date +%s.%N)
  "$PY" -m spikemo analyze "$EXAMPLE" --device "$device" --out "$OUT/analysis_$device.json"
  echo "$device: the whole command took $(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") s (cold)"
done
"$PY" - "$OUT" <<'EOF'
import json
import sys
from pathlib import Path

runs = {d: json.loads((Path(sys.argv[1]) / f"analysis_{d}.json").read_text()) for d in ("cuda", "cpu")}
for device, run in runs.items():
    print(f"{device:5} stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in run["timings"].items()))
turns = {d: [(u["speaker"], u["text"], u["emotion"]) for u in r["utterances"]] for d, r in runs.items()}
print("same turns, speakers and emotions on cuda and cpu:", turns["cuda"] == turns["cpu"])
EOF

echo "== python -m spikemo bench pipeline (generated 60 s conversation), cuda then cpu"
for device in cuda cpu; do
  "$PY" -m spikemo bench pipeline --device "$device" --duration 60 --repeats 3 --json | tee "$OUT/bench_$device.txt"
done

echo "== the app on cuda and the README's gradio_client example"
PORT=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$PY" app.py --device cuda --port "$PORT" > "$OUT/app.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/" > /dev/null; do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/app.log"; echo "error: the app exited"; exit 1; }
  sleep 0.5
done
"$PY" - > "$OUT/example.py" <<'EOF'
import re
from pathlib import Path

blocks = re.findall(r"```python\n(.*?)```", Path("README.md").read_text(encoding="utf-8"), re.DOTALL)
print(next(block for block in blocks if "gradio_client" in block))
EOF
sed -i "s#http://127.0.0.1:7860/#http://127.0.0.1:$PORT/#" "$OUT/example.py"
for attempt in first second; do
  started=$(date +%s.%N)
  "$PY" "$OUT/example.py"
  echo "/analyse on cuda, $attempt call: $(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") s"
done
echo "== results in $OUT"
