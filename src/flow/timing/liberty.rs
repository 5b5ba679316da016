//! The few facts the timing flow needs from a Liberty file: pin directions
//! and capacitances, output pins' `max_capacitance` and `function`, and which
//! cells hold state. A line-oriented reader is enough for the generated macro
//! views and for the standard-cell libraries it is used with (osu018); it is
//! not a general Liberty parser.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pin {
    pub output: bool,
    /// Input capacitance in the library's capacitive unit (pF for osu018).
    pub capacitance: f64,
    pub max_capacitance: Option<f64>,
    pub function: Option<String>,
}

/// A flip-flop group: `ff (IQ, IQN) { next_state : ..; clocked_on : ..; }`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ff {
    pub iq: String,
    pub iqn: String,
    pub next_state: String,
    pub clocked_on: String,
    /// A `clear` or `preset` attribute: not modelled by `cell_models`.
    pub asynchronous: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub area: f64,
    pub sequential: bool,
    pub pins: BTreeMap<String, Pin>,
    pub ff: Option<Ff>,
}

/// Cells by name; several files may be merged into one map.
#[derive(Clone, Debug, Default)]
pub struct Library {
    pub cells: BTreeMap<String, Cell>,
}

fn group_name(t: &str, group: &str) -> Option<String> {
    let rest = t.strip_prefix(group)?.trim_start();
    let rest = rest.strip_prefix('(')?;
    Some(rest.split(')').next()?.trim().trim_matches('"').to_string())
}

fn value<'a>(t: &'a str, attr: &str) -> Option<&'a str> {
    let rest = t.strip_prefix(attr)?.trim_start().strip_prefix(':')?;
    Some(rest.trim().trim_end_matches(';').trim().trim_matches('"'))
}

impl Cell {
    /// A cimpool black-box macro view (its Liberty has the `interface_timing`
    /// cell; standard cells have a `function` on every output).
    pub fn is_macro(&self) -> bool {
        self.pins.values().any(|p| p.output && p.function.is_none()) && !self.sequential
    }
}

impl Library {
    pub fn add(&mut self, text: &str) {
        // One statement per line, whatever the file's layout.
        let text = text
            .replace('{', "{\n")
            .replace('}', "\n}\n")
            .replace(';', ";\n");
        let mut cell: Option<String> = None;
        let mut pin: Option<(String, usize)> = None;
        let mut ff: Option<usize> = None;
        let mut depth = 0usize;
        for line in text.lines() {
            let t = line.trim();
            if let Some(name) = group_name(t, "cell") {
                self.cells.insert(name.clone(), Cell::default());
                cell = Some(name);
                pin = None;
            } else if let (Some(c), Some(name)) =
                (&cell, group_name(t, "pin").or_else(|| group_name(t, "bus")))
            {
                self.cells
                    .get_mut(c)
                    .expect("inserted")
                    .pins
                    .insert(name.clone(), Pin::default());
                pin = Some((name, depth));
            } else if let Some(c) = &cell {
                let cell = self.cells.get_mut(c).expect("inserted");
                if ["ff", "latch", "ff_bank", "latch_bank"]
                    .iter()
                    .any(|g| group_name(t, g).is_some())
                {
                    cell.sequential = true;
                }
                if let Some(names) = group_name(t, "ff") {
                    let mut n = names.split(',').map(|x| x.trim().to_string());
                    cell.ff = Some(Ff {
                        iq: n.next().unwrap_or_default(),
                        iqn: n.next().unwrap_or_default(),
                        ..Default::default()
                    });
                    ff = Some(depth);
                } else if let (Some(_), Some(f)) = (ff, cell.ff.as_mut()) {
                    if let Some(v) = value(t, "next_state") {
                        f.next_state = v.to_string();
                    } else if let Some(v) = value(t, "clocked_on") {
                        f.clocked_on = v.to_string();
                    } else if value(t, "clear").is_some() || value(t, "preset").is_some() {
                        f.asynchronous = true;
                    }
                }
                match &pin {
                    Some((p, _)) => {
                        let p = cell.pins.get_mut(p).expect("inserted");
                        if let Some(v) = value(t, "direction") {
                            p.output = v == "output";
                        } else if let Some(v) = value(t, "capacitance") {
                            p.capacitance = v.parse().unwrap_or(0.0);
                        } else if let Some(v) = value(t, "max_capacitance") {
                            p.max_capacitance = v.parse().ok();
                        } else if let Some(v) = value(t, "function") {
                            p.function = Some(v.to_string());
                        }
                    }
                    None => {
                        if let Some(v) = value(t, "area") {
                            cell.area = v.parse().unwrap_or(0.0);
                        }
                    }
                }
            }
            // Leave the pin group when its braces close.
            depth += t.matches('{').count();
            depth = depth.saturating_sub(t.matches('}').count());
            if let Some((_, d)) = &pin {
                if depth <= *d {
                    pin = None;
                }
            }
            if ff.is_some_and(|d| depth <= d) {
                ff = None;
            }
        }
    }

    pub fn parse(text: &str) -> Library {
        let mut lib = Library::default();
        lib.add(text);
        lib
    }

    /// The strongest non-inverting buffer: one input pin, one output whose
    /// function is that input; the largest `max_capacitance` (drive), then
    /// the smallest area.
    pub fn buffer(&self) -> Option<(String, String, String)> {
        self.cells
            .iter()
            .filter(|(_, c)| !c.sequential && c.pins.len() == 2)
            .filter_map(|(name, c)| {
                let (i, _) = c.pins.iter().find(|(_, p)| !p.output)?;
                let (o, p) = c.pins.iter().find(|(_, p)| p.output)?;
                let f = p.function.as_deref()?.replace(['(', ')', ' '], "");
                let drive = p.max_capacitance.unwrap_or(0.0);
                (f == *i).then(|| (drive, c.area, name.clone(), i.clone(), o.clone()))
            })
            .max_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(b.1.total_cmp(&a.1))
                    .then(b.2.cmp(&a.2))
            })
            .map(|(_, _, n, i, o)| (n, i, o))
    }

    pub fn pin(&self, cell: &str, pin: &str) -> Option<&Pin> {
        // Bus bits (`wl[3]`) share their bus's entry.
        let base = pin.split('[').next().unwrap_or(pin);
        self.cells.get(cell)?.pins.get(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = r#"library(x) {
  cell(BUFX2) {
    area : 32;
    pin(A) { direction : input; capacitance : 0.01; }
    pin(Y) { direction : output; function : "A"; max_capacitance : 0.4;
      timing() { related_pin : "A"; } }
  }
  cell(BUFX4) {
    area : 40;
    pin(A) { direction : input; capacitance : 0.02; }
    pin(Y) {
      direction : output;
      function : "A";
      max_capacitance : 0.8;
    }
  }
  cell(INVX1) {
    area : 16;
    pin(A) { direction : input; capacitance : 0.01; }
    pin(Y) { direction : output; function : "(!A)"; }
  }
  cell(DFFPOSX1) {
    area : 96;
    ff(DS0000,P0002) { next_state : "D"; }
    pin(CLK) { direction : input; clock : true; capacitance : 0.009; }
    pin(D) { direction : input; capacitance : 0.005; }
    pin(Q) { direction : output; function : "DS0000"; }
  }
}"#;

    #[test]
    fn reads_pins_caps_and_the_strongest_buffer() {
        let lib = Library::parse(LIB);
        assert_eq!(lib.cells.len(), 4);
        assert_eq!(lib.pin("BUFX4", "A").unwrap().capacitance, 0.02);
        assert_eq!(lib.pin("BUFX4", "Y").unwrap().max_capacitance, Some(0.8));
        assert!(lib.pin("BUFX2", "Y").unwrap().output);
        assert!(lib.cells["DFFPOSX1"].sequential && !lib.cells["INVX1"].sequential);
        assert_eq!(lib.cells["DFFPOSX1"].area, 96.0);
        assert_eq!(lib.buffer(), Some(("BUFX4".into(), "A".into(), "Y".into())));
    }
}
