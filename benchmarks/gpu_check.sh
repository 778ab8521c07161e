#!/usr/bin/env bash
# The GPU checks of issues 8 and 9 in one run, under 12 minutes on one GPU:
#   1. the tests marked `cuda`            (.venv/bin/python -m pytest -q -m cuda)
#   2. the train-step benchmark on CUDA   (benchmarks/train_step.py --device cuda --predict)
#   3. one epoch of digits on CUDA with AMP bf16 (enof-train, teacher and SNN one epoch each)
#   4. the built-in simulator on CUDA (issue 9): benchmarks/simulate.py's CUDA rows and the whole-test-set row,
#      ResNet19 T = 4 on 10,000 samples on CUDA (bit-exact against the CPU on the first 200, which the CPU
#      row runs sharded over 2 processes and extrapolates)
# Prints a report and writes it to docs/gpu-check.md (GPU_CHECK_OUT overrides), for a session lent a GPU
# to run once and commit. Where there is no GPU it says so and exits 0 without touching the report.
# Each step has its own time limit (their sum is the 12 minutes); a failed step is reported and the
# others still run; the exit status is 1 when any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
OUT=${GPU_CHECK_OUT:-docs/gpu-check.md}
LIMIT_TESTS_S=150
LIMIT_BENCH_S=270
LIMIT_DIGITS_S=60
LIMIT_SIMULATE_S=240

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: skipped: nvidia-smi not found (no NVIDIA driver or GPU on this machine)"
    exit 0
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: skipped: torch sees no CUDA GPU ($("$PY" -c 'import torch; print(torch.__version__, "built for CUDA", torch.version.cuda)'))"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report=$work/report.md
failed=0
started=$SECONDS

# run_step TITLE LIMIT_S LOG COMMAND...: run COMMAND (output shown and kept in LOG) under a time
# limit; sets STEP_RC and STEP_S.
run_step() {
    local title=$1 limit=$2 log=$3
    shift 3
    echo "== gpu_check: $title (limit ${limit} s)"
    local start=$SECONDS
    { timeout "$limit" "$@" 2>&1 && echo 0 >"$log.rc" || echo $? >"$log.rc"; } | tee "$log"
    STEP_RC=$(cat "$log.rc")
    STEP_S=$((SECONDS - start))
}

# verdict: "passed" / "timed out" / "failed (exit N)" for STEP_RC; a failure marks the run failed.
verdict() {
    case $STEP_RC in
        0) RESULT="passed" ;;
        124) RESULT="timed out"; failed=1 ;;
        *) RESULT="failed (exit $STEP_RC)"; failed=1 ;;
    esac
}

{
    echo "# GPU check"
    echo
    echo "Produced by \`benchmarks/gpu_check.sh\` on $(date -u +%Y-%m-%dT%H:%MZ) at commit" \
         "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')."
    echo
    echo '```'
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())'
    echo '```'
} >"$report"

# 1. tests marked cuda (pytest exits 5 when none is collected: reported, not a failure)
run_step "tests marked cuda" "$LIMIT_TESTS_S" "$work/tests.log" "$PY" -m pytest -q -m cuda
if [[ $STEP_RC == 5 ]]; then RESULT="no test is marked cuda"; else verdict; fi
{
    echo
    echo "## 1. Tests marked \`cuda\`: $RESULT, ${STEP_S} s"
    echo
    echo '```'
    tail -n 25 "$work/tests.log"
    echo '```'
} >>"$report"

# 2. the train-step benchmark on CUDA, with the CIFAR-10 prediction
run_step "train-step benchmark on CUDA" "$LIMIT_BENCH_S" "$work/bench.log" \
    "$PY" benchmarks/train_step.py --device cuda --predict --markdown "$work/train-step.md"
verdict
{
    echo
    echo "## 2. Train-step benchmark on CUDA: $RESULT, ${STEP_S} s"
    echo
    if [[ -f $work/train-step.md ]]; then
        tail -n +2 "$work/train-step.md" | sed 's/^# /### /'
    else
        echo '```'
        tail -n 40 "$work/bench.log"
        echo '```'
    fi
} >>"$report"

# 3. one epoch of digits on CUDA with AMP bf16 (the ANN teacher's epoch, then the SNN's)
run_step "one digits epoch on CUDA, AMP bf16" "$LIMIT_DIGITS_S" "$work/digits.log" \
    .venv/bin/enof-train --dataset digits --arch digits_cnn -T 2 --epochs 1 --teacher-epochs 1 \
    --device cuda --amp bf16 -o "$work/model.pt"
verdict
{
    echo
    echo "## 3. One epoch of digits (teacher + SNN, T = 2) on CUDA, AMP bf16: $RESULT, ${STEP_S} s wall"
    echo
    echo "\`enof-train --dataset digits --arch digits_cnn -T 2 --epochs 1 --teacher-epochs 1 --device cuda --amp bf16\`"
    echo "(wall time includes start-up, data loading and the test-set evaluations)"
    echo
    echo '```'
    tail -n 15 "$work/digits.log"
    echo '```'
} >>"$report"

# 4. the built-in simulator on CUDA: its benchmark rows and the whole test set (10,000 samples on CUDA)
run_step "built-in simulator on CUDA, whole test set" "$LIMIT_SIMULATE_S" "$work/simulate.log" \
    "$PY" benchmarks/simulate.py --skip-lava --test-set-samples 10000 --test-set-cpu-samples 200 --out "$work/simulate.md"
verdict
{
    echo
    echo "## 4. Built-in simulator on CUDA (benchmarks/simulate.py, whole test set): $RESULT, ${STEP_S} s"
    echo
    if [[ -f $work/simulate.md ]]; then
        tail -n +2 "$work/simulate.md" | sed 's/^# /### /'
    else
        echo '```'
        tail -n 40 "$work/simulate.log"
        echo '```'
    fi
    echo
    echo "Total: $((SECONDS - started)) s (budget $((LIMIT_TESTS_S + LIMIT_BENCH_S + LIMIT_DIGITS_S + LIMIT_SIMULATE_S)) s)."
} >>"$report"

mkdir -p "$(dirname "$OUT")"
cp "$report" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$report"
echo
echo "gpu_check: report written to $OUT"
exit "$failed"
