//! cimpool: synthesizable Verilog for SRAM compute-in-memory accelerators
//! with weight-pool compression.
//!
//! Architecture: `config` (one resolved configuration, everything derived
//! from it, and the load-port layout) -> `gen` (block generators building
//! `ir` modules behind typed interfaces) -> `ir::check` -> `emit` (Verilog
//! printer) -> `package` (files written for a user), with `flow`
//! (constraints, Yosys / ORFS hand-off, area reports), `golden` (the
//! bit-exact model of docs/SPEC.md), `loadport` (the software view of the
//! ports), `cosim` (Verilator / Icarus co-simulation) and `compress` (weight
//! pools, memory images, golden runs). `error` is the one error type.

pub mod benes;
pub mod compress;
pub mod config;
pub mod cosim;
pub mod emit;
pub mod error;
pub mod estimate;
pub mod flow;
pub mod fuzzing;
pub mod gen;
pub mod golden;
pub mod ir;
pub mod loadport;
pub mod package;
pub mod sweep;
