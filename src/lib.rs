//! cimpool: synthesizable Verilog for SRAM compute-in-memory accelerators
//! with weight-pool compression.
//!
//! Architecture: `config` (one resolved configuration and everything derived
//! from it) -> `gen` (block generators building `ir` modules) -> `ir::check`
//! -> `emit` (Verilog printer) -> `package` (files written for a user).

pub mod config;
pub mod cosim;
pub mod emit;
pub mod gen;
pub mod golden;
pub mod ir;
pub mod loadport;
pub mod package;
