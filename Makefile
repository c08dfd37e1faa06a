# The two newcomer commands: `make demo` and `make test`. Both create .venv and install the project first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps sgmse==0.1.2  # the reference implementation, for the tests
	$(BIN)/python -c "import librosa.core.audio"  # numba compiles the kernels sgmse.model loads, once (6 s)
	touch $@

demo: install
	$(BIN)/ncse demo

# One worker per core, one torch thread each (tests/conftest.py). Bytecode is written even where the environment
# says not to (PYTHONDONTWRITEBYTECODE), and compiled first (0.3 s): both workers and every process a test starts
# import the package, and would each compile it again (about 2 s of CPU per process on a fresh clone). Test modules
# are left to pytest, which compiles them itself (with its assertion rewriting).
test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m compileall -q ncse_cli tests/dummies.py
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n auto --dist loadgroup

clean:
	rm -rf $(VENV) ncse-runs .pytest_cache
