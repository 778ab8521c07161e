# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.enof-installed
PYMINOR := $(shell $(PYTHON) -c 'import sys; print(sys.version_info[1])')

.PHONY: install demo test clean

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
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/enof-train --dataset digits --arch digits_cnn --timesteps 2 -o runs/demo/model.pt

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs
