# Thin wrapper over scripts/: the scripts are the source of truth.
.PHONY: install run test ci
install: ; scripts/install
run: ; scripts/run
test: ; scripts/test $(ARGS)
ci: ; .ci/run
