# sam build with BuildMethod: makefile. Every function's CodeUri is the repository root, so
# `sam build` runs `make build-<LogicalId>` here (the root Makefile includes this file) with
# ARTIFACTS_DIR set. Each artifact gets shared/, functions/__init__.py and its own folder,
# plus the runtime dependencies built for the Lambda platform (python3.11 on arm64).

# The root Makefile includes this before its own targets: keep its first target the default.
SAM_PREVIOUS_DEFAULT_GOAL := $(.DEFAULT_GOAL)

SAM_PYTHON ?= python3
SAM_PIP_FLAGS := --quiet --disable-pip-version-check --no-compile \
	--platform manylinux2014_aarch64 --implementation cp --python-version 3.11 \
	--only-binary=:all: --upgrade

# Pure-Python requirements published as source only: built into a py3-none-any wheel first,
# because installing for another platform (--platform) accepts wheels only.
SAM_SDIST_ONLY := python-alipay-sdk==3.4.0

# LogicalId:folder for every function in template.yaml.
SAM_FUNCTIONS := \
	WsConnectFunction:ws_connect \
	OcppRouterFunction:ocpp_router \
	OperatorApiFunction:operator_api \
	ReportsFunction:reports \
	DriverApiFunction:driver_api \
	PaymentsFunction:payments \
	FaultsFunction:faults \
	ModbusBridgeFunction:modbus_bridge \
	HousekeepingFunction:housekeeping

define sam_build_function
.PHONY: build-$(1)
build-$(1):
	test -n "$$(ARTIFACTS_DIR)"
	test -f functions/$(2)/handler.py
	mkdir -p "$$(ARTIFACTS_DIR)/functions"
	cp -R shared "$$(ARTIFACTS_DIR)/"
	cp functions/__init__.py "$$(ARTIFACTS_DIR)/functions/"
	cp -R functions/$(2) "$$(ARTIFACTS_DIR)/functions/"
	find "$$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	$$(SAM_PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-deps \
		-w "$$(ARTIFACTS_DIR)/.sdist-wheels" $$(SAM_SDIST_ONLY)
	$$(SAM_PYTHON) -m pip install $$(SAM_PIP_FLAGS) --find-links "$$(ARTIFACTS_DIR)/.sdist-wheels" \
		-r functions/requirements.txt --target "$$(ARTIFACTS_DIR)"
	rm -rf "$$(ARTIFACTS_DIR)/.sdist-wheels"
endef

$(foreach entry,$(SAM_FUNCTIONS),$(eval $(call sam_build_function,$(word 1,$(subst :, ,$(entry))),$(word 2,$(subst :, ,$(entry))))))

.DEFAULT_GOAL := $(SAM_PREVIOUS_DEFAULT_GOAL)
