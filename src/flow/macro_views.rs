//! LEF and Liberty views of a black-box CIM macro, in the style of the
//! "fakeram" macros of OpenROAD-flow-scripts: a sized box with pins on its
//! edges, routing obstructions over it, and a Liberty cell with area, pin
//! directions and simple timing arcs. Good enough for floorplanning and
//! timing-driven placement, not for sign-off.

use crate::config::{Config, Derived};
use crate::ir::{Dir, Module};
use std::fmt::Write;

/// Pin and obstruction layers of a platform's metal stack.
struct Layers {
    pins: &'static str,
    power: &'static str,
    obstruct: &'static [&'static str],
}

fn layers(platform: &str) -> Layers {
    if platform.starts_with("nangate") {
        Layers {
            pins: "metal3",
            power: "metal4",
            obstruct: &["metal1", "metal2", "metal3"],
        }
    } else if platform.starts_with("asap7") {
        Layers {
            pins: "M3",
            power: "M4",
            obstruct: &["M1", "M2", "M3"],
        }
    } else {
        // sky130 and gf180 name their layers met1..met5 / Metal1..: default to sky130.
        Layers {
            pins: "met3",
            power: "met4",
            obstruct: &["li1", "met1", "met2", "met3"],
        }
    }
}

/// One signal pin on the macro boundary.
#[derive(Clone, Debug)]
pub struct PlacedPin {
    pub name: String,
    pub input: bool,
    pub clock: bool,
    /// Lower-left corner and size, micrometres.
    pub rect: (f64, f64, f64, f64),
}

/// Size and pin placement of a black-box macro.
#[derive(Clone, Debug)]
pub struct MacroGeometry {
    pub width: f64,
    pub height: f64,
    /// Area from the configured per-cell and per-read-out-bit areas.
    pub area: f64,
    pub pins: Vec<PlacedPin>,
}

/// Snap to the 5 nm manufacturing grid.
fn grid(x: f64) -> f64 {
    (x / 0.005).round() * 0.005
}

impl MacroGeometry {
    pub fn new(config: &Config, m: &Module) -> MacroGeometry {
        let d = Derived::new(config);
        let width_of = |n: &str| {
            m.ports
                .iter()
                .find(|p| p.name == n)
                .map(|p| p.ty.width)
                .unwrap_or(0)
        };
        let rows = width_of("wr_data");
        let cols = width_of("read_out") / d.col_sum_bits;
        let area = rows as f64 * cols as f64 * config.macro_bit_area_um2
            + (cols * d.col_sum_bits) as f64 * config.macro_readout_bit_area_um2;

        let mut bits: Vec<(String, bool, bool)> = Vec::new();
        for p in &m.ports {
            let input = p.dir == Dir::Input;
            if p.ty.width == 1 {
                bits.push((p.name.clone(), input, p.name == "clk"));
            } else {
                bits.extend((0..p.ty.width).map(|i| (format!("{}[{i}]", p.name), input, false)));
            }
        }
        // A square of the macro's area, grown until every pin fits on the
        // perimeter at the configured pitch (two pitches kept free per corner).
        let pitch = config.macro_pin_pitch_um;
        let side = grid(area.sqrt().max((bits.len() as f64 / 4.0 + 4.0) * pitch));
        let per_side = ((side / pitch).floor() as usize).saturating_sub(4).max(1);
        let pin = pitch * 0.5;
        let pins = bits
            .into_iter()
            .enumerate()
            .map(|(i, (name, input, clock))| {
                let (edge, k) = (i / per_side, (i % per_side) as f64);
                let along = grid((k + 2.0) * pitch);
                let rect = match edge {
                    0 => (0.0, along, pin, pin),               // left, bottom to top
                    1 => (along, side - pin, pin, pin),        // top, left to right
                    2 => (side - pin, side - along, pin, pin), // right, top to bottom
                    _ => (side - along, 0.0, pin, pin),        // bottom, right to left
                };
                PlacedPin {
                    name,
                    input,
                    clock,
                    rect,
                }
            })
            .collect();
        MacroGeometry {
            width: side,
            height: side,
            area,
            pins,
        }
    }
}

/// LEF abstract; the platform (`orfs_platform`) only chooses layer names.
pub fn macro_lef(config: &Config, m: &Module, g: &MacroGeometry) -> String {
    let l = layers(&config.orfs_platform);
    let mut s = crate::emit::verilog::banner_in("#", "");
    let _ = writeln!(
        s,
        "# Abstract view of the black-box macro {}: size and pins only.",
        m.name
    );
    s.push_str("VERSION 5.7 ;\nBUSBITCHARS \"[]\" ;\nDIVIDERCHAR \"/\" ;\nUNITS\n  DATABASE MICRONS 1000 ;\nEND UNITS\n\n");
    let _ = writeln!(s, "MACRO {}", m.name);
    s.push_str("  CLASS BLOCK ;\n  ORIGIN 0 0 ;\n");
    let _ = writeln!(s, "  FOREIGN {} 0 0 ;", m.name);
    let _ = writeln!(s, "  SIZE {:.3} BY {:.3} ;", g.width, g.height);
    s.push_str("  SYMMETRY X Y R90 ;\n");
    for p in &g.pins {
        let (x, y, w, h) = p.rect;
        let _ = writeln!(s, "  PIN {}", p.name);
        let _ = writeln!(
            s,
            "    DIRECTION {} ;",
            if p.input { "INPUT" } else { "OUTPUT" }
        );
        let _ = writeln!(s, "    USE {} ;", if p.clock { "CLOCK" } else { "SIGNAL" });
        let _ = writeln!(
            s,
            "    PORT\n      LAYER {} ;\n        RECT {:.3} {:.3} {:.3} {:.3} ;\n    END",
            l.pins,
            x,
            y,
            x + w,
            y + h
        );
        let _ = writeln!(s, "  END {}", p.name);
    }
    // Two power stripes across the macro, as fakeram macros have.
    for (name, use_, at) in [("VPWR", "POWER", 0.25), ("VGND", "GROUND", 0.75)] {
        let x = grid(g.width * at);
        let _ = writeln!(
            s,
            "  PIN {name}\n    DIRECTION INOUT ;\n    USE {use_} ;\n    PORT\n      LAYER {} ;\n        RECT {:.3} {:.3} {:.3} {:.3} ;\n    END\n  END {name}",
            l.power,
            x,
            2.0,
            x + 1.6,
            g.height - 2.0
        );
    }
    s.push_str("  OBS\n");
    for layer in l.obstruct {
        let _ = writeln!(
            s,
            "    LAYER {layer} ;\n      RECT 1.000 1.000 {:.3} {:.3} ;",
            g.width - 1.0,
            g.height - 1.0
        );
    }
    s.push_str("  END\n");
    let _ = writeln!(s, "END {}\n\nEND LIBRARY", m.name);
    s
}

/// Liberty view: area, pins and buses, setup/hold on inputs and clock-to-out
/// on the registered read-out, from the `macro_*_ns` keys. The word-line
/// inputs see the column adder trees before the read-out register, so their
/// setup is the long one.
pub fn macro_liberty(config: &Config, m: &Module, g: &MacroGeometry) -> String {
    let mut s = crate::emit::verilog::banner_in("/*", " */");
    let _ = writeln!(
        s,
        "/* Liberty view of the black-box macro {}: area and simple timing arcs. */",
        m.name
    );
    let _ = writeln!(
        s,
        "/* Area: cells x macro_bit_area_um2 + read-out bits x macro_readout_bit_area_um2 = {:.1} um^2. */",
        g.area
    );
    let _ = writeln!(s, "library ({}_lib) {{", m.name);
    s.push_str(
        "  technology (cmos);\n  delay_model : table_lookup;\n  time_unit : \"1ns\";\n  voltage_unit : \"1V\";\n  current_unit : \"1mA\";\n  leakage_power_unit : \"1nW\";\n  pulling_resistance_unit : \"1kohm\";\n  capacitive_load_unit (1, pf);\n  nom_process : 1.0;\n  nom_voltage : 1.8;\n  nom_temperature : 25.0;\n  default_max_transition : 1.5;\n",
    );
    s.push_str(
        "  input_threshold_pct_rise : 50;\n  input_threshold_pct_fall : 50;\n  output_threshold_pct_rise : 50;\n  output_threshold_pct_fall : 50;\n  slew_lower_threshold_pct_rise : 20;\n  slew_lower_threshold_pct_fall : 20;\n  slew_upper_threshold_pct_rise : 80;\n  slew_upper_threshold_pct_fall : 80;\n",
    );
    let mut widths: Vec<u32> = m
        .ports
        .iter()
        .filter(|p| p.ty.width > 1)
        .map(|p| p.ty.width)
        .collect();
    widths.sort_unstable();
    widths.dedup();
    for w in &widths {
        let _ = writeln!(
            s,
            "  type (bus_{w}) {{ base_type : array; data_type : bit; bit_width : {w}; bit_from : {}; bit_to : 0; downto : true; }}",
            w - 1
        );
    }
    let _ = writeln!(s, "  cell ({}) {{", m.name);
    let _ = writeln!(s, "    area : {:.4};", g.area);
    s.push_str("    interface_timing : true;\n");
    let scalar = |v: f64| format!("(scalar) {{ values (\"{v:.3}\"); }}");
    for p in &m.ports {
        let (open, close) = if p.ty.width == 1 {
            (format!("    pin ({}) {{", p.name), "    }".to_string())
        } else {
            (
                format!(
                    "    bus ({}) {{\n      bus_type : bus_{};",
                    p.name, p.ty.width
                ),
                "    }".to_string(),
            )
        };
        s.push_str(&open);
        s.push('\n');
        if p.dir == Dir::Input {
            s.push_str("      direction : input;\n      capacitance : 0.005;\n");
            if p.name == "clk" {
                s.push_str("      clock : true;\n");
            } else {
                let setup = if matches!(p.name.as_str(), "wl" | "phase" | "en") {
                    config.macro_wl_setup_ns
                } else {
                    config.macro_setup_ns
                };
                for (kind, v) in [
                    ("setup_rising", setup),
                    ("hold_rising", config.macro_hold_ns),
                ] {
                    let _ = writeln!(
                        s,
                        "      timing () {{\n        related_pin : \"clk\";\n        timing_type : {kind};\n        rise_constraint {}\n        fall_constraint {}\n      }}",
                        scalar(v),
                        scalar(v)
                    );
                }
            }
        } else {
            s.push_str("      direction : output;\n      max_capacitance : 0.5;\n");
            let q = config.macro_clk_to_q_ns;
            let _ = writeln!(
                s,
                "      timing () {{\n        related_pin : \"clk\";\n        timing_type : rising_edge;\n        cell_rise {}\n        cell_fall {}\n        rise_transition {}\n        fall_transition {}\n      }}",
                scalar(q),
                scalar(q),
                scalar(0.1),
                scalar(0.1)
            );
        }
        s.push_str(&close);
        s.push('\n');
    }
    s.push_str("  }\n}\n");
    s
}
