//! cimpool: synthesizable Verilog for SRAM compute-in-memory accelerators
//! with weight-pool compression.
//!
//! Architecture: `config` (one resolved configuration, everything derived
//! from it, and the load-port layout) -> `gen` (block generators building
//! `ir` modules behind typed interfaces) -> `ir::check` -> `emit` (Verilog
//! printer) -> `package` (files written for a user), with `flow`
//! (constraints, Yosys / ORFS hand-off, area reports), `golden` (the
//! bit-exact model of docs/SPEC.md), `loadport` (the software view of the
//! ports) and `cosim` (Verilator / Icarus co-simulation).
//!
//! A trained network flows `network` (reading weights, descriptions, ONNX,
//! data sets) -> `compress` (weight pools or dense quantization, scales,
//! morphing) -> `images` (the memory images the hardware loads) -> `run`
//! (inference on the golden model); `pipeline` strings the steps together
//! (with the ADC calibration that needs the golden model) for the CLI, the
//! sweeps and library users. `error` is the one error type at the top:
//! every lower module has its own.

pub mod benes;
pub mod compress;
pub mod config;
pub mod cosim;
pub mod diagnostics;
pub mod emit;
pub mod error;
pub mod estimate;
pub mod flow;
pub mod formal;
pub mod fuzzing;
pub mod gen;
pub mod golden;
pub mod images;
pub mod ir;
pub mod loadport;
pub mod network;
pub mod package;
pub mod pipeline;
pub mod run;
pub mod sweep;
