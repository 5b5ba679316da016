# cimpool: generate, lint, synthesize, verilate and co-simulate.
#   make test                 install missing tools, run every test (what CI runs)
#   make gen [GEN_ARGS=...]   generate the package into $(OUT) (default: the embedded config)
#   make lint | synth         Verilator -Wall lint / Yosys synth + check of $(OUT)
#   make verilate             build $(OUT) into a shared library for co-simulation
#   make cosim [CONFIG=f.toml] [VECTORS=n]   co-simulate a config (default: $(OUT) as generated)
#   make bench                golden-model and co-simulation throughput figures
#   make synth-full | lint-full | cosim-full   full default size (minutes, GBs): opt-in

OUT      ?= hdl
BUILD    ?= build
VECTORS  ?= 1000
SEED     ?= 1
GEN_ARGS ?=
CIMPOOL  := cargo run --release --quiet --
TOOLS    := verilator yosys iverilog

.PHONY: deps gen lint synth verilate cosim test bench synth-full lint-full cosim-full clean

# Debian packages: verilator 5.006, yosys 0.23, iverilog 11 (see README).
deps:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
		{ echo "could not install$$missing: install the Debian packages by hand"; exit 1; }; \
	fi; \
	for t in $(TOOLS); do command -v $$t >/dev/null || { echo "$$t still missing"; exit 1; }; done

gen:
	$(CIMPOOL) gen --out $(OUT) $(GEN_ARGS)

$(OUT)/files.f:
	$(CIMPOOL) gen --out $(OUT) $(GEN_ARGS)

lint: deps $(OUT)/files.f
	cd $(OUT) && verilator --lint-only -Wall --top-module cim_top $$(cat files.f) && echo "lint: 0 warnings"

synth: deps $(OUT)/files.f
	cd $(OUT) && yosys -q -l synth.log -p "read_verilog $$(tr '\n' ' ' < files.f); hierarchy -check -top cim_top; synth -top cim_top; check -assert; tee -o stat.txt stat" && cat stat.txt | tail -40

verilate: deps $(OUT)/files.f
	$(CIMPOOL) verilate --rtl $(OUT) --build $(BUILD)/verilator

ifdef CONFIG
cosim: deps
	$(CIMPOOL) gen --config $(CONFIG) --out $(BUILD)/cosim-package
	$(CIMPOOL) cosim --rtl $(BUILD)/cosim-package --build $(BUILD)/verilator --vectors $(VECTORS) --seed $(SEED)
else
cosim: deps $(OUT)/files.f
	$(CIMPOOL) cosim --rtl $(OUT) --build $(BUILD)/verilator --vectors $(VECTORS) --seed $(SEED)
endif

test: deps
	cargo test -- --nocapture

bench: deps
	cargo bench --bench golden
	cargo run --release --example cosim_speed

synth-full:
	$(MAKE) synth OUT=$(BUILD)/full GEN_ARGS="--macros 8"

lint-full:
	$(MAKE) lint OUT=$(BUILD)/full GEN_ARGS="--macros 8"

cosim-full:
	$(MAKE) cosim OUT=$(BUILD)/full GEN_ARGS="--macros 8" VECTORS=200

clean:
	rm -rf $(BUILD) $(OUT)/*.v $(OUT)/files.f $(OUT)/cim_*
