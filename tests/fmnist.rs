//! Fashion-MNIST: the IDX files Debian ships (a 300-image subset of the test
//! set in fixtures/fmnist/), corrupted IDX files refused with one line,
//! the residual CNN fine-tuned by tools/fmnist.py on the golden model, with
//! exact read-out and with a calibrated 4-bit ADC, and tools/fmnist.py's
//! float training: resumable from its checkpoints, ResNet-20 as cimpool
//! names it.

mod common;

use cimpool::compress;
use cimpool::config::Config;
use cimpool::network::{self, model::ModelDesc, tensors};
use cimpool::{images, run};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fmnist")
        .join(name)
}

fn test_images() -> PathBuf {
    fixture("t10k-images-idx3-ubyte.gz")
}

#[test]
fn idx_test_subset_reads_as_fashion_mnist() {
    let d = tensors::read_dataset(&test_images(), true).unwrap();
    assert_eq!(d.x.len(), 300);
    assert_eq!(d.y.len(), 300);
    assert!(d.x.iter().all(|x| x.len() == 28 * 28));
    assert!(d.x.iter().flatten().all(|&v| (0..=255).contains(&v)));
    // The first test images are an ankle boot, a pullover and two trousers.
    assert_eq!(d.y[..4], [9, 2, 1, 1]);
    for class in 0..10 {
        assert!(d.y.contains(&class), "class {class} missing");
    }
    // Without labels wanted, a lone images file reads too.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("t10k-images-idx3-ubyte.gz");
    std::fs::copy(test_images(), &lone).unwrap();
    assert_eq!(tensors::read_dataset(&lone, false).unwrap().x, d.x);
    let e = tensors::read_dataset(&lone, true).unwrap_err().to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte.gz"), "{e}");
    // Neither .npz nor IDX: said so, with both accepted forms.
    let e = tensors::read_dataset(&fixture("hw.toml"), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("hw.toml: unsupported data file") && e.contains("idx3"),
        "{e}"
    );
}

/// A truncated gzip stream, a truncated raw file, a file that is not IDX and
/// labels that do not match the images: one line naming the file, exit 2.
#[test]
fn corrupted_idx_files_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let gz = std::fs::read(test_images()).unwrap();
    let raw = {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    let labels = std::fs::read(fixture("t10k-labels-idx1-ubyte.gz")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("gz", gz[..gz.len() / 2].to_vec(), "gzip stream"),
        ("raw", raw[..raw.len() - 100].to_vec(), "truncated?"),
        ("magic", b"P5\n28 28\n255\n".to_vec(), "magic number"),
    ];
    for (name, bytes, needle) in cases {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        let images = sub.join("t10k-images-idx3-ubyte.gz");
        std::fs::write(&images, bytes).unwrap();
        std::fs::write(sub.join("t10k-labels-idx1-ubyte.gz"), &labels).unwrap();
        let err = common::assert_refused(
            &[
                "compress",
                "--network",
                "resnet-fmnist",
                "--random-weights",
                "1",
                "--config",
                &fixture("hw.toml").display().to_string(),
                "--calib",
                &images.display().to_string(),
                "--out",
                &sub.join("out").display().to_string(),
            ],
            needle,
        );
        assert!(
            err.contains(&*images.display().to_string()),
            "{name}: {err}"
        );
    }
    // 300 images, 299 labels.
    let sub = dir.path().join("labels");
    std::fs::create_dir(&sub).unwrap();
    let images = sub.join("t10k-images-idx3-ubyte");
    std::fs::write(&images, &raw).unwrap();
    let mut short = vec![0, 0, 8, 1, 0, 0, 0x01, 0x2b];
    short.extend(std::iter::repeat(0).take(299));
    std::fs::write(sub.join("t10k-labels-idx1-ubyte"), short).unwrap();
    let e = tensors::read_dataset(&images, true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("299 labels for the 300 images"),
        "{e}"
    );
}

/// The residual CNN (`cimpool model resnet-fmnist`) fine-tuned against its
/// post-training pool at keep 0.5 by `make fmnist` (fixtures: the
/// fine-tuned weights and that pool), compressed again with the same pool
/// for an ADC of `adc_bits` (0: exact read-out), its images written to `dir`.
fn finetuned_residual_cnn(
    adc_bits: u32,
    dir: &Path,
) -> (network::model::Network, compress::Compressed) {
    let mut config =
        Config::from_toml(&std::fs::read_to_string(fixture("hw.toml")).unwrap()).unwrap();
    config.adc_bits = adc_bits;
    let config = config.resolved();
    config.validate().unwrap();
    let desc: ModelDesc = network::builtin::network("resnet-fmnist").unwrap();
    let net = desc
        .network(&tensors::read_tensors(&fixture("resnet_finetuned.npz")).unwrap())
        .unwrap();
    let pool = tensors::read_pool(
        &fixture("pool.npy"),
        config.pool as usize,
        config.rows as usize,
    )
    .unwrap();
    let calib = tensors::read_dataset(&fixture("calib.npz"), false).unwrap();
    let options = compress::Options {
        keep_ratio: 0.5,
        iterations: 25,
        seed: 1,
        pool: Some(pool),
        sparsity: 0.0,
        scales: None,
        choices: None,
        moments: None,
    };
    let c = compress::compress(&config, &net, &calib.x, &options, |_, _, _| {}).unwrap();
    images::write(&c, dir).unwrap();
    (net, c)
}

/// The fine-tuned residual CNN on the golden model's integer path from
/// its memory images.
#[test]
fn finetuned_residual_cnn_runs_on_the_golden_model_from_its_images() {
    let dir = tempfile::tempdir().unwrap();
    let (net, c) = finetuned_residual_cnn(0, dir.path());
    let test = tensors::read_dataset(&test_images(), true).unwrap();
    let out = run::golden(&images::read(dir.path()).unwrap(), &test.x, |_, _| {}).unwrap();
    let integer = run::accuracy(&out, &test.y);
    let (_, compressed_float) = compress::report::float_accuracies(&net, &c.layers, &test);
    let bits = c.budget().total;
    eprintln!(
        "resnet-fmnist keep 0.5, {bits:.3} bit/weight, 300 test images: compressed float {compressed_float:.4}, golden integer {integer:.4}"
    );
    assert!((0.5..=1.0).contains(&bits), "{bits} bit/weight");
    // The integer path (8-bit activations, integer adds) tracks the float
    // arithmetic on the same compressed weights.
    assert!(
        (integer - compressed_float).abs() <= 0.02,
        "integer {integer} vs float {compressed_float}"
    );
    // make fmnist measured FMNIST_FIXTURE_ACCURACY on all 10,000 test
    // images; 300 images carry about 2 points of sampling noise.
    assert!(integer >= FMNIST_FIXTURE_ACCURACY - 0.04, "{integer}");
}

/// The float network's accuracy on `data`, inputs times `input_scale`.
fn float_accuracy(net: &network::model::Network, data: &tensors::Dataset) -> f64 {
    use rayon::prelude::*;
    let outputs: Vec<Vec<f32>> = data
        .x
        .par_iter()
        .map(|x| {
            let x: Vec<f32> = x
                .iter()
                .map(|&v| v as f32 * net.input_scale as f32)
                .collect();
            let layer = |li: usize| {
                let l = &net.layers[li];
                network::graph::FloatLayer {
                    weights: &l.weights,
                    bias: &l.bias,
                    geometry: &l.geometry,
                    relu: l.relu,
                    clip: l.clip,
                }
            };
            net.graph.forward_float(&layer, &x, &mut |_, _| {})
        })
        .collect();
    network::float::accuracy(&outputs, &data.y)
}

/// `make fmnist-float` copies the committed float weights instead of
/// training: they must be the trained networks. Their float accuracy on
/// the 300-image slice is within 4 points (about twice the sampling noise)
/// of what `fmnist.py train` measured on all 10,000 test images.
#[test]
fn committed_float_weights_are_the_trained_networks() {
    let test = tensors::read_dataset(&test_images(), true).unwrap();
    for (name, file, measured) in [
        ("resnet-fmnist", "resnet_float.npz", 0.9126),
        ("resnet20-fmnist", "resnet20_float.npz", 0.9205),
    ] {
        let net = network::builtin::network(name)
            .unwrap()
            .network(&tensors::read_tensors(&fixture(file)).unwrap())
            .unwrap();
        let accuracy = float_accuracy(&net, &test);
        eprintln!("{file}: float {accuracy:.4} on 300 test images ({measured} on 10,000)");
        assert!(accuracy >= measured - 0.04, "{file}: {accuracy}");
    }
}

/// Golden integer accuracy of the fixture network on all 10,000 test images
/// (docs/COMPRESSION.md, `make fmnist`).
const FMNIST_FIXTURE_ACCURACY: f64 = 0.8615;

/// Ten engine layers and two residual adds in a row: with the
/// generation-time ADC step a 4-bit ADC turns the fine-tuned residual CNN
/// into chance, and the steps calibrated per layer bring it back to within
/// a few points of exact read-out (docs/COMPRESSION.md, ADC-aware
/// training: the pool, not a 4-bit ADC, is what this network has to
/// be trained for).
#[test]
fn calibrated_adc_steps_keep_the_finetuned_residual_cnn_near_exact_read_out() {
    let test = tensors::read_dataset(&test_images(), true).unwrap();
    let accuracy = |imgs: &images::Images| {
        run::accuracy(&run::golden(imgs, &test.x, |_, _| {}).unwrap(), &test.y)
    };
    let exact_dir = tempfile::tempdir().unwrap();
    finetuned_residual_cnn(0, exact_dir.path());
    let exact = accuracy(&images::read(exact_dir.path()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    finetuned_residual_cnn(4, dir.path());
    let mut imgs = images::read(dir.path()).unwrap();
    let fixed = accuracy(&imgs);
    let calib = tensors::read_dataset(&fixture("calib.npz"), false).unwrap();
    let cal = cimpool::pipeline::adc_calib::calibrate(&mut imgs, &calib.x[..64], false).unwrap();
    let calibrated = accuracy(&imgs);
    eprintln!(
        "fine-tuned residual CNN, 300 test images: exact read-out {exact:.4}; 4-bit ADC on W = 64: generation-time step {fixed:.4}, calibrated steps {calibrated:.4} {:?}",
        cal.shifts
    );
    assert_eq!(cal.shifts.iter().flatten().count(), 10, "{:?}", cal.shifts);
    assert!(fixed < 0.3, "generation-time step: {fixed}");
    assert!(
        calibrated >= exact - 0.03,
        "calibrated {calibrated} vs exact {exact}"
    );
}

/// tools/fmnist.py's training environment (installed by `make test`).
fn train_python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/venv-train/bin/python");
    assert!(
        py.exists(),
        "{} is missing: `make test` installs it (or `make build/venv-train/.installed`)",
        py.display()
    );
    py
}

/// The training Python run in tools/ with `args`.
fn tools_python(args: &[&str]) -> std::process::Output {
    std::process::Command::new(train_python())
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools"))
        .output()
        .expect("python runs")
}

fn fmnist_py(args: &[&str]) -> String {
    let out = tools_python(&[&["fmnist.py"][..], args].concat());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fmnist.py {args:?} failed:\n{text}");
    text
}

/// `make fmnist-float` resumes from its checkpoint: a run stopped twice
/// (mid-epoch and in the next epoch) and resumed ends on exactly the
/// weights of a run that was never stopped, and a checkpoint of another
/// run is refused in one line. The 300 fixture images serve as training
/// data (9 batches of 32 a epoch).
#[test]
fn interrupted_float_training_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for kind in ["images-idx3", "labels-idx1"] {
        let from = fixture(&format!("t10k-{kind}-ubyte.gz"));
        for split in ["train", "t10k"] {
            std::fs::copy(&from, data.join(format!("{split}-{kind}-ubyte.gz"))).unwrap();
        }
    }
    let path = |name: &str| tmp.path().join(name).display().to_string();
    let data = data.display().to_string();
    let train = |ckpt: &str, out: &str, extra: &[&str]| {
        let (c, o) = (path(ckpt), path(out));
        let args = [
            &[
                "train", "--net", "mlp", "--epochs", "3", "--batch", "32", "--data", &data,
            ][..],
            &["--checkpoint", &c, "--out", &o],
            extra,
        ]
        .concat();
        fmnist_py(&args)
    };
    train("whole.ckpt", "whole.npz", &[]);
    let first = train("parts.ckpt", "parts.npz", &["--stop-after", "5"]);
    assert!(
        first.contains("stopped after 5 steps (epoch 1, step 5)"),
        "{first}"
    );
    let second = train("parts.ckpt", "parts.npz", &["--stop-after", "8"]);
    assert!(
        second.contains("resuming") && second.contains("stopped after 8 steps (epoch 2, step 4)"),
        "{second}"
    );
    assert!(!Path::new(&path("parts.npz")).exists());
    train("parts.ckpt", "parts.npz", &[]);
    let read = |name: &str| tensors::read_tensors(Path::new(&path(name))).unwrap();
    let (whole, parts) = (read("whole.npz"), read("parts.npz"));
    assert!(!whole.is_empty());
    assert_eq!(whole, parts, "the resumed run's weights differ");
    // Another network's checkpoint: one line, exit 2, before any training.
    let (ckpt, r) = (path("parts.ckpt"), path("r.npz"));
    let out = tools_python(&[
        "fmnist.py",
        "train",
        "--net",
        "resnet",
        "--epochs",
        "3",
        "--batch",
        "32",
        "--data",
        &data,
        "--checkpoint",
        &ckpt,
        "--out",
        &r,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a checkpoint of another run") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// The JAX ResNet-20 that `make fmnist-float` trains holds exactly the
/// tensors `cimpool model resnet20-fmnist` names, with their shapes: its
/// initial weights compress.
#[test]
fn the_trainers_resnet20_is_cimpools() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("r20.npz");
    let code = format!(
        "import fmnist, jax\nnet = fmnist.ResNet20()\np, s = net.init(jax.random.PRNGKey(0))\nfmnist.save({:?}, p, s)",
        npz.display().to_string()
    );
    let out = tools_python(&["-c", &code]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let desc = network::builtin::network("resnet20-fmnist").unwrap();
    let weights = tensors::read_tensors(&npz).unwrap();
    let net = desc.network(&weights).unwrap();
    assert_eq!(net.layers.len(), 22);
    let config = Config::from_toml(&std::fs::read_to_string(fixture("hw.toml")).unwrap())
        .unwrap()
        .resolved();
    let calib = tensors::read_dataset(&fixture("calib.npz"), false).unwrap();
    let options = compress::Options {
        keep_ratio: 0.5,
        iterations: 5,
        seed: 1,
        pool: None,
        sparsity: 0.0,
        scales: None,
        choices: None,
        moments: None,
    };
    let c = compress::compress(&config, &net, &calib.x[..16], &options, |_, _, _| {}).unwrap();
    assert_eq!(c.layers.len(), 22);
}

/// ResNet-20 (`cimpool model resnet20-fmnist`, 22 engine layers) fine-tuned
/// against its post-training pool at keep 0.35 by `make fmnist` (its
/// float stage; fixtures: the fine-tuned weights as training wrote them,
/// BatchNorm folded, their model description, the pool and training's
/// choices), compressed again as `make train` does and run on the golden
/// model from its images, with the command line a user runs.
#[test]
fn finetuned_resnet20_recompresses_to_its_measured_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let out = common::compress_resnet20_fixture(&images);
    assert!(out.status.success(), "{}", common::text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(images.join("report.json")).unwrap())
            .unwrap();
    let bits = report["bits_per_weight"]["total"].as_f64().unwrap();
    // The given masks keep 35% of the error tiles: the report says so
    // (not the --keep default the pinned choices replace).
    let keep = report["keep_ratio"].as_f64().unwrap();
    assert!((keep - 0.35).abs() < 0.005, "report keep_ratio {keep}");
    let json = dir.path().join("golden.json");
    let out = common::cimpool(&[
        "run",
        "--images",
        images.to_str().unwrap(),
        "--data",
        test_images().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let accuracy = golden["accuracy"].as_f64().unwrap();
    eprintln!("resnet20-fmnist keep 0.35, {bits:.3} bit/weight, 300 test images: golden integer {accuracy:.4}");
    assert_eq!(golden["engine_layers"], 22);
    // The papers' operating point: at most 0.55 bit per weight, counted
    // as CIMPool counts it (indices, error bits, masks, scales, pool).
    assert!((0.45..=0.55).contains(&bits), "{bits} bit/weight");
    // make fmnist measured RESNET20_FIXTURE_ACCURACY on all 10,000 test
    // images; 300 images carry about 2 points of sampling noise. After
    // post-training compression alone the network is at chance (10%).
    assert!(accuracy >= RESNET20_FIXTURE_ACCURACY - 0.04, "{accuracy}");
}

/// Golden integer accuracy of the ResNet-20 fixture on all 10,000 test
/// images (docs/COMPRESSION.md, `make fmnist FMNIST_NETS=resnet20
/// FMNIST_KEEPS=0.35`).
const RESNET20_FIXTURE_ACCURACY: f64 = 0.89;
