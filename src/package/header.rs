//! `cim_params.h`: the C view of a package's configuration, derived widths
//! and load-port layout.

use crate::config::layout::{Field, LoadLayout, ERROR_COLUMN, LANE, WEIGHT_COLUMN};
use crate::config::{AdcMode, Config, Crossbar, Derived, Sparsity};
use crate::emit::verilog::banner_in;
use std::fmt::Write;

pub fn c_header(c: &Config, d: &Derived) -> String {
    let mut s = String::new();
    s.push_str(&banner_in("/*", " */"));
    s.push_str(
        "/* Parameters of the generated engine: the software view of the same configuration. */\n",
    );
    s.push_str("/* Ports and protocol: cim_top.md in the same folder. */\n");
    s.push_str("#ifndef CIM_PARAMS_H\n#define CIM_PARAMS_H\n\n");
    let def = |s: &mut String, name: &str, value: u32| {
        let _ = writeln!(s, "#define CIM_{name} {value}u");
    };
    let dense = c.is_dense();
    let common = [
        ("ENGINE_DENSE", dense as u32),
        ("MACROS", c.macros),
        ("ROWS", c.rows),
        ("COLS", c.cols),
    ];
    let pool = [("POOL", c.pool)];
    let dense_engine = [
        ("W_BITS", c.w_bits),
        (
            "SPARSITY",
            match c.sparsity {
                Sparsity::None => 0,
                Sparsity::Skip => 1,
                Sparsity::Compact => 2,
            },
        ),
        ("SLOTS", d.issue_blocks),
        ("MACRO_ROWS", d.macro_rows),
    ];
    let array = [
        ("WL_PARALLEL", c.wl_parallel),
        ("ADC_BITS", c.adc_bits),
        ("ADC_ROUND", (c.adc_mode == AdcMode::RoundClamp) as u32),
        (
            "ADC_ROUND_EVEN",
            (c.adc_mode == AdcMode::RoundEvenClamp) as u32,
        ),
        ("ACT_BITS", c.act_bits),
        ("ACT_SIGNED", c.act_signed as u32),
        ("OUT_BITS", c.out_bits),
        ("RELU", c.relu as u32),
        ("SCALE_BITS", c.scale_bits),
        ("BIAS_BITS", c.bias_bits),
        ("SHIFT_BITS", c.shift_bits),
        ("MAX_ROW_BLOCKS", c.max_row_blocks),
        ("LANES", d.lanes),
    ];
    let pool_lanes = [("GROUPS", d.groups), ("INDEX_BITS", d.index_bits)];
    let widths = [
        ("PHASES", d.phases),
        ("STEPS_PER_VECTOR", d.steps_per_vector),
        ("COL_SUM_BITS", d.col_sum_bits),
        ("ADC_SHIFT", d.adc_shift),
        ("COLUMN_BITS", d.column_bits),
    ];
    let lane_value = [("LANE_VALUE_BITS", d.lane_value_bits.unwrap_or(0))];
    let value = [
        ("ACCUMULATOR_BITS", d.accumulator_bits),
        ("VALUE_BITS", d.value_bits),
    ];
    let crossbar = [
        ("CROSSBAR_UNITS", d.crossbar_units),
        ("CROSSBAR_STEPS", d.crossbar_steps),
        ("CROSSBAR_BENES", (c.crossbar == Crossbar::Benes) as u32),
        ("CROSSBAR_PIPELINE", d.crossbar_pipeline),
        ("GROUP_SELECT_BITS", d.group_select_bits),
    ];
    let ports = [
        ("OUT_LANES", d.out_lanes),
        ("OUT_BEATS", d.out_beats),
        ("OUT_BEAT_BITS", d.out_beat_bits),
        ("OUTPUT_PIPELINE", d.output_pipeline),
        ("CYCLES_PER_VECTOR", d.cycles_per_vector),
        ("FIRST_BEAT_LATENCY", d.first_beat_latency),
        ("IN_DATA_BITS", c.rows * c.act_bits),
        ("LOAD_SEL_BITS", d.load_sel_bits),
        ("LOAD_ADDR_BITS", d.load_addr_bits),
        ("LOAD_DATA_BITS", d.load_data_bits),
    ];
    // Each engine's header lists only the quantities its hardware has.
    let groups: Vec<&[(&str, u32)]> = if dense {
        vec![
            &common,
            &dense_engine,
            &array,
            &widths,
            &lane_value,
            &value,
            &ports,
        ]
    } else {
        vec![
            &common,
            &pool,
            &array,
            &pool_lanes,
            &widths,
            &value,
            &crossbar,
            &ports,
        ]
    };
    for (name, v) in groups.into_iter().flatten() {
        def(&mut s, name, *v);
    }
    layout_macros(&mut s, &d.load);
    address_helpers(&mut s, c, &d.load);
    s.push_str("\n#endif /* CIM_PARAMS_H */\n");
    s
}

/// `CIM_LOAD_<TARGET>` (the `load_sel` value) and, per field,
/// `CIM_<TARGET>[_ADDR]_<FIELD>_LSB`, `_BITS` and `_SIGNED`.
fn layout_macros(s: &mut String, layout: &LoadLayout) {
    s.push_str(
        "\n/* Load port: `load_sel` values and the fields of each target's address and data. */\n",
    );
    for t in &layout.targets {
        let target = t.name.to_uppercase();
        let _ = writeln!(s, "\n/* load_sel {}: {} */", t.sel, t.what);
        let _ = writeln!(s, "#define CIM_LOAD_{target} {}u", t.sel);
        let mut field = |prefix: &str, f: &Field| {
            let _ = writeln!(s, "/* {}: {} */", f.name, f.meaning);
            let name = format!("CIM_{target}{prefix}_{}", f.name.to_uppercase());
            let _ = writeln!(s, "#define {name}_LSB {}u", f.lsb);
            let _ = writeln!(s, "#define {name}_BITS {}u", f.width);
            let _ = writeln!(s, "#define {name}_SIGNED {}u", f.signed as u32);
        };
        for f in &t.addr.fields {
            field("_ADDR", f);
        }
        for f in &t.data.fields {
            field("", f);
        }
    }
}

/// Address helpers that compose the fields above.
fn address_helpers(s: &mut String, c: &Config, layout: &LoadLayout) {
    if c.is_dense() {
        let col = &layout.target(WEIGHT_COLUMN).addr;
        let lane = &layout.target(LANE).addr;
        s.push_str("\n/* Load addresses: weight column of (macro, col); lane word of lane. */\n");
        let _ = writeln!(
            s,
            "#define CIM_WEIGHT_COLUMN_ADDR(macro, col) ((((unsigned)(macro)) << {}) | (((unsigned)(col)) << {}))",
            col.get("macro").lsb,
            col.get("col").lsb
        );
        let _ = writeln!(
            s,
            "#define CIM_LANE_ADDR(lane) (((unsigned)(lane)) << {})",
            lane.get("lane").lsb
        );
        return;
    }
    let err = &layout.target(ERROR_COLUMN).addr;
    let lane = &layout.target(LANE).addr;
    s.push_str("\n/* Load addresses: error column of (macro, col); lane word of lane = group * POOL + slot. */\n");
    let _ = writeln!(
        s,
        "#define CIM_ERROR_COLUMN_ADDR(macro, col) ((((unsigned)(macro)) << {}) | (((unsigned)(col)) << {}))",
        err.get("macro").lsb,
        err.get("col").lsb
    );
    let _ = writeln!(
        s,
        "#define CIM_LANE_ADDR(lane) (((((unsigned)(lane)) / {p}u) << {}) | ((((unsigned)(lane)) % {p}u) << {}))",
        lane.get("group").lsb,
        lane.get("slot").lsb,
        p = c.pool
    );
}
