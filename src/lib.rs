//! cimpool: synthesizable Verilog for SRAM compute-in-memory accelerators
//! with weight-pool compression.
//!
//! Architecture: `config` (one resolved configuration and everything derived
//! from it) -> `gen` (block generators building `ir` modules) -> `ir::check`
//! -> `emit` (Verilog printer) -> `package` (files written for a user), with
//! `flow` (constraints, Yosys / ORFS hand-off, area reports), `golden` (the
//! bit-exact model) and `cosim` (Verilator / Icarus co-simulation).

pub mod benes;
pub mod compress;
pub mod config;
pub mod cosim;
pub mod emit;
pub mod flow;
pub mod gen;
pub mod golden;
pub mod ir;
pub mod loadport;
pub mod package;
