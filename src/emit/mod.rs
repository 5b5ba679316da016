//! Printers from the IR to text.

pub mod verilog;
