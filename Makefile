# The two commands of the README. Everything they need is installed here.
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: demo test system-deps bench templates

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

## The report templates compiled into the package, so that runs need not compile them (grader/report/precompiled.py);
## and its modules' bytecode, as pip writes it for any other install: the sandbox's worker may not write its own,
## and would otherwise compile its modules at every start (about 20 ms).
templates: $(VENV)/.installed
	@$(VENV)/bin/grader compile-templates >/dev/null
	@$(PYTHON) -m compileall -q -x '/assignments/' grader

## Grade the bundled examples of every assignment (examples/<assignment>/) into feedback/<assignment>/.
demo: $(VENV)/.installed templates
	@for example in examples/*/; do \
		name=$$(basename $$example); \
		[ -f grader/assignments/$$name/spec.yaml ] || continue; \
		$(VENV)/bin/grader run --assignment $$name --out feedback/$$name examples/$$name || exit 1; \
	done
	@echo "Feedback written: open feedback/<assignment>/summary.html, and each student's feedback.html beside it"

## bubblewrap (the strict sandbox) and Chromium (the HTML tests), when missing.
system-deps:
	@scripts/install-system-deps

## The whole test suite, in both sandbox modes.
test: $(VENV)/.installed system-deps templates
	$(PYTHON) -m pytest -q

## The speed benchmark (run by hand; see benchmarks/README.md).
bench: $(VENV)/.installed templates
	$(PYTHON) benchmarks/grade_batch.py
