//! `cimpool estimate` as a user runs it: macro counts of the built-in
//! ResNet-18, shapes against a real compression, the synthesized source
//! against `report area`, the plot, and refusals.

mod common;

use common::{assert_refused, cimpool, require_tool};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn digits(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/digits")
        .join(name)
        .display()
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs cimpool and requires success (stderr shown otherwise).
fn succeed(args: &[&str]) -> std::process::Output {
    let out = cimpool(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn estimate_json(args: &[&str], json: &Path) -> Value {
    let mut all = vec!["estimate"];
    all.extend_from_slice(args);
    let j = json.display().to_string();
    all.extend_from_slice(&["--json", &j]);
    succeed(&all);
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

/// The sum of a JSON array of numbers (a breakdown's parts).
fn sum(parts: &Value) -> f64 {
    parts
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum()
}

/// Our own count of ResNet-18 (ImageNet) at 4 bits: 2,864 macros of
/// 128x128; at 8 bits every channel takes twice the columns.
#[test]
fn resnet18_macro_counts_at_4_and_8_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let d4 = write(tmp.path(), "d4.toml", "engine = 'dense'\nw_bits = 4\n");
    let d8 = write(tmp.path(), "d8.toml", "engine = 'dense'\nw_bits = 8\n");
    let r = estimate_json(
        &["--network", "resnet18", "--config", &d4, "--config", &d8],
        &tmp.path().join("r.json"),
    );
    let macros: Vec<u64> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["on_chip"]["macros"].as_u64().unwrap())
        .collect();
    assert_eq!(macros, [2864, 5724]);
    // 4 bits per weight exactly, and the same network.
    let e = &r["entries"][0];
    assert_eq!(e["weights"].as_u64(), Some(11_678_912));
    let bpw = e["bits_per_weight"].as_f64().unwrap();
    assert!((bpw - 4.0).abs() < 1e-3, "{bpw}");
}

/// The workload predicted from shapes stores exactly what `compress` stores
/// (keep 1.0, no sparsity), for both engines; an image folder is read back
/// with compress's own bits per weight.
#[test]
fn shapes_predict_what_compress_stores() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [("pool", vec![]), ("dense", vec!["--engine", "dense"])] {
        let out_dir = tmp.path().join(name).display().to_string();
        let (weights, model) = (digits_cnn_weights(), digits_cnn_model());
        let mut args = vec![
            "compress",
            "--weights",
            &weights,
            "--model",
            &model,
            "--config",
        ];
        let hw = digits("hw.toml");
        args.push(&hw);
        let calib = digits("calib.npz");
        args.extend_from_slice(&["--calib", &calib, "--keep", "1"]);
        args.extend_from_slice(&extra);
        args.extend_from_slice(&["--out", &out_dir]);
        succeed(&args);
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(&out_dir).join("report.json")).unwrap(),
        )
        .unwrap();
        let from_images = estimate_json(
            &["--images", &out_dir],
            &tmp.path().join(format!("{name}-images.json")),
        );
        let config = Path::new(&out_dir)
            .join("cim_config.toml")
            .display()
            .to_string();
        let from_shapes = estimate_json(
            &[
                "--model",
                &model,
                "--weights",
                &weights,
                "--config",
                &config,
            ],
            &tmp.path().join(format!("{name}-shapes.json")),
        );
        let compressed = report["bits_per_weight"]["total"].as_f64().unwrap();
        for r in [&from_images, &from_shapes] {
            let e = &r["entries"][0];
            let bpw = e["bits_per_weight"].as_f64().unwrap();
            assert!(
                (bpw - compressed).abs() < 1e-9,
                "{name}: {bpw} vs {compressed}"
            );
        }
        assert_eq!(
            from_images["entries"][0]["stored_bits"], from_shapes["entries"][0]["stored_bits"],
            "{name}"
        );
        assert_eq!(
            from_images["entries"][0]["on_chip"]["cycles"],
            from_shapes["entries"][0]["on_chip"]["cycles"],
            "{name}"
        );
    }
}

fn digits_cnn_weights() -> String {
    digits("cnn.npz")
}

fn digits_cnn_model() -> String {
    digits("cnn.toml")
}

/// The dense engine's skipped blocks cut cycles, not macros: images
/// compressed at 50% block sparsity with `sparsity = "skip"` take fewer
/// cycles than the same weights unpruned.
#[test]
fn block_sparsity_cuts_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let hw = write(
        tmp.path(),
        "hw.toml",
        "engine = 'dense'\nmacros = 2\nrows = 64\ncols = 64\nwl_parallel = 16\nsparsity = 'skip'\nmax_row_blocks = 4\n",
    );
    let mut cycles = Vec::new();
    for s in ["0", "0.5"] {
        let dir = tmp.path().join(format!("s{s}")).display().to_string();
        let (weights, model) = (digits("mlp.npz"), digits("model.toml"));
        let calib = digits("calib.npz");
        succeed(&[
            "compress",
            "--weights",
            &weights,
            "--model",
            &model,
            "--config",
            &hw,
            "--sparsity",
            s,
            "--calib",
            &calib,
            "--out",
            &dir,
        ]);
        let r = estimate_json(&["--images", &dir], &tmp.path().join(format!("{s}.json")));
        let e = &r["entries"][0];
        cycles.push((
            e["on_chip"]["macros"].as_u64().unwrap(),
            e["streamed"]["cycles"].as_u64().unwrap(),
        ));
    }
    assert_eq!(cycles[0].0, cycles[1].0);
    assert!(cycles[1].1 < cycles[0].1, "{cycles:?}");
}

/// `--synth` at 130 nm gives `report area`'s total for the same
/// configuration, and a second run reads it from the cache.
#[test]
fn synthesized_source_agrees_with_report_area() {
    require_tool("yosys");
    let tmp = tempfile::tempdir().unwrap();
    let toml = "macros = 2\nrows = 16\ncols = 16\npool = 8\nwl_parallel = 8\nact_bits = 4\n";
    let hw = write(tmp.path(), "hw.toml", toml);
    let model = write(
        tmp.path(),
        "m.toml",
        "input_scale = 1.0\n[[layer]]\nname = 'fc'\nkind = 'fc'\nshape = [16, 16]\n",
    );
    let rtl = tmp.path().join("rtl").display().to_string();
    succeed(&["gen", "--config", &hw, "--out", &rtl]);
    let out = succeed(&["report", "area", "--rtl", &rtl]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let total: f64 = text
        .lines()
        .find(|l| l.starts_with("| **total**"))
        .and_then(|l| l.split('|').nth(3))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in:\n{text}"));
    let cache = tmp.path().join("cache").display().to_string();
    let args = [
        "--model", &model, "--config", &hw, "--synth", "--node", "130", "--cache", &cache,
    ];
    for (run, cached) in [(1, false), (2, true)] {
        let r = estimate_json(&args, &tmp.path().join(format!("{run}.json")));
        let s = &r["entries"][0]["synthesized_engine"];
        let sky130 = s["total_sky130_um2"].as_f64().unwrap();
        assert!(
            (sky130 - total).abs() <= 0.5,
            "{sky130} vs report area {total}"
        );
        assert_eq!(
            s["total_um2"].as_f64(),
            Some(sky130),
            "130 nm is sky130's row"
        );
        assert_eq!(s["cached"].as_bool(), Some(cached));
    }
}

#[test]
fn plot_is_an_svg_with_both_breakdowns() {
    let tmp = tempfile::tempdir().unwrap();
    let d4 = write(tmp.path(), "d4.toml", "engine = 'dense'\n");
    let svg = tmp.path().join("p.svg");
    succeed(&[
        "estimate",
        "--network",
        "resnet18-cifar",
        "--config",
        &d4,
        "--set",
        "macros=4",
        "--plot",
        &svg.display().to_string(),
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
    for needle in [
        "Area, every weight on chip",
        "DRAM weight traffic",
        "weight bitcells",
        "dense 4x128x128",
    ] {
        assert!(text.contains(needle), "{needle} not in the plot");
    }
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    assert_refused(
        &["estimate", "--network", "resnet19"],
        "no built-in network `resnet19`",
    );
    assert_refused(
        &["estimate", "--network", "resnet18", "--keep", "0"],
        "--keep 0 is invalid",
    );
    assert_refused(
        &["estimate", "--network", "resnet18", "--sparsity", "1"],
        "--sparsity 1 is invalid",
    );
    assert_refused(
        &["estimate", "--network", "resnet18", "--node", "3"],
        "node_nm = 3 is outside",
    );
    let k = write(tmp.path(), "k.toml", "bitcell_area = 1.0\n");
    assert_refused(
        &["estimate", "--network", "resnet18", "--constants", &k],
        "unknown constant `bitcell_area`",
    );
    let bad = write(tmp.path(), "bad.toml", "macros = 0\n");
    assert_refused(
        &["estimate", "--network", "resnet18", "--config", &bad],
        "macros",
    );
    // A folder that is not compressed images.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(
        &["estimate", "--images", &empty.display().to_string()],
        "manifest.json",
    );
    // A description without shapes and no weights.
    let m = write(
        tmp.path(),
        "m.toml",
        "input_scale = 1.0\n[[layer]]\nname = 'fc'\nkind = 'fc'\n",
    );
    assert_refused(&["estimate", "--model", &m], "layer `fc` has no `shape`");
}

/// With the weights in DRAM, every stored bit is fetched, the 8-bit
/// weights of a layer the host computes (`uncompressed = true`) included.
#[test]
fn host_layer_weights_are_fetched_from_dram_too() {
    let tmp = tempfile::tempdir().unwrap();
    let model = std::fs::read_to_string(digits("cnn.toml"))
        .unwrap()
        .replacen(
            "name = \"conv1\"",
            "name = \"conv1\"\nuncompressed = true",
            1,
        );
    let m = write(tmp.path(), "cnn_host.toml", &model);
    let w = digits("cnn.npz");
    let json = tmp.path().join("e.json");
    let v = estimate_json(&["--model", &m, "--weights", &w], &json);
    let e = &v["entries"][0];
    let stored = &e["stored_bits"];
    let host = stored["host"].as_f64().unwrap();
    assert_eq!(host, 8.0 * 16.0 * 9.0, "conv1's 8-bit weights: {stored}");
    let total: f64 = stored
        .as_object()
        .unwrap()
        .values()
        .map(|b| b.as_f64().unwrap())
        .sum();
    let dram_fj = e["streamed"]["energy_fj"][6].as_f64().unwrap();
    // constants.toml: dram_pj_per_bit = 20.
    assert!(
        (dram_fj - total * 20e3).abs() < 1e-6 * dram_fj,
        "DRAM {dram_fj} fJ for {total} stored bits"
    );
    // Its compute is charged too, in every schedule: 8 x 8 output
    // positions x 144 weights, each an 8-bit MAC of 0.23 pJ (host_mac_pj).
    let host_fj = 64.0 * 144.0 * 230.0;
    for chip in ["on_chip", "streamed", "batched"] {
        let got = e[chip]["energy_fj"][7].as_f64().unwrap();
        assert!((got - host_fj).abs() < 1e-6 * host_fj, "{chip}: {got}");
    }
}

/// The batched schedule loads each tile once per batch: its weight writes
/// and DRAM traffic per image fall with the batch, its partial-sum buffer
/// grows with it, and against the per-vector reloads of the one-engine
/// schedule it writes hundreds of times fewer bits.
#[test]
fn batched_schedule_loads_each_tile_once_per_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |batch: &str| {
        let v = estimate_json(
            &["--network", "resnet-fmnist", "--batch", batch],
            &tmp.path().join(format!("b{batch}.json")),
        );
        v["entries"][0].clone()
    };
    let (one, eight) = (run("1"), run("8"));
    let part = |e: &Value, chip: &str, i: usize| e[chip]["energy_fj"][i].as_f64().unwrap();
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} vs {b}");
    // Writes: each tile's load-port words once per batch.
    let words: f64 = one["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["engine_tiles"].as_f64().unwrap() * l["load_words_per_tile"].as_f64().unwrap())
        .sum();
    assert!(words > 0.0);
    close(part(&one, "batched", 5), 8.0 * part(&eight, "batched", 5));
    close(part(&one, "batched", 6), 8.0 * part(&eight, "batched", 6));
    close(part(&one, "batched", 6), part(&one, "streamed", 6));
    // The partial sums cost the same per image; the buffer holds a batch.
    close(part(&one, "batched", 8), part(&eight, "batched", 8));
    assert!(part(&one, "batched", 8) > 0.0 && part(&one, "streamed", 8) == 0.0);
    let buffer = |e: &Value| e["psum_buffer_bits"].as_u64().unwrap();
    assert_eq!(buffer(&eight), 8 * buffer(&one));
    let most = one["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["psum_bits"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(buffer(&one), most);
    // Per-vector reloads write far more than once per tile.
    let reloads = part(&one, "streamed", 5) / part(&one, "batched", 5);
    assert!(reloads > 50.0, "{reloads}");
    assert!(
        eight["batched"]["cycles"].as_u64() < one["streamed"]["cycles"].as_u64(),
        "fewer load cycles"
    );
    assert_refused(
        &["estimate", "--network", "resnet-fmnist", "--batch", "0"],
        "--batch 0 is invalid",
    );
}

/// `--sensitivity` as a user runs it: the band holds the model as given and
/// every setting, the paper's figures are marked, and a setting's point is
/// exactly what `estimate` prints with that constant (DRAM at 6 pJ per bit)
/// or key (wl_parallel = 16).
#[test]
fn sensitivity_band_agrees_with_plain_estimates() {
    let tmp = tempfile::tempdir().unwrap();
    let (pool, dense) = (
        write(tmp.path(), "pool.toml", ""),
        write(tmp.path(), "dense.toml", "engine = 'dense'\nw_bits = 4\n"),
    );
    let common = [
        "--network",
        "resnet-fmnist",
        "--config",
        &pool,
        "--config",
        &dense,
        "--keep",
        "0.5",
    ];
    let json = tmp.path().join("s.json");
    let mut args = common.to_vec();
    args.push("--sensitivity");
    let s = estimate_json(&args, &json);
    let band = |key: &str| {
        (
            s[key]["low"].as_f64().unwrap(),
            s[key]["high"].as_f64().unwrap(),
        )
    };
    let (a_lo, a_hi) = band("area_cut_all_at_once");
    let (e_lo, e_hi) = band("energy_ratio_all_at_once");
    let mut points = vec![s["base"].clone()];
    for row in s["rows"].as_array().unwrap() {
        for p in row["points"].as_array().unwrap() {
            points.push(p["headline"].clone());
        }
    }
    assert!(points.len() > 20, "{}", points.len());
    for h in &points {
        let (a, e) = (
            h["area_cut"].as_f64().unwrap(),
            h["energy_ratio"].as_f64().unwrap(),
        );
        assert!(a >= a_lo && a <= a_hi && e >= e_lo && e <= e_hi, "{h}");
    }
    assert!(e_hi > e_lo && a_hi > a_lo);

    // The point of a setting equals a plain estimate with that setting.
    let headline = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend_from_slice(extra);
        let v = estimate_json(&args, &tmp.path().join("e.json"));
        let e = v["entries"].as_array().unwrap();
        let area = |i: usize| sum(&e[i]["on_chip"]["area_um2"]);
        let energy = |i: usize| sum(&e[i]["streamed"]["energy_fj"]);
        (1.0 - area(0) / area(1), energy(1) / energy(0))
    };
    let point = |knob: &str, setting: &str| {
        let row = s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["knob"].as_str().unwrap().starts_with(knob))
            .unwrap_or_else(|| panic!("no knob {knob}"));
        let p = row["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["setting"] == setting)
            .unwrap_or_else(|| panic!("no setting {setting}"));
        (
            p["headline"]["area_cut"].as_f64().unwrap(),
            p["headline"]["energy_ratio"].as_f64().unwrap(),
        )
    };
    let close = |a: (f64, f64), b: (f64, f64)| {
        assert!(
            (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9,
            "{a:?} vs {b:?}"
        )
    };
    let k = write(tmp.path(), "k.toml", "dram_pj_per_bit = 6.0\n");
    close(
        point("DRAM energy per bit", "6 pJ (HBM2E)"),
        headline(&["--constants", &k]),
    );
    close(
        point("word lines per phase", "W = 16"),
        headline(&["--set", "wl_parallel=16"]),
    );
    close(
        (
            s["base"]["area_cut"].as_f64().unwrap(),
            s["base"]["energy_ratio"].as_f64().unwrap(),
        ),
        headline(&[]),
    );

    // The table marks the paper's figures.
    let mut args = vec!["estimate"];
    args.extend_from_slice(&common);
    args.push("--sensitivity");
    let out = succeed(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| CIMPool (paper) | | 62.3% ("), "{text}");
    assert!(text.contains("band, all knobs at once"), "{text}");

    // One configuration is not a comparison; image folders have no shapes.
    assert_refused(
        &[
            "estimate",
            "--network",
            "resnet-fmnist",
            "--config",
            &pool,
            "--sensitivity",
        ],
        "--sensitivity compares two configurations",
    );
}

/// A user's own macro figures (`--constants` with `macro_area_um2`,
/// `macro_fj_per_op`) replace the closed form's: on the dense engine the
/// weight macros of the chip are exactly that many times the area given.
#[test]
fn own_macro_figures_replace_the_closed_form() {
    let tmp = tempfile::tempdir().unwrap();
    let dense = write(tmp.path(), "d.toml", "engine = 'dense'\nw_bits = 4\n");
    let k = write(
        tmp.path(),
        "k.toml",
        "macro_area_um2 = 40000.0\nmacro_fj_per_op = 1.5\n",
    );
    let v = estimate_json(
        &[
            "--network",
            "resnet-fmnist",
            "--config",
            &dense,
            "--constants",
            &k,
        ],
        &tmp.path().join("e.json"),
    );
    let e = &v["entries"][0];
    let a = |i: usize| e["on_chip"]["area_um2"][i].as_f64().unwrap();
    let macros = e["on_chip"]["macros"].as_f64().unwrap();
    let macro_area = a(0) + a(3) + a(4) + a(5);
    assert!(
        (macro_area - 40000.0 * macros).abs() < 1e-6 * macro_area,
        "{macro_area} for {macros} macros"
    );
    // The products, read-out and accumulation: W x 1.5 fJ per column-phase.
    let without = estimate_json(
        &["--network", "resnet-fmnist", "--config", &dense],
        &tmp.path().join("e0.json"),
    );
    let compute = |e: &Value| -> f64 {
        (0..3)
            .map(|i| e["on_chip"]["energy_fj"][i].as_f64().unwrap())
            .sum()
    };
    assert!(compute(e) != compute(&without["entries"][0]));
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/estimate")
        .join(name)
        .display()
        .to_string()
}

/// The example files docs/ESTIMATE.md runs: the iso-accuracy pair stores
/// the bits per weight of the compressions COMPRESSION.md measured (0.659
/// and 2.002), and the baseline constants files load and move the dense
/// engine only.
#[test]
fn documented_examples_reproduce() {
    let tmp = tempfile::tempdir().unwrap();
    let v = estimate_json(
        &[
            "--model",
            &example("fmnist-mlp.toml"),
            "--config",
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/fmnist/hw.toml")
                .display()
                .to_string(),
            "--config",
            &example("fmnist-dense4.toml"),
            "--keep",
            "0.5",
            "--sparsity",
            "0.5",
        ],
        &tmp.path().join("iso.json"),
    );
    let bpw: Vec<String> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{:.3}", e["bits_per_weight"].as_f64().unwrap()))
        .collect();
    assert_eq!(bpw, ["0.659", "2.002"]);
    let area = |constants: Option<&str>| {
        let mut args = vec![
            "--network".to_string(),
            "resnet-fmnist".to_string(),
            "--config".to_string(),
            example("pool.toml"),
            "--config".to_string(),
            example("dense4.toml"),
        ];
        if let Some(c) = constants {
            args.extend(["--constants".to_string(), example(c)]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = estimate_json(&refs, &tmp.path().join("a.json"));
        let total = |i: usize| sum(&v["entries"][i]["on_chip"]["area_um2"]);
        (total(0), total(1))
    };
    let (pool, dense) = area(None);
    let (pool_zz, dense_zz) = area(Some("zigzag-dimc.toml"));
    assert_eq!(pool, pool_zz);
    assert!(dense_zz < dense, "{dense_zz} vs {dense}");
    // Shared ADCs need a lossy read-out: exact read-out is untouched.
    assert_eq!(area(Some("neurosim-adc.toml")), (pool, dense));
}

/// `--timing`: one engine's periphery timed in osu018 (black-box macros,
/// `report timing --hierarchical`), cached; its Fmax and cell area are what
/// `report timing` measures on the same package, and the images per second
/// at that clock follow from the cycles.
#[test]
fn timed_engine_is_report_timing_of_the_same_periphery() {
    require_tool("yosys");
    require_tool("sta");
    let tmp = tempfile::tempdir().unwrap();
    let small = "macros = 1\nrows = 8\ncols = 8\npool = 4\nout_lanes = 2\nscale_bits = 8\nbias_bits = 16\nmax_row_blocks = 4\n";
    let cfg = write(tmp.path(), "small.toml", small);
    let cache = tmp.path().join("cache").display().to_string();
    let args = [
        "--network",
        "resnet-fmnist",
        "--config",
        &cfg,
        "--timing",
        "--cache",
        &cache,
    ];
    let run = |json: &str| estimate_json(&args, &tmp.path().join(json));
    let first = run("first.json");
    let t = &first["entries"][0]["timed_engine"];
    assert_eq!(t["cached"], false);
    let fmax = t["fmax_mhz"].as_f64().unwrap();
    assert!(fmax > 10.0 && fmax < 2000.0, "{t}");
    // The same package through `report timing`.
    let rtl = tmp.path().join("rtl");
    let mut gen = vec!["gen", "--config", &cfg, "--storage", "blackbox"];
    let out_dir = rtl.display().to_string();
    gen.extend(["--out", &out_dir]);
    succeed(&gen);
    let out = succeed(&[
        "report",
        "timing",
        "--rtl",
        &out_dir,
        "--hierarchical",
        "--json",
        "-",
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["fmax_mhz"].as_f64().unwrap(), fmax);
    assert_eq!(r["area"]["total_area"], t["osu018_um2"]);
    // Cached the second time, same figures.
    let second = run("second.json");
    let t2 = &second["entries"][0]["timed_engine"];
    assert_eq!(t2["cached"], true);
    assert_eq!(t2["fmax_mhz"], t["fmax_mhz"]);
    // Images per second at the measured clock: Fmax / cycles.
    let cycles = first["entries"][0]["streamed"]["cycles"].as_f64().unwrap();
    let out = succeed(&[&["estimate"][..], &args].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "| images per second at its own Fmax: one engine | {:.1} |",
        fmax * 1e6 / cycles
    );
    assert!(text.contains(&want), "{want} not in {text}");
}

/// `estimate --host-layers` from shapes predicts the bits per weight and
/// stored bits `compress --host-layers` reports for the same placement
/// (the digits MLP, fc1 and fc3 on the host), more than with every layer
/// on the engine.
#[test]
fn host_layers_from_shapes_predict_what_compress_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("images").display().to_string();
    let (weights, model, hw, calib) = (
        digits("mlp.npz"),
        digits("model.toml"),
        digits("hw.toml"),
        digits("calib.npz"),
    );
    succeed(&[
        "compress",
        "--weights",
        &weights,
        "--model",
        &model,
        "--config",
        &hw,
        "--calib",
        &calib,
        "--keep",
        "1",
        "--host-layers",
        "fc1,fc3",
        "--out",
        &out_dir,
    ]);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&out_dir).join("report.json")).unwrap(),
    )
    .unwrap();
    let shapes = |extra: &[&str], name: &str| {
        let args = [
            &["--model", &model, "--weights", &weights, "--config", &hw][..],
            extra,
        ]
        .concat();
        estimate_json(&args, &tmp.path().join(name))["entries"][0]["bits_per_weight"]
            .as_f64()
            .unwrap()
    };
    let placed = shapes(&["--host-layers", "fc1,fc3"], "placed.json");
    let all_engine = shapes(&[], "engine.json");
    let compressed = report["bits_per_weight"]["total"].as_f64().unwrap();
    assert!(
        (placed - compressed).abs() < 1e-9,
        "{placed} vs {compressed}"
    );
    assert!(placed > all_engine + 1.0, "{placed} vs {all_engine}");
}
