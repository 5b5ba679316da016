# Builds the verilated model, the Verilator runtime and the C ABI shim into
# one shared library for the Rust co-simulation driver. Run inside the
# verilator -Mdir folder: make -f cosim.mk libcimsim.so
# File lists come from Verilator's own generated makefile (version-proof).
include Vcim_top.mk

libcimsim.so: cim_shim.o $(VK_GLOBAL_OBJS) $(VM_PREFIX)__ALL.a
	$(CXX) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS) $(LIBS) -pthread

cim_shim.o: cim_shim.cpp $(VM_PREFIX).h
	$(CXX) $(CXXFLAGS) $(CPPFLAGS) $(OPT_FAST) -c -o $@ $<
