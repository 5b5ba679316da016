//! `cim_top.md`: the integrator's contract. Someone who integrates the
//! engine has this document, `cim_params.h` and `cim_params.json`; with them
//! alone they can load memories, stream vectors and read results.

use crate::benes::Benes;
use crate::config::layout::{Target, Word, LANE, SCALES};
use crate::config::{Config, Crossbar, Derived, Sparsity};
use crate::ir::{Design, Dir};
use std::fmt::Write;

pub fn port_document(c: &Config, d: &Derived, design: &Design) -> String {
    let top = design.module(&design.top).expect("top exists");
    let mut s = String::new();
    let _ = writeln!(s, "# `{}` ports and protocol\n", top.name);
    let adc = if c.adc_bits == 0 {
        "exact".to_string()
    } else {
        format!("{} bits {}", c.adc_bits, c.adc_mode)
    };
    if c.is_dense() {
        let _ = writeln!(
            s,
            "Generated for: the dense engine, {} macros of {}x{} holding {}-bit weights ({} lanes), sparsity `{}`, W = {}, {}-bit {} activations, ADC {}.\n",
            c.macros,
            d.macro_rows,
            c.cols,
            c.w_bits,
            d.lanes,
            c.sparsity,
            c.wl_parallel,
            c.act_bits,
            if c.act_signed { "signed" } else { "unsigned" },
            adc,
        );
    } else {
        let _ = writeln!(
        s,
        "Generated for: {} error macros of {}x{}, pool {}, W = {}, {}-bit {} activations, ADC {}, `{}` crossbar.\n",
        c.macros,
        c.rows,
        c.cols,
        c.pool,
        c.wl_parallel,
        c.act_bits,
        if c.act_signed { "signed" } else { "unsigned" },
        if c.adc_bits == 0 {
            "exact".to_string()
        } else {
            format!("{} bits {}", c.adc_bits, c.adc_mode)
        },
        c.crossbar,
    );
    }
    let sections = if c.is_dense() {
        "2, 6 and 7"
    } else {
        "2, 3 and 7"
    };
    let _ = write!(
        s,
        "What the engine computes, bit for bit, is defined in cimpool's docs/SPEC.md (sections {sections});\n\
         this document says how to drive it. Every number here is also in `cim_params.h` and\n\
         `cim_params.json`.\n\n"
    );
    s.push_str("| port | dir | bits | meaning |\n|---|---|---|---|\n");
    for p in &top.ports {
        let dir = if p.dir == Dir::Input { "in" } else { "out" };
        let _ = writeln!(
            s,
            "| `{}` | {dir} | {} | {} |",
            p.name,
            p.ty.width,
            port_meaning(&p.name, c, d)
        );
    }
    reset_section(&mut s, c);
    load_section(&mut s, c, d);
    if c.crossbar == Crossbar::Benes {
        benes_section(&mut s, c, d);
    }
    stream_sections(&mut s, c, d);
    s
}

fn reset_section(s: &mut String, c: &Config) {
    s.push_str(
        r#"
## Clock, reset and state after reset

All ports are synchronous to the rising edge of `clk`. `rst` is synchronous and active
high; hold it for at least one cycle. Reset clears only the control state: afterwards the
engine is idle (`in_ready` = 1, `load_ready` = 1, `out_valid` = 0).

The memories (macro cells, lane words, biases, the scale word) and the lane accumulators
have no reset: after power-up or reset their contents are undefined. Load every memory a
layer uses before its first input vector, and mark the first input vector after reset
`in_first` (it clears the accumulators; without it the first output is undefined).
Memories keep their contents across `rst`.
"#,
    );
    match c.sparsity {
        Sparsity::Skip => {
            s.push_str("The phase valid bits are the exception: reset marks every phase valid.\n")
        }
        Sparsity::Compact => {
            s.push_str("The slot codes are the exception: reset sets slot k to phase block k.\n")
        }
        Sparsity::None => {}
    }
}

fn load_section(s: &mut String, c: &Config, d: &Derived) {
    s.push_str(
        r#"
## Load port (`load_valid` / `load_ready`)

A write is taken in a cycle with `load_valid` and `load_ready` high. `load_ready` is high
only while no input vector is in flight (none being issued, accumulated, distributed by the
crossbar or requantized into output beats), so a load never changes data a vector is
using. A load can be taken while the last output beat of a vector still waits in the output
register (`out_valid` high, `out_ready` low): the beat is already computed. A load taken in
the same cycle as an input vector is seen by that vector.

`load_sel` picks the target; `load_addr` and `load_data` are laid out per target as below
(fields not listed are ignored; write them as 0). Signed fields are two's complement.
"#,
    );
    s.push_str(if c.is_dense() {
        "Macro cells hold plain bits of two's-complement weights (0 or 1).\n"
    } else {
        "Macro cells: bit 1 means +1 and bit 0 means -1, in the pool macro and in the error macros.\n"
    });
    s.push_str("\n| `load_sel` | target | `load_addr` | `load_data` |\n|---|---|---|---|\n");
    for t in &d.load.targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.sel,
            t.what,
            fields_inline(&t.addr),
            fields_inline(&t.data)
        );
    }
    for t in &d.load.targets {
        field_table(s, t);
    }
    if c.is_dense() {
        dense_addressing(s, c, d);
    } else {
        let _ = writeln!(
        s,
        "\nError column (macro n, col c) holds the error bits of lane n * {} + c. Lane l belongs to\n\
         group l / {p} at slot l % {p}; the lane word's address is {{group, slot}}\n\
         (`CIM_LANE_ADDR(l)`), the error column's {{macro, col}} (`CIM_ERROR_COLUMN_ADDR(n, c)`).",
        c.cols,
        p = c.pool
    );
    }
    let scales = &d.load.target(SCALES).data;
    let _ = writeln!(
        s,
        "The scale word holds the layer's {}; one write sets them all.",
        scales
            .fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// How the dense engine's columns, lanes and sparsity memory are addressed
/// and what block sparsity costs.
fn dense_addressing(s: &mut String, c: &Config, d: &Derived) {
    let (wb, per) = (c.w_bits, c.cols / c.w_bits);
    let _ = writeln!(
        s,
        "\nWeight column (macro n, col c) holds bit c % {wb} of the weights of lane n * {per} + c / {wb}\n\
         (bit {top} is the sign bit, weighing -2^{top}); {rows}. The lane word's address is the lane (`CIM_LANE_ADDR(l)`), the weight column's\n\
         {{macro, col}} (`CIM_WEIGHT_COLUMN_ADDR(n, c)`).",
        top = wb - 1,
        rows = if c.sparsity == Sparsity::Compact {
            "row r of a column is row r % wl_parallel of the phase block its slot r / wl_parallel names\n(the slot codes, below)"
        } else {
            "row d of a column is the weight's element d of\nthe row block"
        }
    );
    let steps = match c.sparsity {
        Sparsity::None => None,
        Sparsity::Skip => Some(format!(
            "The phase valid word belongs to the tile (output pass x row block) like its columns: phase h\n\
             (rows h*{w} .. h*{w}+{wm}) is computed only when its bit is 1, in every macro at once; an invalid\n\
             phase must hold only zero weights in every macro (its cells are never read).",
            w = c.wl_parallel,
            wm = c.wl_parallel - 1
        )),
        Sparsity::Compact => Some(format!(
            "Each macro holds {k} slots of {w} rows: slot k is physical rows k*{w} .. k*{w}+{wm}. The slot\n\
             codes belong to the tile: slot k multiplies input phase block `slot_k` (input elements\n\
             code*{w} .. code*{w}+{wm}); code {h} marks the slot empty. Name each phase block at most once;\n\
             blocks no slot names count as zero weights.",
            k = d.issue_blocks,
            w = c.wl_parallel,
            wm = c.wl_parallel - 1,
            h = d.phases
        )),
    };
    if let Some(text) = steps {
        let _ = writeln!(
            s,
            "{text} A vector costs {} x (marked blocks) compute cycles, at least {} (one block\n\
             with no word line driven when none is marked); at most {} with every block marked.",
            c.act_bits, c.act_bits, d.steps_per_vector
        );
    }
}

fn fields_inline(w: &Word) -> String {
    if w.fields.iter().all(|f| f.width == 0) {
        return "ignored".into();
    }
    w.fields
        .iter()
        .filter(|f| f.width > 0)
        .map(|f| format!("`{}` [{}:{}]", f.name, f.lsb + f.width - 1, f.lsb))
        .collect::<Vec<_>>()
        .join(", ")
}

fn field_table(s: &mut String, t: &Target) {
    let _ = writeln!(
        s,
        "\n### `load_sel` = {}: {} (`CIM_{}_*`)\n\n| word | field | bits | signed | meaning |\n|---|---|---|---|---|",
        t.sel,
        t.name,
        t.name.to_uppercase()
    );
    for (word, w) in [("`load_addr`", &t.addr), ("`load_data`", &t.data)] {
        for f in w.fields.iter().filter(|f| f.width > 0) {
            let _ = writeln!(
                s,
                "| {word} | `{}` | [{}:{}] | {} | {} |",
                f.name,
                f.lsb + f.width - 1,
                f.lsb,
                if f.signed { "yes" } else { "no" },
                f.meaning
            );
        }
    }
}

/// How to compute the Benes switch settings without cimpool's code.
fn benes_section(s: &mut String, c: &Config, d: &Derived) {
    let net = Benes::new(c.pool).expect("benes pools are powers of two");
    let (p, k) = (c.pool, c.pool.trailing_zeros());
    let iw = d.index_bits;
    let select = d.load.target(LANE).data.get("select");
    let used_slots = net.switch_bits().div_ceil(iw);
    let _ = write!(
        s,
        r#"
## Benes switch settings

With the `benes` crossbar a lane word's `select` field carries switch settings, not a
pool index. Each group of {p} lanes has a Benes network of {stages} stages of {half} 2x2
switches ({bits} setting bits). Its inputs are the pool results: input position j carries
pool vector j. Its outputs are the group's lanes: output position o feeds slot o. The
network can only realise permutations, so the {p} pool indices of a group must all differ.

`cimpool route --config cim_config.toml --indices i0,i1,...,i{pm1}` prints the `select` field
of every slot for one group's indices (lane slot o reads pool vector i_o). To compute them
yourself:

- Setting bit `s * {half} + i` belongs to switch i of stage s (s = 0..{smax}); when it is 1
  the switch exchanges positions 2i and 2i+1, when 0 it passes them straight.
- Between stage s and stage s+1, position j of stage s+1 takes position `src(s, j)` of
  stage s's output:
  - for s < {km1} (unshuffle inside blocks of b = {p} >> s): with j = base + r, 0 <= r < b,
    `src = base + 2r` for r < b/2 and `base + 2(r - b/2) + 1` otherwise;
  - for s >= {km1} (shuffle inside blocks of b = 2^(s - {k} + 3)): `src = base + r/2` for even
    r and `base + b/2 + (r-1)/2` for odd r.
- Any settings that make output o carry input i_o will do; the looping algorithm
  (Waksman 1968; Opferman and Tsao-Wu 1971) finds them for every permutation.
- Slot o's `select` field ({iw} bits) holds setting bits [o * {iw}, o * {iw} + {iw}). The
  {bits} settings fill slots 0..{last}; the remaining bits of slot {last_slot} and every
  later slot's `select` field are ignored (write 0). Each lane word still carries its own
  `mask` and `bias`. The memory is written one lane word at a time, so a group's settings
  are consistent once all {p} of its lane words have been written.
"#,
        stages = net.stages(),
        half = net.switches_per_stage(),
        bits = net.switch_bits(),
        pm1 = p - 1,
        smax = net.stages() - 1,
        km1 = k - 1,
        last = used_slots - 1,
        last_slot = used_slots - 1,
    );
    let _ = select;
}

fn stream_sections(s: &mut String, c: &Config, d: &Derived) {
    let _ = write!(
        s,
        r#"
## Input stream (`in_valid` / `in_ready`)

One handshake carries one input vector: element d in `in_data[d*{bx} +: {bx}]`, {sign}.
`in_first` clears the lane accumulators before this vector is added (the first row block
of an output); `in_last` makes the engine requantize and emit the lanes after this vector
(the last row block). A vector may be both. Vectors are accepted every {cpv} cycles{pace}.

## Output stream (`out_valid` / `out_ready`)

After a vector marked `in_last`, {beats} beat(s) of {ol} lanes: beat k carries lanes
k*{ol} .. k*{ol}+{olm}, lane k*{ol}+i in `out_data[i*{ob} +: {ob}]`, {out_sign}.
`out_last` marks the final beat. Without back-pressure the first beat is valid {lat} cycles
after the `in_last` vector was accepted (when the engine was otherwise idle{lat_note}), and one beat
follows per cycle.

Back-pressure: a beat stays on `out_data` until it is taken. Beats are requantized one
per cycle from the lane accumulators {path}. Beats that do not fit wait in the lane
accumulators, so the next vector's sums cannot enter them. While beats
wait, the engine keeps accepting input vectors until a `last` vector's sums wait in the
lane accumulators and two more vectors are behind it (one finishing its bit planes, one
being issued), then holds `in_ready` low until beats are taken. No output is ever dropped
or overwritten.
"#,
        path = if d.output_pipeline == 0 {
            "into the one-beat output register".to_string()
        } else {
            format!(
                "through the {} register stage(s) of the requantizer path (`output_pipeline`)\ninto the output register: {} beats in all, which move together and hold still\nwhile the output register waits",
                d.output_pipeline,
                d.output_pipeline + 1
            )
        },
        bx = c.act_bits,
        sign = if c.act_signed {
            "two's complement"
        } else {
            "unsigned"
        },
        cpv = d.cycles_per_vector,
        pace = if c.is_dense() && c.sparsity != Sparsity::None {
            format!(
                " at best when every phase block of the tile is computed; a tile\nthat computes s phase blocks per plane (its valid phases, or its slots naming a block;\nat least 1) is accepted every max({} x s, {}) cycles",
                c.act_bits, d.crossbar_steps
            )
        } else {
            " at best".to_string()
        },
        lat_note = if c.is_dense() && c.sparsity != Sparsity::None {
            format!(
                " and every phase block of\nthe tile computed; {} x s + {} cycles on a tile that computes s phase blocks per plane",
                c.act_bits,
                d.first_beat_latency - d.steps_per_vector
            )
        } else {
            String::new()
        },
        beats = d.out_beats,
        ol = d.out_lanes,
        olm = d.out_lanes - 1,
        ob = c.out_bits,
        out_sign = if c.relu {
            "unsigned while the scale word's `relu` field is 1 (ReLU, the configuration's\n`relu`), two's complement while it is 0"
        } else {
            "two's complement while the scale word's `relu` field is 0 (the configuration's\n`relu`), unsigned (ReLU) while it is 1"
        },
        lat = d.first_beat_latency,
    );
}

fn port_meaning(name: &str, c: &Config, d: &Derived) -> String {
    match name {
        "clk" => "clock".into(),
        "rst" => "synchronous reset, active high".into(),
        "load_valid" | "load_ready" => "load handshake".into(),
        "load_sel" => "load target (table below)".into(),
        "load_addr" => "load address (table below)".into(),
        "load_data" => "load data (table below)".into(),
        "in_valid" | "in_ready" => "input vector handshake".into(),
        "in_first" => "first row block: restart the lane accumulators".into(),
        "in_last" => "last row block: requantize and emit the lanes".into(),
        "in_data" => format!("{} elements of {} bits", c.rows, c.act_bits),
        "out_valid" | "out_ready" => "output beat handshake".into(),
        "out_last" => "final beat of an output vector".into(),
        "out_data" => format!("{} lanes of {} bits", d.out_lanes, c.out_bits),
        _ => String::new(),
    }
}
