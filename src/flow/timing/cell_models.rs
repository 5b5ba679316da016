//! Verilog models of Liberty cells, written from the Liberty's own
//! `function`, `ff` and `next_state` attributes, for simulating the timed
//! netlist.
//!
//! Why not the Verilog the cell vendor ships (osu018_stdcells.v): its
//! flip-flops are user-defined primitives that start at X, and gate-level X
//! propagation is pessimistic: a control register that the RTL never resets
//! because its value does not matter (it is loaded before it is read) turns
//! the whole controller X under gates although silicon settles on 0 or 1.
//! These models start every flop at a pseudo-random 0 or 1 instead, as
//! silicon does, so a replay that passes shows no output depends on a
//! register's power-up value (two different salts check two power-ups).

use super::liberty::{Cell, Library};
use std::fmt::Write;

/// A Liberty boolean function as a Verilog expression: `!` -> `~`,
/// `+` / `|` -> `|`, `*` / `&` / juxtaposition -> `&`, `^` stays.
pub fn verilog_expr(function: &str) -> String {
    let mut out = String::new();
    let mut prev_operand = false; // the last token ended an operand
    let chars: Vec<char> = function.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let starts_operand = c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == '!';
        if starts_operand && prev_operand {
            out.push_str(" & ");
        }
        match c {
            '!' => {
                out.push('~');
                prev_operand = false;
            }
            '+' | '|' => {
                out.push_str(" | ");
                prev_operand = false;
            }
            '*' | '&' => {
                out.push_str(" & ");
                prev_operand = false;
            }
            '^' => {
                out.push_str(" ^ ");
                prev_operand = false;
            }
            '(' => {
                out.push('(');
                prev_operand = false;
            }
            ')' => {
                out.push(')');
                prev_operand = true;
            }
            _ => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    out.push(chars[i]);
                    i += 1;
                }
                prev_operand = true;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn model(name: &str, cell: &Cell, salt: u32) -> Result<String, String> {
    let ports: Vec<&String> = cell.pins.keys().collect();
    let mut s = format!(
        "module {name} ({});\n",
        ports
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (p, pin) in &cell.pins {
        let _ = writeln!(
            s,
            "    {} {p};",
            if pin.output { "output" } else { "input" }
        );
    }
    if cell.sequential {
        let ff = cell
            .ff
            .as_ref()
            .filter(|f| !f.asynchronous && !f.next_state.is_empty())
            .ok_or_else(|| {
                format!("cell {name}: only flip-flops without clear/preset are modelled")
            })?;
        let edge = match ff.clocked_on.replace(['(', ')', ' '], "").as_str() {
            c if c.starts_with('!') => format!("negedge {}", &c[1..]),
            c => format!("posedge {c}"),
        };
        let _ = writeln!(s, "    reg {};\n    wire {} = ~{};", ff.iq, ff.iqn, ff.iq);
        let _ = writeln!(s, "    // Power-up: pseudo-random, not X (module comment).");
        let _ = writeln!(s, "    initial {} = $random ^ {salt};", ff.iq);
        let _ = writeln!(
            s,
            "    always @({edge}) {} <= {};",
            ff.iq,
            verilog_expr(&ff.next_state)
        );
    }
    for (p, pin) in cell.pins.iter().filter(|(_, p)| p.output) {
        let f = pin
            .function
            .as_deref()
            .ok_or_else(|| format!("cell {name}: output {p} has no function"))?;
        let _ = writeln!(s, "    assign {p} = {};", verilog_expr(f));
    }
    s.push_str("endmodule\n");
    Ok(s)
}

/// Models of the `used` cells; `salt` (0 or 1) flips every flop's power-up.
pub fn cell_models(lib: &Library, used: &[String], salt: u32) -> Result<String, String> {
    let mut s = String::from(
        "// Functional models of the timing Liberty's cells, written by cimpool from\n\
         // the Liberty's function / ff attributes (src/flow/timing/cell_models.rs).\n",
    );
    for name in used {
        let cell = lib
            .cells
            .get(name)
            .ok_or_else(|| format!("cell {name} is not in the Liberty"))?;
        s.push_str(&model(name, cell, salt & 1)?);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liberty_functions_become_verilog() {
        assert_eq!(verilog_expr("(A B)"), "(A & B)");
        assert_eq!(verilog_expr("(!((A B)+C))"), "(~((A & B) | C))");
        assert_eq!(
            verilog_expr("(!((S A) + (!S B)))"),
            "(~((S & A) | (~S & B)))"
        );
        assert_eq!(verilog_expr("((A^B)^C)"), "((A ^ B) ^ C)");
        assert_eq!(verilog_expr("A*B+!C"), "A & B | ~C");
    }

    #[test]
    fn a_flop_starts_at_a_definite_value_and_clocks_its_next_state() {
        let lib = Library::parse(
            r#"library(x) { cell(DFFPOSX1) { area : 96;
  ff (DS0000,P0002) { next_state : "D"; clocked_on : "CLK"; }
  pin(CLK) { direction : input; clock : true; capacitance : 0.009; }
  pin(D) { direction : input; capacitance : 0.005; }
  pin(Q) { direction : output; function : "DS0000"; } }
  cell(LATCH) { area : 80; latch (DS0000,P0002) { data_in : "D"; enable : "CLK"; }
  pin(CLK) { direction : input; } pin(D) { direction : input; }
  pin(Q) { direction : output; function : "DS0000"; } } }"#,
        );
        let v = cell_models(&lib, &["DFFPOSX1".into()], 1).unwrap();
        assert!(v.contains("initial DS0000 = $random ^ 1;"), "{v}");
        assert!(v.contains("always @(posedge CLK) DS0000 <= D;"), "{v}");
        assert!(v.contains("assign Q = DS0000;"), "{v}");
        assert!(cell_models(&lib, &["LATCH".into()], 0).is_err());
    }
}
