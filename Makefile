# cimpool: generate, lint, synthesize, verilate and co-simulate.
#   make test                 install missing tools, run every test (what CI runs)
#   make gen [GEN_ARGS=...]   generate the package into $(OUT) (default: the embedded config)
#   make lint                 Verilator -Wall lint of $(OUT)
#   make synth [LIBERTY=f]    Yosys synth + check -assert of $(OUT), cell area by block
#   make timing [TIMING_GEN='gen flags'] [LIBERTY=f] [JSON=f]   Fmax, critical path per block, power (osu018 Liberty, OpenSTA)
#   make xbar-report [POOLS=16,32,64,128]   mux vs Benes crossbars vs macros of $(OUT)'s config
#   make verilate             build $(OUT) into a shared library for co-simulation
#   make cosim [CONFIG=f.toml] [VECTORS=n]   co-simulate a config (default: $(OUT) as generated)
#   make finetune [KEEP=0.5] [NET=mlp|cnn]   digits network: post-training pool, fine-tuning against it, images, accuracy
#   make finetune-dense [NET=mlp|cnn] [WBITS=4] [SPARSITY=0.5]   the same for the dense engine (MARS flow)
#   make train (ONNX=f.onnx | WEIGHTS=w.npz MODEL=m.toml | WEIGHTS=w.npz NETWORK=name) TRAIN=train.npz TEST=test.npz [HW="--config hw.toml --set ..."] [KEEP=0.5] [EPOCHS=10] [MORPH=1] [TRAIN_FLAGS=...]   any network trained against the hardware: images and a golden accuracy equal to training's
#   make adc-train [MORPH=1] [NET=mlp|cnn|fmnist-mlp|fmnist-resnet|fmnist-resnet-ft|fmnist-resnet20-ft] [WL=64] [ADC_BITS=4] [ATKEEP=1.0] [AT_EPOCHS=30] [AT_SAMPLES=n] [AT_FLAGS=...] [AT_TAG=name]   ADC-aware training for a lossy ADC, learned ADC steps, golden accuracy
#   make fmnist-dense [FMNIST_NETS=mlp] [WBITS=4] [SPARSITY=0.5] [FT_FLAGS_<net>=...] [FMNIST_HW=...] [FT_INT_EPOCHS=n] [FT_INT_FLAGS=...] [FT_SUFFIX=-name]  the dense engine on Fashion-MNIST (float weights by make fmnist-float)
#   make fmnist [FMNIST_NETS='mlp resnet'] [FMNIST_KEEPS='0.3 0.5 0.75 1'] [FT_FLAGS_<net>=...] [FMNIST_HW=...] [FT_INT_EPOCHS=n] [FT_INT_FLAGS=...] [FT_SUFFIX=-name]   Fashion-MNIST: train, compress, fine-tune, golden accuracy on 10,000 test images
#   make bench-pool           pool construction on ResNet-18-sized data vs scikit-learn KMeans
#   make venv                 the pinned Python tools environment (build/venv)
#   make onnx-fixtures        rewrite the ONNX test files (tools/make_onnx.py)
#   make onnx-exporter-fixtures   rewrite the PyTorch / skl2onnx ONNX fixtures (tools/make_onnx_exporters.py; ~6 GB of wheels)
#   make bench                golden-model and co-simulation throughput figures
#   make synth-full | lint-full | cosim-full   full default size (minutes, GBs): opt-in

OUT      ?= hdl
BUILD    ?= build
VECTORS  ?= 1000
SEED     ?= 1
GEN_ARGS ?=
CIMPOOL  := cargo run --release --quiet --
# command:Debian package
TOOLS    := verilator:verilator yosys:yosys iverilog:iverilog sta:opensta
# file:Debian package (data the tools read)
DATA     := /usr/share/qflow/tech/osu018/osu018_stdcells.lib:qflow-tech-osu018

.PHONY: prove shrink timing fuzz coverage soak regress sweep sweep-ray adc-train adc-table finetune-dense fmnist fmnist-data fmnist-dense deps gen lint synth xbar-report finetune bench-pool verilate cosim test bench synth-full lint-full cosim-full clean venv onnx-fixtures onnx-exporter-fixtures estimate-tables train torch-fmnist train-bench adc-modes fmnist-float

# The Python tools run in a pinned virtual environment, never in the
# system interpreter.
VENV := $(BUILD)/venv
PY   := $(abspath $(VENV))/bin/python
$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tools/requirements.txt
	touch $@
venv: $(VENV)/.installed

# The training tools' environment (JAX's CPU wheels): the ADC-aware training
# tests run its forward pass, so make test installs it.
RAY_VENV    := $(BUILD)/venv-ray
$(RAY_VENV)/.installed: tools/requirements-ray.txt
	python3 -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/pip install -q -r tools/requirements-ray.txt
	touch $@
TRAIN_VENV  := $(BUILD)/venv-train
TRAIN_PY    := $(abspath $(TRAIN_VENV))/bin/python
$(TRAIN_VENV)/.installed: tools/requirements-train.txt
	python3 -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q -r tools/requirements-train.txt
	touch $@

onnx-fixtures: $(VENV)/.installed
	$(PY) tools/make_onnx.py

# PyTorch (both exporters) and skl2onnx fixtures: about 6 GB of wheels, so
# only this target installs them; make test reads the committed files.
FIXTURES_VENV := $(BUILD)/venv-fixtures
$(FIXTURES_VENV)/.installed: tools/requirements-fixtures.txt
	python3 -m venv $(FIXTURES_VENV)
	$(FIXTURES_VENV)/bin/pip install -q -r tools/requirements-fixtures.txt
	touch $@
onnx-exporter-fixtures: $(FIXTURES_VENV)/.installed
	$(FIXTURES_VENV)/bin/python tools/make_onnx_exporters.py

# README "Your own network": a residual CNN trained in PyTorch on
# Fashion-MNIST and exported with the default exporter (about 4 minutes
# on 2 cores; PyTorch's environment, about 6 GB).
TORCH_EPOCHS ?= 4
torch-fmnist: fmnist-data $(FIXTURES_VENV)/.installed
	$(FIXTURES_VENV)/bin/python examples/pytorch/fmnist_resnet.py --data $(FMNIST_DATA) --epochs $(TORCH_EPOCHS) --out $(BUILD)/torch-fmnist/model.onnx

# Debian packages: verilator 5.006, yosys 0.23, iverilog 11, opensta 2019 (see README).
deps:
	@missing=""; for tp in $(TOOLS); do command -v $${tp%%:*} >/dev/null 2>&1 || missing="$$missing $${tp##*:}"; done; \
	for fp in $(DATA); do [ -f $${fp%%:*} ] || missing="$$missing $${fp##*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
		{ echo "could not install$$missing: install the Debian packages by hand"; exit 1; }; \
	fi; \
	for tp in $(TOOLS); do command -v $${tp%%:*} >/dev/null || { echo "$${tp%%:*} still missing"; exit 1; }; done
	@for fp in $(DATA); do [ -f $${fp%%:*} ] || { echo "$${fp%%:*} still missing"; exit 1; }; done

gen:
	$(CIMPOOL) gen --out $(OUT) $(GEN_ARGS)

$(OUT)/files.f:
	$(CIMPOOL) gen --out $(OUT) $(GEN_ARGS)

lint: deps $(OUT)/files.f
	cd $(OUT) && verilator --lint-only -Wall --top-module cim_top $$(cat files.f) && echo "lint: 0 warnings"

# Yosys synth + check -assert, mapped onto the area-only sky130 Liberty, area by block.
synth: deps $(OUT)/files.f
	$(CIMPOOL) report area --rtl $(OUT) $(if $(LIBERTY),--liberty $(LIBERTY))

# Timing (docs/FLOW.md): the package of TIMING_GEN mapped onto the osu018
# timing Liberty (or LIBERTY=f), fanout buffered, OpenSTA with its own SDC.
# The flat flow takes about 6 minutes and 2 GB for this 2 x 32x32 package;
# the default 8 x 128x128 package is out of its reach.
TIMING_OUT ?= $(BUILD)/timing
TIMING_GEN ?= --macros 2 --rows 32 --cols 32 --pool 16 --wl-parallel 8 --storage blackbox
timing: deps
	$(CIMPOOL) gen --out $(TIMING_OUT) $(TIMING_GEN)
	$(CIMPOOL) report timing --rtl $(TIMING_OUT) $(if $(LIBERTY),--liberty $(LIBERTY)) $(if $(JSON),--json $(JSON))

# Both crossbars per pool size, synthesized next to the pool and error macros.
POOLS ?= 16,32,64,128
xbar-report: deps $(OUT)/files.f
	$(CIMPOOL) report xbar --rtl $(OUT) --pools $(POOLS)

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

# build/venv carries the onnx wheel's model zoo graphs (tests/onnx_exporters.rs).
test: deps $(VENV)/.installed $(TRAIN_VENV)/.installed $(RAY_VENV)/.installed
	cargo test -- --nocapture
	$(MAKE) --no-print-directory fuzz

# Fuzzing (docs/VERIFICATION.md section 10): every parser of outside input
# under libFuzzer for FUZZ_SECONDS each (make test runs this bounded pass);
# a crash stops the run with the input in build/fuzz/crashes/. The
# instrumentation flags are cargo-fuzz's, without its nightly-only address
# sanitizer; --target keeps them off build scripts.
FUZZ_SECONDS ?= 10
FUZZ_SEED    ?= 1
FUZZ_TARGETS ?= config model npy npz safetensors onnx idx images space constants
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TRIPLE  := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_BIN     := $(FUZZ_DIR)/target/$(FUZZ_TRIPLE)/release/cimpool-fuzz
FUZZ_FLAGS   := --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares
fuzz:
	cd fuzz && RUSTFLAGS="$(FUZZ_FLAGS)" cargo build --release --quiet --target $(FUZZ_TRIPLE) --target-dir ../$(FUZZ_DIR)/target
	rm -rf $(FUZZ_DIR)/images
	$(CIMPOOL) compress --weights $(DIGITS)/mlp.npz --model $(DIGITS)/model.toml --config $(DIGITS)/hw.toml \
		--calib $(DIGITS)/calib.npz --out $(FUZZ_DIR)/images > /dev/null
	FUZZ_SEED=$(FUZZ_SEED) tools/fuzz.sh $(FUZZ_BIN) $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_DIR)/images $(FUZZ_TARGETS)

bench: deps
	cargo bench --bench golden
	cargo run --release --example golden_networks -- resnet18-cifar 16
	cargo run --release --example golden_networks -- resnet-fmnist 256
	cargo run --release --example cosim_speed

synth-full:
	$(MAKE) synth OUT=$(BUILD)/full GEN_ARGS="--macros 8"

lint-full:
	$(MAKE) lint OUT=$(BUILD)/full GEN_ARGS="--macros 8"

cosim-full:
	$(MAKE) cosim OUT=$(BUILD)/full GEN_ARGS="--macros 8" VECTORS=200

clean:
	rm -rf $(BUILD) $(OUT)/*.v $(OUT)/files.f $(OUT)/cim_*

# A digits network (NET = mlp or cnn) at keep ratio KEEP, a preset of
# `make train`: the post-training images; training against that pool in
# float arithmetic (EPOCHS_<NET> epochs, Adam at a constant 1e-3, batch
# 32, seed TRAIN_SEED: the recipe of the earlier tools/finetune_digits.py); the
# activation scales calibrated on those weights (DIGITS_INT_EPOCHS more
# epochs on the integer path, default 0: 5 cost the CNN at keep 0.5 five
# test images on this small data set); the images made from the weights
# and their golden accuracy, which must equal training's. Outputs in
# build/digits-<NET>-keep<KEEP>. fixtures/digits/pool.npy and
# mlp_finetuned.npz are its pool and trained weights for NET=mlp KEEP=0.5.
KEEP    ?= 0.5
NET     ?= mlp
EPOCHS_mlp := 60
EPOCHS_cnn := 40
MODEL_mlp  := model.toml
MODEL_cnn  := cnn.toml
DIGITS_INT_EPOCHS ?= 0
DIGITS  := fixtures/digits
FT      := $(abspath $(BUILD))/digits-$(NET)-keep$(KEEP)$(if $(filter-out 0,$(TRAIN_SEED)),-seed$(TRAIN_SEED))
# What every digits preset gives `make train`: weights, description, data, recipe.
DIGITS_TRAIN = WEIGHTS=$(DIGITS)/$(NET).npz MODEL=$(DIGITS)/$(MODEL_$(NET)) TRAIN=$(DIGITS)/train.npz \
	TEST=$(DIGITS)/test.npz CALIB=$(DIGITS)/calib.npz FLOAT_EPOCHS=$(EPOCHS_$(NET)) FLOAT_LR=1e-3 \
	FLOAT_SCHEDULE=constant EPOCHS=$(DIGITS_INT_EPOCHS) BATCH=32 TRAIN_FLAGS= TRAIN_SEED=$(TRAIN_SEED) MORPH=
finetune: $(TRAIN_VENV)/.installed
	@$(MAKE) --no-print-directory train $(DIGITS_TRAIN) HW="--config $(DIGITS)/hw.toml" KEEP=$(KEEP) TR_OUT=$(FT)

# The dense engine (MARS flow) on a digits network, a preset of `make
# train` with the same recipe: WBITS-bit weights, SPARSITY of the phase
# blocks (W = 16 rows) pruned and skipped; post-training images,
# quantization-aware training through the same projection, the trained
# images, golden accuracy. Outputs in build/digits-dense-<NET>-w<WBITS>-s<SPARSITY>.
WBITS    ?= 4
SPARSITY ?= 0.5
DFT      := $(abspath $(BUILD))/digits-dense-$(NET)-w$(WBITS)-s$(SPARSITY)$(if $(filter-out 0,$(TRAIN_SEED)),-seed$(TRAIN_SEED))
DENSE_HW := --engine dense --w-bits $(WBITS) --sparsity $(SPARSITY) --set wl_parallel=16 --set sparsity=skip
finetune-dense: $(TRAIN_VENV)/.installed
	@$(MAKE) --no-print-directory train $(DIGITS_TRAIN) HW="--config $(DIGITS)/hw.toml $(DENSE_HW)" TR_OUT=$(DFT)

# Fashion-MNIST (docs/COMPRESSION.md): for each network, float training
# (tools/fmnist.py, JAX), then for each keep ratio the post-training images
# and their golden accuracy, and fine-tuning against that pool as a preset
# of `make train` (the recipe of the earlier `fmnist.py finetune`: float
# arithmetic, Adam with cosine decay from 1e-3, batch 128, 30 epochs for
# the MLP and 15 for the ResNet, seed 0, the network BatchNorm folded, the
# CNNs' channels trained as gain times direction, FT_FLAGS_<net>), the
# fine-tuned images and their golden accuracy on all 10,000 test images,
# equal to training's. Steps whose output exists are skipped; the table is
# printed at the end. A variant of the recipe (FT_FLAGS_<net>="CHANNEL_GAIN=1
# DISTILL=0.7", FT_EPOCHS_<net>=30) trains into its own folder with
# FT_SUFFIX: ft-<keep><FT_SUFFIX>, e.g. FT_SUFFIX=-distill. FMNIST_HW adds
# compress options to the fine-tuned rows' hardware (with an FT_SUFFIX),
# e.g. FMNIST_HW="--host-layers conv1,fc" for the first and last layers on
# the host. FT_INT_EPOCHS=n adds a second stage to the fine-tuned rows
# (make train's EPOCHS: the exact integer path, with the activation scales
# calibrated again on the float stage's weights) and FT_INT_FLAGS its
# adc_train.py flags (make train's TRAIN_FLAGS, e.g. "--lr 1e-4"); with an
# FT_SUFFIX, as FMNIST_HW.
FMNIST_DATA  ?= /usr/share/datasets/fashion-mnist
FT_SUFFIX    ?=
FMNIST_HW    ?=
FT_INT_EPOCHS ?= 0
FT_INT_FLAGS ?=
FMNIST_NETS  ?= mlp resnet
FMNIST_KEEPS ?= 0.3 0.5 0.75 1
FM          := $(abspath $(BUILD))/fmnist
FT_EPOCHS_mlp    := 30
FT_EPOCHS_resnet := 15
FT_EPOCHS_resnet20 := 15
# The CNNs' folded BatchNorm leaves channels at very different scales:
# their fine-tuning trains each channel as a gain times a direction
# (CHANNEL_GAIN, as the earlier script trained BatchNorm's scale unfolded).
FT_FLAGS_mlp      :=
FT_FLAGS_resnet   := CHANNEL_GAIN=1
FT_FLAGS_resnet20 := CHANNEL_GAIN=1
# Float training epochs (tools/fmnist.py train: Adam, cosine decay from 1e-3, batch 128, seed 0).
FLOAT_EPOCHS_mlp      := 20
FLOAT_EPOCHS_resnet   := 10
FLOAT_EPOCHS_resnet20 := 15
# What every Fashion-MNIST preset gives `make train` besides the network and
# the hardware.
FMNIST_TRAIN = TRAIN=$(FMNIST_DATA)/train-images-idx3-ubyte.gz TEST=$(FMNIST_DATA)/t10k-images-idx3-ubyte.gz \
	CALIB=fixtures/fmnist/calib.npz FLOAT_LR=1e-3 FLOAT_SCHEDULE=cosine EPOCHS=$(FT_INT_EPOCHS) BATCH=128 TRAIN_SEED=0 TRAIN_FLAGS="$(FT_INT_FLAGS)" MORPH=

# Checked before anything runs (float training included): FMNIST_HW changes
# the hardware, FT_INT_EPOCHS and FT_INT_FLAGS the recipe, so their rows
# need their own folder.
ifneq ($(filter fmnist fmnist-dense,$(MAKECMDGOALS)),)
ifneq ($(FMNIST_HW)$(filter-out 0,$(FT_INT_EPOCHS))$(FT_INT_FLAGS),)
ifeq ($(FT_SUFFIX),)
$(error FMNIST_HW, FT_INT_EPOCHS and FT_INT_FLAGS change the fine-tuned rows' hardware or recipe; give them their own folder with FT_SUFFIX (e.g. FT_SUFFIX=-host))
endif
endif
ifneq ($(FT_INT_FLAGS),)
ifeq ($(filter-out 0,$(FT_INT_EPOCHS)),)
$(error FT_INT_FLAGS="$(FT_INT_FLAGS)" are the integer stage's flags, which runs only with FT_INT_EPOCHS=n (n >= 1))
endif
endif
endif

fmnist-data:
	@[ -f $(FMNIST_DATA)/t10k-images-idx3-ubyte.gz ] || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || \
		{ echo "could not install dataset-fashion-mnist: install it by hand or set FMNIST_DATA"; exit 1; }

# Float weights of FMNIST_NETS (build/fmnist/<net>/float.npz, the log in
# train.log). Training writes a checkpoint (float.ckpt) every 50 steps and
# at each epoch's end, and resumes from it: an interrupted run continues
# where it stopped, with the same batches and updates. ResNet-20 takes
# about 1.5-3.5 hours on 2 cores, the residual CNN 25-60 minutes: their
# trained weights are committed (fixtures/fmnist/resnet20_float.npz,
# resnet_float.npz) and copied instead when present (move one aside to
# train that network again; seed 0 repeats it).
fmnist-float: SHELL := /bin/bash
fmnist-float: fmnist-data $(TRAIN_VENV)/.installed
	cargo build --release --quiet
	@mkdir -p $(FM)
	$(CIMPOOL) model resnet-fmnist > $(FM)/resnet.toml
	$(CIMPOOL) model resnet20-fmnist > $(FM)/resnet20.toml
	cp fixtures/fmnist/mlp.toml $(FM)/mlp.toml
	@set -eo pipefail; for net in $(FMNIST_NETS); do \
		d=$(FM)/$$net; mkdir -p $$d; [ -f $$d/float.npz ] && continue; \
		if [ -f fixtures/fmnist/$${net}_float.npz ]; then cp fixtures/fmnist/$${net}_float.npz $$d/float.npz; echo "$$d/float.npz: the committed fixtures/fmnist/$${net}_float.npz"; continue; fi; \
		eval epochs=\$$FLOAT_EPOCHS_$$net; \
		(cd tools && $(TRAIN_PY) fmnist.py train --net $$net --epochs $$epochs --data $(FMNIST_DATA) \
			--checkpoint $$d/float.ckpt --out $$d/float.npz) | tee -a $$d/train.log; \
	done
export FLOAT_EPOCHS_mlp FLOAT_EPOCHS_resnet FLOAT_EPOCHS_resnet20 FT_EPOCHS_mlp FT_EPOCHS_resnet FT_EPOCHS_resnet20 FT_FLAGS_mlp FT_FLAGS_resnet FT_FLAGS_resnet20

fmnist: SHELL := /bin/bash
fmnist: fmnist-float
	@set -eo pipefail; T=$(FMNIST_DATA)/t10k-images-idx3-ubyte.gz; \
	for net in $(FMNIST_NETS); do \
		d=$(FM)/$$net; eval ft_epochs=\$$FT_EPOCHS_$$net; eval ft_flags=\$$FT_FLAGS_$$net; \
		args="--model $(FM)/$$net.toml --config fixtures/fmnist/hw.toml --calib fixtures/fmnist/calib.npz --eval $$T"; \
		for k in $(FMNIST_KEEPS); do \
			[ -f $$d/pt-$$k/run.log ] || { $(CIMPOOL) compress --weights $$d/float.npz $$args --keep $$k --out $$d/pt-$$k && \
				$(CIMPOOL) run --images $$d/pt-$$k --data $$T | tee $$d/pt-$$k/run.log; }; \
			ft=$$d/ft-$$k$(FT_SUFFIX); \
			[ -f $$ft/golden.log ] || $(MAKE) --no-print-directory train $(FMNIST_TRAIN) WEIGHTS=$$d/float.npz \
				MODEL=$(FM)/$$net.toml HW="$(strip --config fixtures/fmnist/hw.toml $(FMNIST_HW))" KEEP=$$k FLOAT_EPOCHS=$$ft_epochs $$ft_flags \
				TR_OUT=$$ft | tee $$ft.log; \
		done; \
	done
	cd tools && $(TRAIN_PY) fmnist.py table --out $(FM) --nets $(FMNIST_NETS) --keeps $(FMNIST_KEEPS) --suffix="$(FT_SUFFIX)"

# The dense engine on Fashion-MNIST: for each network of FMNIST_NETS (its
# float weights from `make fmnist-float`, run first), WBITS-bit weights with SPARSITY of the
# phase blocks (W = 16) pruned and skipped, a preset of `make train` with
# the recipe above (and the network's FT_FLAGS: channel gains for the
# CNNs): post-training images, quantization-aware training
# through the same projection, the trained images, golden accuracy on the
# 10,000 test images. Outputs in build/fmnist/<net>/dense-w<WBITS>-s<SPARSITY>
# (a variant's, with FT_FLAGS_<net> and FT_SUFFIX, in ...-s<SPARSITY><FT_SUFFIX>;
# FMNIST_HW adds compress options, e.g. --host-layers conv1,fc).
fmnist-dense: SHELL := /bin/bash
fmnist-dense: fmnist-float
	@set -eo pipefail; \
	for net in $(FMNIST_NETS); do \
		d=$(FM)/$$net; \
		eval ft_epochs=\$$FT_EPOCHS_$$net; eval ft_flags=\$$FT_FLAGS_$$net; \
		$(MAKE) --no-print-directory train $(FMNIST_TRAIN) WEIGHTS=$$d/float.npz MODEL=$(FM)/$$net.toml \
			HW="$(strip --config fixtures/fmnist/hw.toml --engine dense --w-bits $(WBITS) --sparsity $(SPARSITY) --set wl_parallel=16 --set sparsity=skip $(FMNIST_HW))" \
			KEEP=1.0 FLOAT_EPOCHS=$$ft_epochs $$ft_flags TR_OUT=$$d/dense-w$(WBITS)-s$(SPARSITY)$(FT_SUFFIX) | tee $$d/dense-w$(WBITS)-s$(SPARSITY)$(FT_SUFFIX).log; \
	done

# Pool construction (k-means, 91k vectors of 128, pool 128) vs scikit-learn on the same data.
bench-pool: $(VENV)/.installed
	PYTHON=$(PY) cargo run --release --quiet --example pool_bench -- 10 128

# Training any network compress accepts against the hardware (README "Your
# own network"): ONNX=model.onnx, or WEIGHTS=w.npz with MODEL=desc.toml or
# NETWORK=name; labelled TRAIN and TEST data (.npz with x, y, or IDX
# images); HW: compress's hardware flags (--config, --set, --engine dense
# --w-bits 4 --sparsity 0.5, ...); KEEP: the pool engine's keep ratio.
# MORPH=1 morphs the network first (compress --morph) and trains the
# morphed one. Steps, each checked: post-training images (BatchNorm folded, written
# too), the training forward pass against the golden model on TEST, training
# (tools/adc_train.py: straight-through against the fixed pool or the dense
# quantization and block pruning, learned ADC steps for a lossy ADC), the
# trained images from the weights, pool indices, kept tiles, activation
# scales and ADC steps training used, and their golden accuracy, which
# must equal training's. Everything lands in $(TR_OUT). Both training
# stages write checkpoints there (stage1.ckpt, train.ckpt): run the same
# command again after an interruption and training resumes where it
# stopped, with the batches and updates of an uninterrupted run; they are
# removed when the chain ends, so a finished run trains afresh when run again
# (a resumed stage appends to its log, a fresh one starts it).
ONNX        ?=
WEIGHTS     ?=
MODEL       ?=
NETWORK     ?=
TRAIN       ?=
TEST        ?=
CALIB       ?= $(TRAIN)
INPUT_SCALE ?= 1
HW          ?=
EPOCHS      ?= 10
# FLOAT_EPOCHS: a first stage in float arithmetic against the pool or the
# dense quantization (no activation quantization), then the activation
# scales calibrated on its weights, before the integer path's EPOCHS.
FLOAT_EPOCHS ?= 0
FLOAT_LR    ?= 1e-3
# FLOAT_SCHEDULE: the float stage's learning rate, cosine (decays to 0) or constant.
FLOAT_SCHEDULE ?= cosine
BATCH       ?= 64
# TRAIN_SEED: the training order's seed (both stages).
TRAIN_SEED  ?= 0
TRAIN_FLAGS ?=
# DISTILL=a: both stages distil from the float network (its folded weights,
# pt/folded.npz): weight a of its soft targets in the loss (adc_train.py
# --distill; --distill-temp in TRAIN_FLAGS for the second stage).
DISTILL     ?=
# CHANNEL_GAIN=1: both stages train each output channel as a gain times a
# direction (adc_train.py --channel-gain): every channel moves by the same
# fraction per step, as BatchNorm's scale trained before folding.
CHANNEL_GAIN ?=
# KEEP_FROM=k0 KEEP_RAMP=n (pool engine): a progressive keep ratio in the
# first stage that trains (the float stage if FLOAT_EPOCHS > 0): its first
# epoch keeps k0 of the error tiles, falling linearly to KEEP over n epochs
# (adc_train.py --keep-from / --keep-ramp).
KEEP_FROM   ?=
KEEP_RAMP   ?=
# PRUNE_BY_OUTPUT=1: prune by output effect (compress --prune-by-output):
# the first compression writes the input moments (pt/moments.npz), the
# later ones and training weigh by them.
PRUNE_BY_OUTPUT ?=
# CLIP=1: the first compression clips each layer's outlying weights
# (compress --clip-weights) and training starts from the clipped network.
CLIP        ?=
# TRAIN_HOST=1: the host layers (--host-layers in HW) train too, quantized
# as compress quantizes them (adc_train.py --train-host); without it they
# keep the first compression's weights.
TRAIN_HOST  ?=
# TRAIN_POOL=1 (pool engine): learn the pool's signs too (adc_train.py
# --train-pool); the trained images use the trained pool ($(TR_OUT)/pool.npy).
TRAIN_POOL  ?=
TR_NAME     := $(basename $(notdir $(or $(ONNX),$(WEIGHTS),none)))
TR_OUT      ?= $(abspath $(BUILD))/train-$(TR_NAME)$(if $(MORPH),-morph)
TR_SRC      := $(if $(ONNX),--onnx $(ONNX),--weights $(WEIGHTS) $(if $(MODEL),--model $(MODEL)) $(if $(NETWORK),--network $(NETWORK))) --input-scale $(INPUT_SCALE)
TR_HW       := --calib $(CALIB) $(HW)
train: SHELL := /bin/bash
train: $(TRAIN_VENV)/.installed
	@[ -n "$(ONNX)$(WEIGHTS)" ] || { echo "make train: give ONNX=model.onnx, or WEIGHTS=w.npz with MODEL=desc.toml or NETWORK=name"; exit 2; }
	@[ -n "$(TRAIN)" ] && [ -n "$(TEST)" ] || { echo "make train: give TRAIN=train.npz and TEST=test.npz (labelled: x, y)"; exit 2; }
	@[ -z "$(KEEP_FROM)$(KEEP_RAMP)" ] || { [ -n "$(KEEP_FROM)" ] && [ -n "$(KEEP_RAMP)" ]; } || { echo "make train: KEEP_FROM (the first epoch's keep ratio) and KEEP_RAMP (the epochs it falls over) go together"; exit 2; }
	@[ -z "$(TRAIN_HOST)" ] || [ -n "$(findstring --host-layers,$(HW))" ] || { echo "make train: TRAIN_HOST=1 trains the host layers: put some there with HW=\"--host-layers a,b\""; exit 2; }
	@[ -z "$(TRAIN_POOL)" ] || [ -z "$(findstring --pool,$(HW))" ] || { echo "make train: TRAIN_POOL=1 trains the pool compress builds; drop --pool from HW"; exit 2; }
	cargo build --release --quiet
	@set -eo pipefail; O=$(TR_OUT); mkdir -p $$O; \
	for s in stage1 train; do [ -f $$O/$$s.ckpt ] || rm -f $$O/$$s.log; done; \
	$(CIMPOOL) compress $(TR_SRC) $(TR_HW) --keep $(KEEP) $(if $(MORPH),--morph,--write-folded) $(if $(CLIP),--clip-weights) $(if $(PRUNE_BY_OUTPUT),--prune-by-output) --eval $(TEST) --out $$O/pt --force \
		| grep -v "^|" | grep -v "^$$" | tee $$O/pt-compress.log; \
	$(CIMPOOL) run --images $$O/pt --data $(TEST) | tee $$O/pt.log; \
	DENSE=$$(grep -c '^engine = "dense"' $$O/pt/cim_config.toml || true); \
	POOL=$$([ "$$DENSE" = 1 ] || echo "--pool $$O/pt/pool.npy"); \
	CPOOL=$$([ -n "$(findstring --pool,$(HW))" ] || echo "$$POOL"); \
	CHOICES=$$([ "$$DENSE" = 1 ] || echo "--choices $$O/choices.npz"); \
	S=$$O/pt; F=$(if $(MORPH),morphed,folded); \
	STAGE_FLAGS="$(if $(DISTILL),--distill $(DISTILL) --teacher $$O/pt/$(if $(MORPH),morphed,folded).npz)$(if $(CHANNEL_GAIN), --channel-gain)$(if $(TRAIN_HOST), --train-host)"; \
	RAMP="$(if $(KEEP_FROM),--keep-from $(KEEP_FROM) --keep-ramp $(KEEP_RAMP))"; RAMP1=$$RAMP; RAMP2=; \
	[ "$(FLOAT_EPOCHS)" != 0 ] || { RAMP1=; RAMP2=$$RAMP; }; \
	if [ "$(FLOAT_EPOCHS)" != 0 ]; then \
		$(CIMPOOL) export --images $$S --out $$S/engine.npz > /dev/null; \
		TPOOL1=$$([ -z "$(TRAIN_POOL)" ] || echo "--train-pool --pool-out $$O/stage1-pool.npy"); \
		$(TRAIN_PY) tools/adc_train.py train --arith float --images $$S --export $$S/engine.npz --weights $$S/$$F.npz $$POOL \
			--keep $(KEEP) --train $(TRAIN) --data $(TEST) --epochs $(FLOAT_EPOCHS) --batch $(BATCH) --lr $(FLOAT_LR) --lr-schedule $(FLOAT_SCHEDULE) --seed $(TRAIN_SEED) --refine-shifts 0 \
			--out $$O/stage1.npz --shifts $$O/stage1-shifts.json --checkpoint $$O/stage1.ckpt $$TPOOL1 $$STAGE_FLAGS $$RAMP1 | tee -a $$O/stage1.log; \
		[ -z "$$TPOOL1" ] || { POOL="--pool $$O/stage1-pool.npy"; CPOOL="$$POOL"; }; \
		$(CIMPOOL) compress --weights $$O/stage1.npz --model $$S/$$F.toml $(TR_HW) --keep $(KEEP) $$CPOOL $(if $(PRUNE_BY_OUTPUT),--moments $$O/pt/moments.npz) --write-folded --out $$O/pt2 --force \
			| grep -v "^|" | grep -v "^$$" | tee $$O/pt2-compress.log; \
		S=$$O/pt2; F=folded; \
	fi; \
	$(CIMPOOL) run --images $$S --data $(TEST) --outputs $$S/golden.npy | tee $$S.log; \
	$(CIMPOOL) export --images $$S --out $$S/engine.npz > /dev/null; \
	$(TRAIN_PY) tools/adc_train.py check --images $$S --export $$S/engine.npz --data $(TEST) --golden $$S/golden.npy; \
	TPOOL=$$([ -z "$(TRAIN_POOL)" ] || echo "--train-pool --pool-out $$O/pool.npy"); \
	$(TRAIN_PY) tools/adc_train.py train --images $$S --export $$S/engine.npz --weights $$S/$$F.npz $$POOL \
		--keep $(KEEP) --train $(TRAIN) --data $(TEST) --epochs $(EPOCHS) --batch $(BATCH) --seed $(TRAIN_SEED) $(TRAIN_FLAGS) $$TPOOL \
		--out $$O/trained.npz --shifts $$O/shifts.json $$CHOICES --report $$O/train.json --checkpoint $$O/train.ckpt $$STAGE_FLAGS $$RAMP2 | tee -a $$O/train.log; \
	[ -z "$$TPOOL" ] || CPOOL="--pool $$O/pool.npy"; \
	$(CIMPOOL) compress --weights $$O/trained.npz --model $$S/$$F.toml $(TR_HW) $$CPOOL $$CHOICES $(if $(PRUNE_BY_OUTPUT),--moments $$O/pt/moments.npz) \
		$$([ "$$DENSE" = 1 ] && echo "--keep $(KEEP)") --scales-from $$S --adc-shifts $$O/shifts.json --out $$O/images --force \
		| grep -v "^|" | grep -v "^$$" > $$O/images-compress.log; \
	$(CIMPOOL) run --images $$O/images --data $(TEST) --json $$O/golden.json | tee $$O/golden.log; \
	$(TRAIN_PY) tools/adc_train.py same --report $$O/train.json --golden $$O/golden.json --images $$O/images; \
	rm -f $$O/stage1.ckpt $$O/train.ckpt

# Training speed: images per second of one training step of the float
# network alone, of the float stage against the hardware and of the
# integer stage (exact integer path), side by side on the same batches in
# one run (adc_train.py bench; each step as an epoch runs it, the
# projection included), for the digits MLP and CNN (batch 32) and the
# Fashion-MNIST residual CNN (its fine-tuned fixture, folded; batch 128),
# all at keep 0.5. At least BENCH_STEPS timed steps and 2 s each, after those that compile.
# Results: $(TB)/<net>.json.
BENCH_STEPS ?= 20
TB := $(abspath $(BUILD))/train-bench
train-bench: SHELL := /bin/bash
train-bench: fmnist-data $(TRAIN_VENV)/.installed $(FM)/resnet-ft-folded/folded.npz
	cargo build --release --quiet
	@set -eo pipefail; mkdir -p $(TB); \
	bench() { o=$(TB)/$$1; \
		$(CIMPOOL) compress --weights $$2 --model $$3 --config $$4/hw.toml $$7 --calib $$4/calib.npz --keep 0.5 --write-folded --out $$o --force > /dev/null; \
		$(CIMPOOL) export --images $$o --out $$o/engine.npz > /dev/null; \
		echo "== $$1"; \
		$(TRAIN_PY) tools/adc_train.py bench --images $$o --export $$o/engine.npz --weights $$o/folded.npz --pool $$o/pool.npy --keep 0.5 \
			--train $$5 --data $$5 --batch $$6 --bench-steps $(BENCH_STEPS) --report $(TB)/$$1.json; }; \
	bench digits-mlp $(DIGITS)/mlp.npz $(DIGITS)/model.toml $(DIGITS) $(DIGITS)/train.npz 32 ""; \
	bench digits-cnn $(DIGITS)/cnn.npz $(DIGITS)/cnn.toml $(DIGITS) $(DIGITS)/train.npz 32 ""; \
	bench fmnist-resnet $(FM)/resnet-ft-folded/folded.npz $(FM)/resnet-ft-folded/folded.toml fixtures/fmnist \
		$(FMNIST_DATA)/train-images-idx3-ubyte.gz 128 "--pool fixtures/fmnist/pool.npy"

# ADC-aware training (Lin & Chang stage 2) of a network (NET) for a
# lossy ADC of ADC_BITS bits on WL word lines per phase (rows = WL), a
# preset of `make train`: the images with fixed ADC steps (fixed.log, for
# comparison), then `make train`: the post-training images (calibrated ADC
# steps), the check that tools/adc_train.py's forward pass reproduces the
# golden model exactly, training through the exact partial sums with
# learned power-of-two ADC steps, the trained images (same pool, same
# activation scales, the learned steps and training's pool choices) and
# their golden accuracy (golden.log), which equals the training tool's.
ADC_BITS ?= 4
WL       ?= 64
# NET=fmnist-resnet-ft starts from weights fine-tuned at keep 0.5,
# NET=fmnist-resnet20-ft from weights fine-tuned at keep 0.35.
AT_FT    := $(filter fmnist-resnet-ft fmnist-resnet20-ft,$(NET))
AT_R20   := $(filter fmnist-resnet20-ft,$(NET))
ATKEEP   ?= $(if $(AT_R20),0.35,$(if $(AT_FT),0.5,1.0))
# The fine-tuned fixture's pool (vectors of 64 word lines).
AT_POOL  := $(abspath fixtures/fmnist/$(if $(AT_R20),resnet20_pool,pool).npy)
AT_EPOCHS ?= 30
# MORPH=1: morph the network first (compress --morph, Lin & Chang stage 1)
# and train the morphed network.
MORPH    ?=
# AT_SAMPLES=n: train on a seeded random n of the training samples.
AT_SAMPLES ?=
# AT_FLAGS: more options for adc_train.py train (e.g. --step-lr 0.01 --lr 1e-3).
AT_FLAGS ?=
# NET=fmnist-mlp: the Fashion-MNIST MLP (float weights from make fmnist).
# NET=fmnist-resnet: the residual CNN (make fmnist FMNIST_NETS=resnet),
# BatchNorm folded first, as the training tool takes it.
# NET=fmnist-resnet-ft: the residual CNN already fine-tuned against its pool
# at keep 0.5 (stage 1; fixtures/fmnist/resnet_finetuned.npz and pool.npy,
# so W = 64), folded; stage 2 then trains for the ADC from there.
# NET=fmnist-resnet20-ft: ResNet-20 fine-tuned at keep 0.35 as folded
# weights (the committed fixture of the 89.00% row: resnet20_finetuned.npz
# with resnet20_folded.toml and resnet20_pool.npy, so W = 64; tile choices
# made again by the first compression, not pinned).
AT_FOLDED := $(if $(AT_FT),$(FM)/resnet-ft-folded,$(FM)/resnet/folded)
ifneq ($(filter fmnist-mlp fmnist-resnet fmnist-resnet-ft fmnist-resnet20-ft,$(NET)),)
AT_W0    := $(if $(filter fmnist-mlp,$(NET)),$(FM)/mlp/float.npz,$(if $(AT_R20),$(abspath fixtures/fmnist/resnet20_finetuned.npz),$(AT_FOLDED)/folded.npz))
AT_M0    := $(if $(filter fmnist-mlp,$(NET)),$(abspath fixtures/fmnist/mlp.toml),$(if $(AT_R20),$(abspath fixtures/fmnist/resnet20_folded.toml),$(AT_FOLDED)/folded.toml))
AT_DIR   := $(abspath fixtures/fmnist)
AT_TRAIN := $(FMNIST_DATA)/train-images-idx3-ubyte.gz
AT_TEST  := $(FMNIST_DATA)/t10k-images-idx3-ubyte.gz
AT_BATCH := 128
else
AT_W0    := $(DIGITS)/$(NET).npz
AT_M0    := $(DIGITS)/$(MODEL_$(NET))
AT_DIR   := $(DIGITS)
AT_TRAIN := $(DIGITS)/train.npz
AT_TEST  := $(DIGITS)/test.npz
AT_BATCH := 32
endif
# AT_TAG: a suffix for the output folder, to keep runs with other AT_FLAGS apart.
AT_TAG   ?=
# ADC_MODE: floor_clamp (the hardware file's), round_clamp or round_even_clamp.
ADC_MODE ?=
AT       := $(abspath $(BUILD))/adc-$(NET)-w$(WL)-b$(ADC_BITS)-k$(ATKEEP)$(if $(ADC_MODE),-$(ADC_MODE))$(if $(MORPH),-morph)$(if $(AT_TAG),-$(AT_TAG))
AT_HW    := --config $(AT_DIR)/hw.toml --set rows=$(WL) --set wl_parallel=$(WL) --set adc_bits=$(ADC_BITS) \
	$(if $(ADC_MODE),--set adc_mode=$(ADC_MODE)) \
	$(if $(AT_FT),--pool $(AT_POOL))
adc-train: SHELL := /bin/bash
adc-train: $(TRAIN_VENV)/.installed $(if $(filter fmnist-%,$(NET)),fmnist-data) $(if $(filter fmnist-resnet fmnist-resnet-ft,$(NET)),$(AT_FOLDED)/folded.npz)
	@[ -z "$(AT_FT)" ] || [ "$(WL)" = 64 ] || { echo "NET=$(NET): WL=$(WL), but its pool ($(AT_POOL)) holds vectors of 64 word lines: WL must be 64"; exit 2; }
	cargo build --release --quiet
	@set -eo pipefail; mkdir -p $(AT); \
	$(CIMPOOL) compress --weights $(AT_W0) --model $(AT_M0) $(AT_HW) --calib $(AT_DIR)/calib.npz --keep $(ATKEEP) \
		$(if $(MORPH),--morph) --fixed-adc-step --out $(AT)/fixed --force > /dev/null; \
	$(CIMPOOL) run --images $(AT)/fixed --data $(AT_TEST) | tee $(AT)/fixed.log
	@$(MAKE) --no-print-directory train WEIGHTS=$(AT_W0) MODEL=$(AT_M0) TRAIN=$(AT_TRAIN) TEST=$(AT_TEST) \
		CALIB=$(AT_DIR)/calib.npz HW="$(strip $(AT_HW))" KEEP=$(ATKEEP) EPOCHS=$(AT_EPOCHS) BATCH=$(AT_BATCH) \
		FLOAT_EPOCHS=0 TRAIN_FLAGS="$(strip $(if $(AT_SAMPLES),--train-samples $(AT_SAMPLES)) $(AT_FLAGS))" \
		MORPH=$(MORPH) TR_OUT=$(AT)

# The three ADC modes on the same steps, post-training (docs/COMPRESSION.md,
# "The ADC's rounding"): the Fashion-MNIST MLP (float weights from make
# fmnist-float) on W = 64 at 5, 4 and 3 bits, with shift 1 in every layer
# and with the generation-time step; golden accuracy on the 10,000 test images.
ADC_MODES_OUT := $(abspath $(BUILD))/adc-modes
adc-modes: SHELL := /bin/bash
adc-modes: fmnist-data
	@[ -f $(FM)/mlp/float.npz ] || { echo "no $(FM)/mlp/float.npz: run make fmnist-float FMNIST_NETS=mlp first"; exit 1; }
	cargo build --release --quiet
	@set -eo pipefail; mkdir -p $(ADC_MODES_OUT); O=$(ADC_MODES_OUT); T=$(FMNIST_DATA)/t10k-images-idx3-ubyte.gz; \
	echo '{"fc1": 1, "fc2": 1, "fc3": 1}' > $$O/shift1.json; \
	echo "| B | step | floor_clamp | round_clamp | round_even_clamp |"; echo "|---:|---|---:|---:|---:|"; \
	for steps in shift1 fixed; do for b in 5 4 3; do row="| $$b | $$steps |"; \
		for mode in floor_clamp round_clamp round_even_clamp; do d=$$O/b$$b-$$steps-$$mode; \
			[ -f $$d.log ] || { $(CIMPOOL) compress --weights $(FM)/mlp/float.npz --model fixtures/fmnist/mlp.toml --keep 1.0 \
				--config fixtures/fmnist/hw.toml --set rows=64 --set wl_parallel=64 --set adc_bits=$$b --set adc_mode=$$mode \
				--calib fixtures/fmnist/calib.npz $$([ $$steps = fixed ] && echo --fixed-adc-step || echo --adc-shifts $$O/shift1.json) \
				--out $$d --force > /dev/null && $(CIMPOOL) run --images $$d --data $$T > $$d.log; }; \
			row="$$row $$(grep -o '[0-9.]*%' $$d.log | head -1) |"; \
		done; echo "$$row"; \
	done; done

# The residual CNN's weights ($<) with BatchNorm folded, in the target's folder.
FOLD_RESNET = $(CIMPOOL) compress --network resnet-fmnist --weights $< --config fixtures/fmnist/hw.toml \
	--calib fixtures/fmnist/calib.npz --write-folded --out $(@D) > /dev/null
$(FM)/resnet/folded/folded.npz: $(FM)/resnet/float.npz
	$(FOLD_RESNET)
$(FM)/resnet-ft-folded/folded.npz: fixtures/fmnist/resnet_finetuned.npz
	$(FOLD_RESNET)

$(FM)/resnet/float.npz:
	@echo "no $@: run make fmnist FMNIST_NETS=resnet first"; exit 1

# The table of docs/COMPRESSION.md: make adc-train over networks, word lines
# per phase and ADC bits (0 = exact read-out, trained through the pool only).
ADC_NETS ?= mlp cnn
ADC_WLS  ?= 64 128 256
ADC_BITSET ?= 0 3 4 5
adc-table: $(TRAIN_VENV)/.installed
	@for net in $(ADC_NETS); do for wl in $(ADC_WLS); do for b in $(ADC_BITSET); do \
		[ "$$net/$$wl" = cnn/256 ] && continue; \
		[ -f $(BUILD)/adc-$$net-w$$wl-b$$b-k1.0/golden.log ] || $(MAKE) --no-print-directory adc-train NET=$$net WL=$$wl ADC_BITS=$$b > /dev/null || exit 1; \
	done; done; done
	cd tools && $(TRAIN_PY) adc_train.py table --build $(abspath $(BUILD)) --nets $(ADC_NETS) --wls $(ADC_WLS) --bits $(ADC_BITSET)

# The comparisons of docs/ESTIMATE.md (closed-form model; seconds).
EST := cargo run --release --quiet -- estimate
EST_CFG := examples/estimate
EST_OUT := $(BUILD)/estimate-tables
estimate-tables:
	@mkdir -p $(EST_OUT)
	@echo "== 1-3: ResNet-18 on chip and with DRAM, pool at ~0.5 bit per weight vs 4- and 8-bit dense"
	$(EST) --network resnet18 --config $(EST_CFG)/pool.toml --config $(EST_CFG)/dense4.toml \
		--config $(EST_CFG)/dense8.toml --keep 0.45 --plot docs/estimate_resnet18.svg --json $(EST_OUT)/resnet18.json
	@echo "== 6: sensitivity of the headline"
	$(EST) --network resnet18 --config $(EST_CFG)/pool.toml --config $(EST_CFG)/dense4.toml --keep 0.45 \
		--sensitivity --json $(EST_OUT)/sensitivity.json
	@echo "== 7: dense baselines (tree per weight; 5-bit ADC per 8 columns) and the batched schedule (batch 1, 8)"
	$(EST) --network resnet18 --config $(EST_CFG)/pool.toml --config $(EST_CFG)/dense4.toml --keep 0.45 \
		--constants $(EST_CFG)/zigzag-dimc.toml | grep -E "\*\*area on chip|\*\*one engine \+ DRAM"
	$(EST) --network resnet18 --config $(EST_CFG)/pool.toml --config $(EST_CFG)/dense4.toml --keep 0.45 \
		--set adc_bits=5 --constants $(EST_CFG)/neurosim-adc.toml | grep -E "\*\*area on chip|\*\*one engine \+ DRAM"
	@for b in 1 8; do $(EST) --network resnet18 --config $(EST_CFG)/pool.toml --config $(EST_CFG)/dense4.toml \
		--keep 0.45 --batch $$b | sed -n '/once per batch/,$$p'; done
	@echo "== 2: iso-accuracy, the Fashion-MNIST MLP (pool keep 0.5 vs dense 4-bit, half the blocks pruned)"
	$(EST) --model $(EST_CFG)/fmnist-mlp.toml --config fixtures/fmnist/hw.toml --config $(EST_CFG)/fmnist-dense4.toml \
		--keep 0.5 --sparsity 0.5 | grep -E "bits per weight|weights per mm"
	@echo "== 4: the compressed networks of this repository"
	$(eval D := fixtures/digits)
	$(eval F := fixtures/fmnist)
	cargo run --release --quiet -- compress --weights $(D)/mlp.npz --model $(D)/model.toml --config $(D)/hw.toml --calib $(D)/calib.npz --keep 1 --out $(EST_OUT)/digits-mlp-keep1 > /dev/null
	cargo run --release --quiet -- compress --weights $(D)/mlp.npz --model $(D)/model.toml --config $(D)/hw.toml --calib $(D)/calib.npz --keep 0.5 --out $(EST_OUT)/digits-mlp-keep0.5 > /dev/null
	cargo run --release --quiet -- compress --weights $(D)/cnn.npz --model $(D)/cnn.toml --config $(D)/hw.toml --calib $(D)/calib.npz --keep 0.5 --out $(EST_OUT)/digits-cnn-keep0.5 > /dev/null
	cargo run --release --quiet -- compress --weights $(D)/cnn.npz --model $(D)/cnn.toml --config $(D)/hw.toml --calib $(D)/calib.npz --keep 0.5 --morph --out $(EST_OUT)/digits-cnn-morph-keep0.5 > /dev/null
	cargo run --release --quiet -- compress --weights $(D)/mlp.npz --model $(D)/model.toml --config $(D)/hw.toml --set engine=dense --set w_bits=4 --set wl_parallel=16 --set sparsity=skip --sparsity 0.5 --calib $(D)/calib.npz --out $(EST_OUT)/digits-mlp-dense4-sparsity0.5 > /dev/null
	cargo run --release --quiet -- compress --network resnet-fmnist --weights $(F)/resnet_finetuned.npz --config $(F)/hw.toml --calib $(F)/calib.npz --keep 0.5 --out $(EST_OUT)/fmnist-resnet-keep0.5 > /dev/null
	$(EST) $(foreach n,digits-mlp-keep1 digits-mlp-keep0.5 digits-cnn-keep0.5 digits-cnn-morph-keep0.5 digits-mlp-dense4-sparsity0.5 fmnist-resnet-keep0.5,--images $(EST_OUT)/$(n)) \
		--json $(EST_OUT)/compressed.json | sed -n '1,12p'
	@echo "== 5: cycles per inference vs block sparsity, ResNet-18 (CIFAR) on the 4-bit dense engine, W = 16"
	@for mode in none skip compact; do for s in 0 0.25 0.5 0.75; do \
		[ $$mode = none ] && [ $$s != 0 ] && continue; \
		[ $$mode = compact ] && [ $$s = 0 -o $$s = 0.25 ] && continue; \
		$(EST) --network resnet18-cifar --config $(EST_CFG)/dense4.toml --set sparsity=$$mode --set wl_parallel=16 \
			--set slots=$$([ $$mode = compact ] && echo 4 || echo 0) --sparsity $$s | grep -E "cycles per inference|\*\*area on chip" \
			| sed "s/^/$$mode s=$$s /"; \
	done; done

# Design-space sweeps (docs/SWEEP.md): locally on every core, or on Ray.
SPACE ?= examples/sweep/digits.toml
SWEEP_OUT ?= $(BUILD)/sweep-$(basename $(notdir $(SPACE)))
sweep:
	@mkdir -p $(SWEEP_OUT)
	cargo run --release --quiet -- sweep expand $(SPACE) > $(SWEEP_OUT)/points.jsonl
	cargo run --release --quiet -- sweep run $(SWEEP_OUT)/points.jsonl --out $(SWEEP_OUT)/results
	cargo run --release --quiet -- sweep collect $(SWEEP_OUT)/results --plot $(SWEEP_OUT)/pareto.svg \
		--front $(SWEEP_OUT)/front.csv > $(SWEEP_OUT)/table.csv
	@echo "table: $(SWEEP_OUT)/table.csv, front: $(SWEEP_OUT)/front.csv, plot: $(SWEEP_OUT)/pareto.svg"
sweep-ray: $(RAY_VENV)/.installed
	@mkdir -p $(SWEEP_OUT)
	cargo build --release --quiet
	target/release/cimpool sweep expand $(SPACE) > $(SWEEP_OUT)/points.jsonl
	$(RAY_VENV)/bin/python tools/sweep_ray.py $(SWEEP_OUT)/points.jsonl --out $(SWEEP_OUT)/ray-results --cpus $(shell nproc)
	target/release/cimpool sweep collect $(SWEEP_OUT)/ray-results > $(SWEEP_OUT)/ray-table.csv

# Verification at scale: SEEDS random legal configurations (the property
# tests' strategy), each generated, linted (-Wall), synthesized (check
# -assert) and co-simulated; a pass/fail table, and every failing point
# with the command that reproduces it. RAY=1 runs the points on Ray.
SEEDS ?= 10
FIRST_SEED ?= 1

REGRESS_OUT ?= $(BUILD)/regress
regress: deps $(if $(RAY),$(RAY_VENV)/.installed)
	@mkdir -p $(REGRESS_OUT)
	cargo build --release --quiet
	target/release/cimpool sweep regress --seeds $(SEEDS) --first-seed $(FIRST_SEED) --vectors $(VECTORS) $(if $(COVERAGE),--coverage) --draws $(REGRESS_OUT)/draws.md > $(REGRESS_OUT)/points.jsonl
	@echo "what the draw holds ($(REGRESS_OUT)/draws.md):"; cat $(REGRESS_OUT)/draws.md
	$(if $(RAY),$(RAY_VENV)/bin/python tools/sweep_ray.py $(REGRESS_OUT)/points.jsonl --out $(REGRESS_OUT)/results --cpus $(shell nproc),\
		target/release/cimpool sweep run $(REGRESS_OUT)/points.jsonl --out $(REGRESS_OUT)/results)
	target/release/cimpool sweep collect $(REGRESS_OUT)/results > $(REGRESS_OUT)/table.csv
	@echo "table: $(REGRESS_OUT)/table.csv"

# Bounded model checking of the package's protocol assertions (docs/
# VERIFICATION.md section 2): the controller alone by default (SCOPE=top:
# the whole package, minutes beyond small ones); STEPS=n sets the bound.
prove: deps $(OUT)/files.f
	$(CIMPOOL) prove --rtl $(OUT) $(if $(SCOPE),--scope $(SCOPE)) $(if $(STEPS),--steps $(STEPS)) --out $(BUILD)/prove

# Shrinking a failing regression point: SEED's configuration (or
# CONFIG=file.toml) reduced to one that fails the same step while every
# simplification of it passes; build/shrink/minimal.toml.
shrink: deps
	cargo build --release --quiet
	target/release/cimpool sweep shrink $(if $(CONFIG),--config $(CONFIG),--seed $(SEED)) --vectors $(VECTORS) --out $(BUILD)/shrink

# Coverage: the regression on models with line and toggle coverage
# counters, merged per module into build/coverage/coverage.md (what no
# configuration reached or toggled is listed at its end).
coverage:
	$(MAKE) --no-print-directory regress COVERAGE=1 REGRESS_OUT=$(BUILD)/coverage
	target/release/cimpool sweep coverage $(BUILD)/coverage/results > $(BUILD)/coverage/coverage.md
	@echo "coverage: $(BUILD)/coverage/coverage.md"

# The soak: >= 1,000,000 co-simulated input vectors over 50 further random
# configurations (20,000 each), 0 mismatches required.
soak:
	$(MAKE) --no-print-directory regress SEEDS=50 FIRST_SEED=1001 VECTORS=20000 REGRESS_OUT=$(BUILD)/soak
