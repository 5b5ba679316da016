//! ADC-aware training (issue 14, stage 2): tools/adc_train.py's forward
//! pass, given the integers `cimpool export` writes, reproduces the golden
//! model's outputs exactly on both engines, both ADC modes, several word
//! line counts, a host layer and a residual network; a short training run's
//! weights and learned ADC steps compress (`--adc-shifts`, `--scales-from`)
//! to images whose golden accuracy is the one the tool reported; bad
//! `--adc-shifts` files are refused naming the field.
//!
//! The training tools' pinned environment (build/venv-train, JAX) is
//! installed by `make test`; without it these tests fail and say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn digits(name: &str) -> String {
    root()
        .join("fixtures/digits")
        .join(name)
        .display()
        .to_string()
}

/// The dense engine, 4-bit weights, half the 16-row phase blocks pruned and
/// skipped, a 3-bit ADC.
const DENSE_SKIP_3BIT: &[&str] = &[
    "--engine",
    "dense",
    "--w-bits",
    "4",
    "--sparsity",
    "0.5",
    "--set",
    "sparsity=skip",
    "--set",
    "wl_parallel=16",
    "--set",
    "adc_bits=3",
];

fn python() -> PathBuf {
    common::train_python()
}

fn cimpool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(args)
        .output()
        .expect("cimpool runs")
}

fn ok(out: Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn adc_train(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("adc_train.py")
        .args(args)
        .current_dir(root().join("tools"))
        .output()
        .expect("python runs");
    ok(out, &format!("adc_train.py {args:?}"))
}

/// Compresses with `args`, exports, runs the golden model on `data` and
/// checks the training tool's forward pass against it.
fn check_exact(dir: &Path, args: &[&str], data: &str) {
    let d = dir.display().to_string();
    let mut all = vec!["compress", "--out", &d];
    all.extend_from_slice(args);
    ok(cimpool(&all), "compress");
    let export = format!("{d}/engine.npz");
    let golden = format!("{d}/golden.npy");
    ok(
        cimpool(&["export", "--images", &d, "--out", &export]),
        "export",
    );
    ok(
        cimpool(&["run", "--images", &d, "--data", data, "--outputs", &golden]),
        "run",
    );
    let text = adc_train(&[
        "check", "--images", &d, "--export", &export, "--data", data, "--golden", &golden,
    ]);
    assert!(
        text.contains(", 0 differ from the golden model"),
        "{args:?}: {text}"
    );
    // The float stage's convolutions are the im2col products' sums.
    assert!(
        text.contains("float stage, convolutions agree with the im2col products"),
        "{args:?}: {text}"
    );
    // An exact read-out takes one product per phase; the bit planes (a
    // lossy ADC's path) must give the same integers.
    let config = std::fs::read_to_string(dir.join("cim_config.toml")).unwrap();
    if config.contains("\nadc_bits = 0\n") {
        let text = adc_train(&[
            "check",
            "--images",
            &d,
            "--export",
            &export,
            "--data",
            data,
            "--golden",
            &golden,
            "--bit-planes",
        ]);
        assert!(
            text.contains(", 0 differ from the golden model"),
            "{args:?} --bit-planes: {text}"
        );
    }
}

#[test]
fn forward_pass_reproduces_the_golden_model_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (mlp, cnn) = (digits("model.toml"), digits("cnn.toml"));
    // A host (uncompressed) first layer.
    let host_model = tmp.path().join("cnn-host.toml");
    std::fs::write(
        &host_model,
        std::fs::read_to_string(&cnn)
            .unwrap()
            .replace("name = \"conv1\"", "name = \"conv1\"\nuncompressed = true"),
    )
    .unwrap();
    let host_model = host_model.display().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "mlp-floor4",
            [digits_network("mlp", &mlp), s(&["--set", "adc_bits=4"])].concat(),
        ),
        (
            "cnn-round3-w16",
            [
                digits_network("cnn", &cnn),
                s(&[
                    "--set",
                    "adc_bits=3",
                    "--set",
                    "adc_mode=round_clamp",
                    "--set",
                    "wl_parallel=16",
                ]),
            ]
            .concat(),
        ),
        (
            "cnn-dense-skip",
            [digits_network("cnn", &cnn), s(DENSE_SKIP_3BIT)].concat(),
        ),
        (
            "mlp-dense-compact",
            [
                digits_network("mlp", &mlp),
                s(&[
                    "--engine",
                    "dense",
                    "--w-bits",
                    "2",
                    "--sparsity",
                    "0.5",
                    "--set",
                    "sparsity=compact",
                    "--set",
                    "slots=2",
                    "--set",
                    "wl_parallel=16",
                    "--set",
                    "adc_bits=3",
                    "--set",
                    "adc_mode=round_even_clamp",
                ]),
            ]
            .concat(),
        ),
        (
            "mlp-round-even3-w32",
            [
                digits_network("mlp", &mlp),
                s(&[
                    "--set",
                    "adc_bits=3",
                    "--set",
                    "adc_mode=round_even_clamp",
                    "--set",
                    "wl_parallel=32",
                ]),
            ]
            .concat(),
        ),
        (
            "cnn-host-exact",
            [digits_network("cnn", &host_model), s(&["--keep", "0.3"])].concat(),
        ),
        // Exact read-outs: one product per phase of 16 word lines.
        (
            "cnn-exact-w16",
            [digits_network("cnn", &cnn), s(&["--set", "wl_parallel=16"])].concat(),
        ),
        (
            "mlp-dense-exact-w16",
            [
                digits_network("mlp", &mlp),
                s(&[
                    "--engine",
                    "dense",
                    "--w-bits",
                    "4",
                    "--sparsity",
                    "0.5",
                    "--set",
                    "sparsity=skip",
                    "--set",
                    "wl_parallel=16",
                ]),
            ]
            .concat(),
        ),
        // 8-bit weights on 1024 word lines: the bound on a partial sum passes
        // 2^24, so the products run in float64.
        (
            "mlp-dense8-exact-w1024",
            [
                digits_network("mlp", &mlp),
                s(&[
                    "--engine",
                    "dense",
                    "--w-bits",
                    "8",
                    "--sparsity",
                    "0.25",
                    "--set",
                    "rows=1024",
                ]),
            ]
            .concat(),
        ),
    ];
    for (name, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check_exact(&tmp.path().join(name), &args, &digits("test.npz"));
    }
    // The residual network (adds, average pooling, flatten) on Fashion-MNIST images.
    let fm = root().join("fixtures/fmnist");
    check_exact(
        &tmp.path().join("resnet"),
        &[
            "--network",
            "resnet-fmnist",
            "--random-weights",
            "3",
            "--config",
            &fm.join("hw.toml").display().to_string(),
            "--calib",
            &fm.join("calib.npz").display().to_string(),
            "--set",
            "adc_bits=4",
            "--set",
            "wl_parallel=32",
        ],
        &fm.join("t10k-images-idx3-ubyte.gz").display().to_string(),
    );
}

/// `cimpool compress ARGS --out PT`, then its integers exported to EXPORT.
fn compress_and_export(args: &[&str], pt: &str, export: &str) {
    ok(
        cimpool(&[&["compress"][..], args, &["--out", pt]].concat()),
        "compress",
    );
    ok(
        cimpool(&["export", "--images", pt, "--out", export]),
        "export",
    );
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// compress's arguments for a digits network (`<net>.npz`) with the given
/// model description, on the digits hardware and calibration set.
fn digits_network(net: &str, model: &str) -> Vec<String> {
    s(&[
        "--weights",
        &digits(&format!("{net}.npz")),
        "--model",
        model,
        "--config",
        &digits("hw.toml"),
        "--calib",
        &digits("calib.npz"),
    ])
}

fn accuracy(text: &str) -> String {
    let i = text.find("accuracy ").expect("an accuracy") + "accuracy ".len();
    text[i..].split('%').next().unwrap().to_string()
}

/// Trains for a few epochs from the post-training images of `hw` and checks
/// that the recompressed images give the accuracy training reported, and a
/// gain of at least `gain` points; `train_flags` go to adc_train.py train.
fn round_trip(hw: &[&str], pool: bool, gain: f64, train_flags: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let pt = d("pt");
    ok(
        cimpool(
            &[
                &["compress", "--weights", &digits("mlp.npz"), "--out", &pt][..],
                hw,
            ]
            .concat(),
        ),
        "compress",
    );
    let before = accuracy(&ok(
        cimpool(&["run", "--images", &pt, "--data", &digits("test.npz")]),
        "run",
    ));
    let export = d("engine.npz");
    ok(
        cimpool(&["export", "--images", &pt, "--out", &export]),
        "export",
    );
    let (weights, shifts, pool_file) =
        (d("trained.npz"), d("shifts.json"), format!("{pt}/pool.npy"));
    let (start, train, test) = (digits("mlp.npz"), digits("train.npz"), digits("test.npz"));
    let mut args = vec![
        "train",
        "--images",
        &pt,
        "--export",
        &export,
        "--weights",
        &start,
        "--train",
        &train,
        "--data",
        &test,
        "--epochs",
        "3",
        "--out",
        &weights,
        "--shifts",
        &shifts,
        "--keep",
        "1.0",
    ];
    let trained = d("trained");
    let mut again = vec![
        "compress",
        "--weights",
        &weights,
        "--adc-shifts",
        &shifts,
        "--scales-from",
        &pt,
        "--out",
        &trained,
    ];
    args.extend(train_flags);
    if pool {
        args.extend(["--pool", &pool_file]);
        again.extend(["--pool", &pool_file]);
    }
    let log = adc_train(&args);
    assert!(
        log.contains("rebuild the images' integers exactly"),
        "{log}"
    );
    let reported = accuracy(&log[log.find("after ").expect("an after line")..]);
    ok(cimpool(&[&again[..], hw].concat()), "compress trained");
    let golden = accuracy(&ok(
        cimpool(&["run", "--images", &trained, "--data", &digits("test.npz")]),
        "run trained",
    ));
    assert_eq!(
        golden, reported,
        "the golden model of the trained images vs the training tool"
    );
    let (b, g): (f64, f64) = (before.parse().unwrap(), golden.parse().unwrap());
    assert!(
        g > b + gain,
        "3 epochs of ADC-aware training: {before}% -> {golden}%"
    );
}

#[test]
fn trained_weights_and_learned_steps_compress_to_what_training_computed() {
    let (model, config, calib) = (digits("model.toml"), digits("hw.toml"), digits("calib.npz"));
    let common = ["--model", &model, "--config", &config, "--calib", &calib];
    // The pool engine, 3-bit floor ADC on 64 word lines.
    round_trip(
        &[&common[..], &["--keep", "1.0", "--set", "adc_bits=3"]].concat(),
        true,
        10.0,
        &[],
    );
    // The dense engine, 4-bit weights, half the phase blocks skipped, 3-bit ADC on 16,
    // with LSQ's gradient through the ADC (no gradient through clamped codes).
    round_trip(
        &[&common[..], DENSE_SKIP_3BIT].concat(),
        false,
        20.0,
        &["--adc-grad", "clamp"],
    );
}

#[test]
fn bad_adc_shift_files_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |json: &str, adc: &str| {
        let f = tmp.path().join("s.json");
        std::fs::write(&f, json).unwrap();
        let net = digits_network("mlp", &digits("model.toml"));
        let (f, o) = (
            f.display().to_string(),
            tmp.path().join("o").display().to_string(),
        );
        let mut args = vec!["compress"];
        args.extend(net.iter().map(String::as_str));
        args.extend(["--set", adc, "--adc-shifts", &f, "--out", &o]);
        cimpool(&args)
    };
    for (json, adc, want) in [
        (
            r#"{"fc1": 9}"#,
            "adc_bits=4",
            "layer `fc1`: adc_shift = 9 is outside 0..=3",
        ),
        (r#"{"fc9": 1}"#, "adc_bits=4", "no engine layer `fc9`"),
        (r#"[1, 2]"#, "adc_bits=4", "not a JSON object"),
        (r#"{"fc1": 1}"#, "adc_bits=0", "reads out exactly"),
    ] {
        let out = run(json, adc);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {err}");
        assert!(err.contains(want), "{json}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// The ADC step's LSQ gradient is written by hand (a custom VJP that sums
/// it in the forward pass, for speed); it must equal automatic
/// differentiation of the plain ADC in the three modes and at several
/// steps, and its codes equal docs/SPEC.md's integer formulas.
/// `--adc-grad clamp`'s in-range shares and per-phase weight gradient are
/// checked against loops.
#[test]
fn hand_written_adc_step_gradient_matches_automatic_differentiation() {
    let out = adc_train(&["gradcheck"]);
    assert!(out.contains("gradcheck: 0 mismatches"), "{out}");
    // Three ADC modes: four steps each, and the codes against SPEC's integers.
    assert_eq!(out.matches("(automatic ").count(), 12, "{out}");
    assert_eq!(out.matches("matches the loops").count(), 3, "{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
    assert!(out.contains("weight gradient matches"), "{out}");
}

/// Refinement moves by the loss but keeps the most accurate configuration
/// it scored: on made-up scores where a lower loss comes with lower
/// accuracy it keeps the start, and where a move that costs accuracy opens
/// a better one it keeps the better one.
#[test]
fn shift_refinement_keeps_the_most_accurate_configuration_it_scored() {
    let out = adc_train(&["refinecheck"]);
    assert!(out.contains("refinecheck: 0 wrong"), "{out}");
    assert_eq!(out.matches("refinecheck: kept").count(), 3, "{out}");
    assert!(
        out.contains("kept ADC shifts [0, 0], the most accurate"),
        "{out}"
    );
}

/// The chain `make train` runs, from any source compress takes: post-training
/// images with the network written BatchNorm folded, the training tool's
/// forward pass against the golden model, `epochs` of training that writes
/// its weights, ADC steps, pool indices and kept tiles (`--choices`, pool
/// engine) and its test accuracy, the images recompressed from exactly
/// those, and their golden accuracy: the same number of correct test
/// samples as training reported. Returns the training log.
fn chain(source: &[&str], hw: &[&str], keep: &str, train_flags: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (pt, test, train) = (d("pt"), digits("test.npz"), digits("train.npz"));
    let calib = digits("calib.npz");
    let common: Vec<&str> = [&["--calib", calib.as_str()][..], hw].concat();
    let mut first = vec!["compress"];
    first.extend(source);
    first.extend(&common);
    first.extend(["--keep", keep, "--write-folded", "--out", &pt]);
    ok(cimpool(&first), "compress");
    let (export, golden) = (d("engine.npz"), d("golden.npy"));
    ok(
        cimpool(&["export", "--images", &pt, "--out", &export]),
        "export",
    );
    ok(
        cimpool(&[
            "run",
            "--images",
            &pt,
            "--data",
            &test,
            "--outputs",
            &golden,
        ]),
        "run",
    );
    let check = adc_train(&[
        "check", "--images", &pt, "--export", &export, "--data", &test, "--golden", &golden,
    ]);
    assert!(
        check.contains(", 0 differ from the golden model"),
        "{check}"
    );
    let dense = std::fs::read_to_string(format!("{pt}/cim_config.toml"))
        .unwrap()
        .contains("engine = \"dense\"");
    let (folded, pool) = (format!("{pt}/folded.npz"), format!("{pt}/pool.npy"));
    let (weights, shifts, choices, report) = (
        d("trained.npz"),
        d("shifts.json"),
        d("choices.npz"),
        d("train.json"),
    );
    let mut args = vec![
        "train",
        "--images",
        &pt,
        "--export",
        &export,
        "--weights",
        &folded,
        "--keep",
        keep,
        "--train",
        &train,
        "--data",
        &test,
        "--out",
        &weights,
        "--shifts",
        &shifts,
        "--report",
        &report,
        "--batch",
        "64",
    ];
    args.extend(train_flags);
    let model = format!("{pt}/folded.toml");
    let images = d("images");
    let mut again = vec![
        "compress",
        "--weights",
        &weights,
        "--model",
        &model,
        "--adc-shifts",
        &shifts,
        "--scales-from",
        &pt,
        "--out",
        &images,
    ];
    // Pruned by output effect: the later compression weighs by the moments
    // the first one wrote (and training used).
    let moments = format!("{pt}/moments.npz");
    for a in &common {
        if *a == "--prune-by-output" {
            again.extend(["--moments", moments.as_str()]);
        } else {
            again.push(a);
        }
    }
    // --train-pool: training writes the pool the trained images must use.
    let trained_pool = d("trained_pool.npy");
    let learns_pool = train_flags.contains(&"--train-pool");
    if dense {
        again.extend(["--keep", keep]);
    } else {
        args.extend(["--pool", &pool, "--choices", &choices]);
        if learns_pool {
            args.extend(["--pool-out", &trained_pool]);
        }
        let used = if learns_pool { &trained_pool } else { &pool };
        again.extend(["--pool", used, "--choices", &choices]);
    }
    let log = adc_train(&args);
    assert!(
        log.contains("rebuild the images' integers exactly"),
        "{log}"
    );
    ok(cimpool(&again), "compress trained");
    let golden_json = d("golden.json");
    ok(
        cimpool(&[
            "run",
            "--images",
            &images,
            "--data",
            &test,
            "--json",
            &golden_json,
        ]),
        "run trained",
    );
    let same = adc_train(&[
        "same",
        "--report",
        &report,
        "--golden",
        &golden_json,
        "--images",
        &images,
    ]);
    assert!(same.contains("as training reported"), "{same}");
    log
}

/// The count that opens the log line starting with `prefix` ("trained
/// pool: 12 of 4096 bits flipped" -> 12).
fn count_after(log: &str, prefix: &str) -> usize {
    log.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}N ...` line: {log}"))
}

fn sklearn_mlp() -> String {
    root()
        .join("fixtures/onnx/sklearn/scaled_mlp.onnx")
        .display()
        .to_string()
}

/// scikit-learn's MLP from its ONNX file (Scaler folded, label branch cut):
/// the pool engine with a 3-bit ADC (learned steps), and the dense engine
/// with 4-bit weights, half its phase blocks pruned and a 3-bit ADC.
#[test]
fn an_onnx_network_trains_and_compresses_to_what_training_computed() {
    let onnx = sklearn_mlp();
    let source = ["--onnx", onnx.as_str()];
    let hw = digits("hw.toml");
    let pool_hw = ["--config", &hw, "--set", "pool=16", "--set", "adc_bits=3"];
    let log = chain(&source, &pool_hw, "0.5", &["--epochs", "2", "--lr", "3e-3"]);
    assert!(log.contains("after 2 epochs"), "{log}");
    let dense_hw: Vec<&str> = [&["--config", hw.as_str()][..], DENSE_SKIP_3BIT].concat();
    chain(
        &source,
        &dense_hw,
        "1.0",
        &["--epochs", "2", "--lr", "3e-3"],
    );
}

/// The pool learned with the weights (`--train-pool`): some of its bits
/// flip, and compress with the trained pool and training's choices makes
/// images whose golden accuracy is training's.
#[test]
fn a_trained_pool_compresses_to_what_training_computed() {
    let (w, m, hw) = (digits("mlp.npz"), digits("model.toml"), digits("hw.toml"));
    let source = ["--weights", w.as_str(), "--model", m.as_str()];
    let pool_hw = ["--config", hw.as_str(), "--set", "pool=16"];
    let log = chain(
        &source,
        &pool_hw,
        "0.5",
        &[
            "--epochs",
            "3",
            "--lr",
            "1e-3",
            "--train-pool",
            "--pool-lr",
            "1e-2",
        ],
    );
    let flipped = count_after(&log, "trained pool: ");
    assert!(flipped > 0, "no pool bit flipped: {log}");
}

/// A network built to tie: every weight of the digits MLP set to +-c, so
/// a row block's score against a +-1 pool vector is c times an integer and
/// many pool vectors score exactly alike. Training with a zero learning rate
/// keeps the ties to the end; compress takes the pool indices and kept
/// tiles training chose (`--choices`) and reproduces its accuracy.
#[test]
fn tied_scores_fall_the_way_training_chose() {
    use ndarray_npy::{NpzReader, NpzWriter};
    let tmp = tempfile::tempdir().unwrap();
    let tied = tmp.path().join("tied.npz");
    {
        let mut r = NpzReader::new(std::fs::File::open(digits("mlp.npz")).unwrap()).unwrap();
        let mut w = NpzWriter::new(std::fs::File::create(&tied).unwrap());
        for name in r.names().unwrap() {
            let a: ndarray::ArrayD<f32> = r.by_name(&name).unwrap();
            let key = name.trim_end_matches(".npy");
            let a = if key.ends_with(".weight") {
                a.mapv(|v| if v >= 0.0 { 0.0625 } else { -0.0625 })
            } else {
                a
            };
            w.add_array(key, &a).unwrap();
        }
        w.finish().unwrap();
    }
    let model = digits("model.toml");
    let tied_s = tied.display().to_string();
    let source = ["--weights", tied_s.as_str(), "--model", model.as_str()];
    let hw = digits("hw.toml");
    // Ties: with every weight +-c, some row block's best score is shared.
    let out = tmp.path().join("pt");
    ok(
        cimpool(&[
            "compress",
            "--weights",
            &tied_s,
            "--model",
            &model,
            "--config",
            &hw,
            "--calib",
            &digits("calib.npz"),
            "--out",
            &out.display().to_string(),
        ]),
        "compress",
    );
    let pool: ndarray::Array2<i8> = ndarray_npy::read_npy(out.join("pool.npy")).unwrap();
    let mut r = NpzReader::new(std::fs::File::open(&tied).unwrap()).unwrap();
    let fc1: ndarray::Array2<f32> = r
        .by_name("fc1.weight.npy")
        .or_else(|_| r.by_name("fc1.weight"))
        .unwrap();
    let rows = pool.ncols();
    let mut tied_blocks = 0;
    for row in fc1.rows() {
        for b in 0..row.len().div_ceil(rows) {
            let scores: Vec<i64> = pool
                .rows()
                .into_iter()
                .map(|q| {
                    (0..rows)
                        .filter(|&i| b * rows + i < row.len())
                        .map(|i| {
                            let s = (row[b * rows + i] > 0.0) == (q[i] > 0);
                            if s {
                                1
                            } else {
                                -1
                            }
                        })
                        .sum()
                })
                .collect();
            let best = *scores.iter().max().unwrap();
            tied_blocks += (scores.iter().filter(|&&s| s == best).count() > 1) as usize;
        }
    }
    assert!(tied_blocks > 0, "the built network has tied best scores");
    chain(
        &source,
        &["--config", &hw],
        "0.5",
        &["--epochs", "1", "--lr", "0"],
    );
}

/// `code` run by the training environment's Python in `tools/` (so it
/// imports the training tools' modules); its standard output.
fn tools_python(code: &str, what: &str) -> String {
    let out = Command::new(python())
        .args(["-c", code])
        .current_dir(root().join("tools"))
        .output()
        .expect("python runs");
    ok(out, what)
}

/// The projection's dot product (tools/projection.py `rust_dot`, which
/// scores the pool vectors, so near ties fall as compress's) is Rust's
/// `dot` bit for bit: every length with and without a tail of the eight
/// lanes, shorter than one lane too, values of mixed magnitudes.
#[test]
fn the_projections_dot_is_rusts() {
    let mut cases = Vec::new();
    let mut seed = 7u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed
    };
    for n in (1..=20).chain([64, 67, 128]) {
        let a: Vec<f32> = (0..n)
            .map(|_| {
                (next() as f32 / u32::MAX as f32 - 0.5) * [1e-3, 1.0, 1e3][next() as usize % 3]
            })
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|_| if next() % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        cases.push((a, b));
    }
    let list = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let code = cases
        .iter()
        .map(|(a, b)| {
            format!(
                "print(int(rust_dot(np.array([{}], dtype=np.float32), np.array([{}], dtype=np.float32)).view(np.uint32)))",
                list(a),
                list(b)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let got = tools_python(
        &format!("import numpy as np\nfrom projection import rust_dot\n{code}"),
        "rust_dot",
    );
    let want: Vec<String> = cases
        .iter()
        .map(|(a, b)| cimpool::network::float::dot(a, b).to_bits().to_string())
        .collect();
    assert_eq!(got.trim(), want.join("\n"));
}

/// The projection's rounding (tools/projection.py `round_half_away`, which
/// the dense quantization and the integer scales use) is Rust's `f32::round`
/// on values next to a half, where `floor(|x| + 0.5)` is not: 0.49999997 +
/// 0.5 rounds to 1.0 in float32, and a trained weight at that many steps
/// became 1 in training and 0 in compress.
#[test]
fn the_projections_rounding_is_rusts() {
    let mut values: Vec<f32> = vec![0.49999997, 0.5, -0.5, 1.5, -2.5, 2.4999998, 1e7 + 0.5];
    for k in 0..200 {
        let half = k as f32 + 0.5;
        values.extend([
            half,
            f32::from_bits(half.to_bits() - 1),
            -f32::from_bits(half.to_bits() + 1),
        ]);
    }
    let list: Vec<String> = values.iter().map(|v| format!("{:?}", v)).collect();
    let code = format!(
        "import numpy as np\nfrom projection import round_half_away as r\nprint(' '.join(str(int(v)) for v in r(np.array([{}], dtype=np.float32))))",
        list.join(",")
    );
    let got = tools_python(&code, "round_half_away");
    let want: Vec<String> = values
        .iter()
        .map(|v| (v.round() as i64).to_string())
        .collect();
    assert_eq!(got.trim(), want.join(" "));
}

/// `make train` resumes from its checkpoints: a run against the pool (3-bit
/// ADC, learned steps, the pool's signs trained too) stopped twice, mid
/// epoch and in the next epoch, and resumed ends on exactly the weights,
/// ADC shifts and pool of a run never stopped; a checkpoint of another run
/// (another learning rate) is refused in one line, exit 2.
#[test]
fn interrupted_hardware_training_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (pt, export) = (d("pt"), d("engine.npz"));
    let (model, config, calib) = (digits("model.toml"), digits("hw.toml"), digits("calib.npz"));
    let mlp = digits("mlp.npz");
    compress_and_export(
        &[
            "--weights",
            &mlp,
            "--model",
            &model,
            "--config",
            &config,
            "--calib",
            &calib,
            "--keep",
            "0.5",
            "--set",
            "adc_bits=3",
            "--set",
            "pool=16",
        ],
        &pt,
        &export,
    );
    let (weights, train, test, pool) = (
        digits("mlp.npz"),
        digits("train.npz"),
        digits("test.npz"),
        format!("{pt}/pool.npy"),
    );
    let run = |name: &str, extra: &[&str]| -> Output {
        let (out, shifts, pool_out, ckpt) = (
            d(&format!("{name}.npz")),
            d(&format!("{name}.json")),
            d(&format!("{name}-pool.npy")),
            d(&format!("{name}.ckpt")),
        );
        let args = [
            &[
                "adc_train.py",
                "train",
                "--images",
                &pt,
                "--export",
                &export,
                "--weights",
                &weights,
                "--pool",
                &pool,
                "--keep",
                "0.5",
                "--train",
                &train,
                "--data",
                &test,
                "--epochs",
                "2",
                "--batch",
                "64",
                "--train-pool",
                "--pool-lr",
                "1e-2",
                "--refine-shifts",
                "0",
                "--out",
                &out,
                "--shifts",
                &shifts,
                "--pool-out",
                &pool_out,
                "--checkpoint",
                &ckpt,
            ][..],
            extra,
        ]
        .concat();
        Command::new(python())
            .args(&args)
            .current_dir(root().join("tools"))
            .output()
            .expect("python runs")
    };
    let log = |out: Output, what: &str| ok(out, what);
    log(run("whole", &[]), "the whole run");
    let first = log(run("parts", &["--stop-after", "5"]), "the first part");
    assert!(
        first.contains("stopped after 5 steps (epoch 1, step 5)"),
        "{first}"
    );
    let second = log(run("parts", &["--stop-after", "20"]), "the second part");
    assert!(
        second.contains("resuming") && second.contains("stopped after 20 steps (epoch 2,"),
        "{second}"
    );
    assert!(!Path::new(&d("parts.npz")).exists());
    log(run("parts", &[]), "the last part");
    let read = |name: &str| cimpool::network::tensors::read_tensors(Path::new(&d(name))).unwrap();
    let (whole, parts) = (read("whole.npz"), read("parts.npz"));
    assert!(!whole.is_empty());
    assert_eq!(whole, parts, "the resumed run's weights differ");
    for f in ["whole.json", "whole-pool.npy"] {
        let other = f.replace("whole", "parts");
        assert_eq!(
            std::fs::read(d(f)).unwrap(),
            std::fs::read(d(&other)).unwrap(),
            "{f} vs {other}"
        );
    }
    // The same checkpoint for a run with another learning rate: refused.
    std::fs::copy(d("parts.ckpt"), d("other.ckpt")).unwrap();
    let out = run("other", &["--lr", "1e-2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a checkpoint of another run (it differs in lr)")
            && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// `compress --clip-weights` on scikit-learn's MLP with its StandardScaler
/// folded in (first-layer weights up to 19.7 on pixels that are almost
/// never on, median 0.04): the dense engine's 4-bit step is then set by
/// the live weights and post-training accuracy goes from chance to float's;
/// `--write-folded` writes the clipped weights and the trainer's projection
/// rebuilds the images from them; with `--scales-from` or `--morph` it is
/// refused in one line.
#[test]
fn clipping_outlying_weights_saves_a_folded_scaler() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (onnx, hw, calib, test) = (
        sklearn_mlp(),
        digits("hw.toml"),
        digits("calib.npz"),
        digits("test.npz"),
    );
    let base = [
        "compress", "--onnx", &onnx, "--config", &hw, "--set", "pool=8", "--engine", "dense",
        "--w-bits", "4", "--calib", &calib,
    ];
    let golden = |dir: &str| -> f64 {
        accuracy(&ok(
            cimpool(&["run", "--images", dir, "--data", &test]),
            "run",
        ))
        .parse()
        .unwrap()
    };
    let (plain, clipped) = (d("plain"), d("clipped"));
    ok(
        cimpool(&[&base[..], &["--out", &plain]].concat()),
        "compress",
    );
    let log = ok(
        cimpool(
            &[
                &base[..],
                &["--clip-weights", "--write-folded", "--out", &clipped],
            ]
            .concat(),
        ),
        "compress --clip-weights",
    );
    let (p, c) = (golden(&plain), golden(&clipped));
    assert!(
        p < 20.0 && c > 95.0,
        "4-bit dense: {p}% as given, {c}% clipped"
    );
    // The first layer's clip, as the note gives it, bounds the written weights.
    let note = log
        .lines()
        .find(|l| l.starts_with("clip-weights: layer `MatMul` clipped at "))
        .unwrap_or_else(|| panic!("no clip note: {log}"));
    let clip: f32 = note["clip-weights: layer `MatMul` clipped at ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let folded =
        cimpool::network::tensors::read_tensors(Path::new(&format!("{clipped}/folded.npz")))
            .unwrap();
    let w = &folded["MatMul.weight"].data;
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        (max - clip).abs() <= 5.1e-5,
        "max |w| {max}, clip {clip} (the note gives 4 decimals)"
    );
    // The trainer starts from the clipped network: its projection rebuilds
    // the images' integers.
    let export = d("engine.npz");
    ok(
        cimpool(&["export", "--images", &clipped, "--out", &export]),
        "export",
    );
    let (folded_w, train) = (format!("{clipped}/folded.npz"), digits("train.npz"));
    let (o, s) = (d("t.npz"), d("t.json"));
    let log = adc_train(&[
        "train",
        "--images",
        &clipped,
        "--export",
        &export,
        "--weights",
        &folded_w,
        "--train",
        &train,
        "--data",
        &test,
        "--epochs",
        "0",
        "--keep",
        "1.0",
        "--out",
        &o,
        "--shifts",
        &s,
    ]);
    assert!(
        log.contains("rebuild the images' integers exactly"),
        "{log}"
    );
    for (extra, what) in [
        (&["--scales-from", clipped.as_str()][..], "--scales-from"),
        (&["--morph"][..], "--morph"),
    ] {
        let out = cimpool(&[&base[..], extra, &["--clip-weights", "--out", &d("x")]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        // The import's notes come first; the refusal is one line.
        let refusals: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("--clip-weights"))
            .collect();
        assert!(
            refusals.len() == 1 && refusals[0].contains(what) && !out.status.success(),
            "{what}: {err}"
        );
    }
}

/// `--distill`: training against the float network's soft targets (the
/// digits MLP on the pool engine with a 3-bit ADC) compresses to what
/// training computed; a teacher that is another network is refused in one
/// line, exit 2, before training.
#[test]
fn distillation_trains_and_compresses_to_what_training_computed() {
    let (w, m, hw) = (digits("mlp.npz"), digits("model.toml"), digits("hw.toml"));
    let log = chain(
        &["--weights", &w, "--model", &m],
        &["--config", &hw, "--set", "adc_bits=3"],
        "0.5",
        &["--epochs", "2", "--distill", "0.7", "--distill-temp", "2"],
    );
    assert!(
        log.contains("distillation: soft targets of") && log.contains("temperature 2, weight 0.7"),
        "{log}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (pt, export) = (d("pt"), d("engine.npz"));
    let calib = digits("calib.npz");
    compress_and_export(
        &[
            "--weights",
            &w,
            "--model",
            &m,
            "--config",
            &hw,
            "--calib",
            &calib,
        ],
        &pt,
        &export,
    );
    let (pool, train, test, cnn) = (
        format!("{pt}/pool.npy"),
        digits("train.npz"),
        digits("test.npz"),
        digits("cnn.npz"),
    );
    let (o, s) = (d("o.npz"), d("s.json"));
    let out = Command::new(python())
        .args([
            "adc_train.py",
            "train",
            "--images",
            &pt,
            "--export",
            &export,
            "--weights",
            &w,
            "--pool",
            &pool,
            "--train",
            &train,
            "--data",
            &test,
            "--epochs",
            "1",
            "--out",
            &o,
            "--shifts",
            &s,
            "--distill",
            "0.5",
            "--teacher",
            &cnn,
        ])
        .current_dir(root().join("tools"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.trim().lines().count() == 1 && err.contains("--teacher") && err.contains("fc1.weight"),
        "{err}"
    );
}

/// `--prune-by-output` (error tiles and phase blocks ranked by output
/// effect, each square weighted by its input column's mean square): the
/// digits MLP's half-pruned 4-bit dense images go from 51% to over 65%
/// post-training; training on either engine weighs by the same moments
/// (the images' moments.npz) and the images compressed again with
/// `--moments` are what training computed; bad moments and a recompression
/// that would recompute them are refused in one line.
#[test]
fn pruning_by_output_effect_trains_and_compresses_to_what_training_computed() {
    let (w, m, hw) = (digits("mlp.npz"), digits("model.toml"), digits("hw.toml"));
    let source = ["--weights", w.as_str(), "--model", m.as_str()];
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (calib, test) = (digits("calib.npz"), digits("test.npz"));
    let dense = [
        "--config",
        hw.as_str(),
        "--engine",
        "dense",
        "--w-bits",
        "4",
        "--sparsity",
        "0.5",
        "--set",
        "wl_parallel=16",
        "--set",
        "sparsity=skip",
    ];
    let golden = |extra: &[&str], name: &str| -> f64 {
        let out = d(name);
        let args = [
            &["compress"][..],
            &source,
            &dense,
            &["--calib", &calib, "--out", &out],
            extra,
        ]
        .concat();
        ok(cimpool(&args), "compress");
        accuracy(&ok(
            cimpool(&["run", "--images", &out, "--data", &test]),
            "run",
        ))
        .parse()
        .unwrap()
    };
    let (by_weight, by_output) = (golden(&[], "w"), golden(&["--prune-by-output"], "o"));
    assert!(
        by_output > by_weight + 10.0 && by_output > 65.0,
        "{by_weight}% -> {by_output}%"
    );
    for hw_flags in [
        &dense[..],
        &["--config", hw.as_str(), "--set", "adc_bits=3"][..],
    ] {
        let flags = [hw_flags, &["--prune-by-output"]].concat();
        let keep = if hw_flags.len() > 4 { "1.0" } else { "0.5" };
        chain(&source, &flags, keep, &["--epochs", "1"]);
    }
    // Moments of another network, and recomputed moments for trained weights.
    let (o, x, cnn) = (d("o"), d("x"), digits("cnn.npz"));
    let bad = [
        (vec!["--moments", cnn.as_str()], "--moments"),
        (
            vec!["--prune-by-output", "--scales-from", o.as_str()],
            "--scales-from",
        ),
    ];
    for (extra, what) in bad {
        let args = [
            &["compress"][..],
            &source,
            &dense,
            &["--calib", &calib, "--out", &x],
            &extra,
        ]
        .concat();
        let out = cimpool(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.trim().lines().count() == 1 && err.contains(what),
            "{what}: {err}"
        );
    }
}

/// `--channel-gain`: each output channel trained as a gain times a
/// direction (the digits CNN on the pool engine): the log gives the gains'
/// spread, and the trained images are what training computed (the gain is
/// multiplied back in before every projection and in the written weights).
#[test]
fn channel_gains_train_and_compress_to_what_training_computed() {
    let (w, m, hw) = (digits("cnn.npz"), digits("cnn.toml"), digits("hw.toml"));
    let log = chain(
        &["--weights", &w, "--model", &m],
        &["--config", &hw],
        "0.5",
        &["--epochs", "1", "--channel-gain"],
    );
    let line = log
        .lines()
        .find(|l| l.starts_with("channel gains:"))
        .unwrap_or_else(|| panic!("no channel gains line: {log}"));
    // "... per layer 1.3x to 4.0x": the CNN's channels are not all one scale.
    let most: f64 = line
        .rsplit(" to ")
        .next()
        .and_then(|t| t.trim_end_matches('x').parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(most > 1.0, "{line}");
}

/// A folder that is not a compress run's images: one line, exit 2, before
/// anything loads.
#[test]
fn a_folder_without_images_is_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    adc_train_refuses(
        &["check", "--images", &dir, "--export", "x.npz"],
        "no manifest.json",
    );
}

/// Runs adc_train.py with `args` and requires a refusal: exit code 2 and
/// one line on stderr containing `needle`.
fn adc_train_refuses(args: &[&str], needle: &str) {
    let out = Command::new(python())
        .arg("adc_train.py")
        .args(args)
        .current_dir(root().join("tools"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.trim().lines().count() == 1 && err.contains(needle),
        "{args:?}: {err}"
    );
}

/// A progressive keep ratio (`--keep-from 1 --keep-ramp 2`, the digits MLP
/// at keep 0.5): the epochs train at 1, 0.75 and 0.5, and what is written
/// is projected at 0.5: the trained images are what training computed.
#[test]
fn a_progressive_keep_ratio_ramps_down_and_writes_the_images_keep() {
    let (w, m, hw) = (digits("mlp.npz"), digits("model.toml"), digits("hw.toml"));
    let log = chain(
        &["--weights", &w, "--model", &m],
        &["--config", &hw],
        "0.5",
        &["--epochs", "3", "--keep-from", "1", "--keep-ramp", "2"],
    );
    for (epoch, keep) in [(1, "1.000"), (2, "0.750"), (3, "0.500")] {
        assert!(
            log.contains(&format!("epoch {epoch}/3 (keep {keep}): loss")),
            "epoch {epoch} at keep {keep}: {log}"
        );
    }
}

/// --keep-from and --keep-ramp refused on their own, before any file is
/// read: one line, exit 2, naming the flag, the value and what is allowed.
#[test]
fn progressive_keep_flags_are_checked_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    for (flags, needle) in [
        (
            &["--keep-ramp", "2"][..],
            "--keep-ramp 2: give --keep-from too",
        ),
        (
            &["--keep-from", "0.4", "--keep-ramp", "1"][..],
            "--keep-from 0.4: allowed above --keep (0.5) and at most 1",
        ),
        (
            &["--keep-from", "0.8"][..],
            "--keep-from 0.8: give --keep-ramp N too",
        ),
        (
            &["--keep-from", "0.8", "--keep-ramp", "3"][..],
            "--keep-ramp 3: allowed 1 to 2",
        ),
    ] {
        let mut args = vec!["train", "--images", &dir, "--export", "x.npz"];
        args.extend(["--keep", "0.5", "--epochs", "3"]);
        args.extend(flags);
        adc_train_refuses(&args, needle);
    }
}

/// `check` and `refine` refuse a data set of another shape (Fashion-MNIST's
/// 784 pixels for the digits MLP's 64 inputs) in one line, as `train` does,
/// instead of reshaping its pixels into samples of the network's length.
#[test]
fn check_and_refine_refuse_data_of_another_shape_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display().to_string();
    let export = format!("{d}/engine.npz");
    let net = digits_network("mlp", &digits("model.toml"));
    let mut args: Vec<&str> = net.iter().map(String::as_str).collect();
    args.extend(["--set", "adc_bits=4"]);
    compress_and_export(&args, &d, &export);
    let fm = root()
        .join("fixtures/fmnist/t10k-images-idx3-ubyte.gz")
        .display()
        .to_string();
    let needle = "samples of 784 values; the network takes 64 (64x1x1)";
    adc_train_refuses(
        &[
            "check", "--images", &d, "--export", &export, "--data", &fm, "--golden", "g.npy",
        ],
        needle,
    );
    adc_train_refuses(
        &[
            "refine",
            "--images",
            &d,
            "--export",
            &export,
            "--train",
            &fm,
            "--data",
            &fm,
            "--shifts",
            &format!("{d}/shifts.json"),
        ],
        needle,
    );
}

/// `--train-host`: the host layers' weights train too (the digits CNN with
/// conv1 on the host), projected as compress quantizes them (8 bits, one
/// step per layer): the projection rebuilds the host layer's integers, its
/// 8-bit weights move, and the trained images are what training computed.
#[test]
fn host_layers_train_and_compress_to_what_training_computed() {
    let (w, m, hw) = (digits("cnn.npz"), digits("cnn.toml"), digits("hw.toml"));
    let log = chain(
        &["--weights", &w, "--model", &m],
        &["--config", &hw, "--host-layers", "conv1"],
        "0.5",
        &["--epochs", "1", "--train-host"],
    );
    assert!(log.contains("(2 engine layers, 1 host layers)"), "{log}");
    let moved = count_after(&log, "host layer conv1: ");
    assert!(moved > 0, "no host weight changed: {log}");
}

/// `--train-host` without host layers is refused in one line.
#[test]
fn training_host_layers_needs_some() {
    let tmp = tempfile::tempdir().unwrap();
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let (pt, export) = (d("pt"), d("engine.npz"));
    let args = digits_network("mlp", &digits("model.toml"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    compress_and_export(&args, &pt, &export);
    adc_train_refuses(
        &[
            "train",
            "--images",
            &pt,
            "--export",
            &export,
            "--weights",
            &digits("mlp.npz"),
            "--pool",
            &format!("{pt}/pool.npy"),
            "--train",
            &digits("train.npz"),
            "--data",
            &digits("test.npz"),
            "--out",
            &d("trained.npz"),
            "--shifts",
            &d("shifts.json"),
            "--train-host",
        ],
        "--train-host: ",
    );
}
