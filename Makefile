# `make test` and `make reproduce` set themselves up: a .venv built from pyproject.toml,
# rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.greenkd-installed
PROFILE ?= quick
# ONLY=00_story: only the notebooks whose file name contains it (greenkd reproduce --only).
ONLY ?=
# PARAMS='-p synthesizers "[dafl, zskt, dfq, deepinv, cmi]"': notebook parameters (greenkd reproduce -p).
PARAMS ?=
# Test processes: a module's tests stay together (its fixtures run once); 2 measured 1.5x faster here.
TEST_WORKERS ?= 2

.PHONY: setup test reproduce lab clean-outputs

setup: $(STAMP)

# The venv takes about 6.6 GB (torch and its CUDA libraries): say so before pip fills the disk.
NEED_GB ?= 7

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  if [ "$$free" -lt $(NEED_GB) ]; then \
	    echo "make: the set-up needs about $(NEED_GB) GB free for $(VENV) (torch and its CUDA libraries);" \
	         "df shows $$free GB free under $(CURDIR): free some space and run make again" >&2; exit 1; fi; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir -e ".[dev]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

reproduce: $(STAMP)
	$(BIN)/greenkd reproduce --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(PARAMS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/
