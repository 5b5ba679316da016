//! The IDX format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte.gz`
//! and its `train-labels-idx1-ubyte.gz`), raw or gzip-compressed.
//!
//! A file is two zero bytes, a type byte (0x08: unsigned bytes, the only one
//! these data sets use), the number of dimensions, each dimension as a
//! big-endian u32, then the values in row-major order. Every rule is checked,
//! so a truncated download is reported by file rather than read as fewer
//! images.

use super::tensors::{Dataset, TensorError};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

const UNSIGNED_BYTE: u8 = 0x08;

/// The labels file that goes with an images file, by the data sets' naming
/// (`...-images-idx3-ubyte[.gz]` -> `...-labels-idx1-ubyte[.gz]`).
pub fn labels_path(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    name.contains("images-idx3")
        .then(|| images.with_file_name(name.replace("images-idx3", "labels-idx1")))
}

/// Whether a path names an IDX file (by the data sets' naming).
pub fn is_idx(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("-idx") && (n.ends_with("-ubyte") || n.ends_with("-ubyte.gz")))
}

/// Images (samples, rows * columns) and, when the labels file is there or
/// `need_labels`, their labels.
pub fn read_idx_dataset(images: &Path, need_labels: bool) -> Result<Dataset, TensorError> {
    let (dims, pixels) = read_idx(images, 3)?;
    let per_image = dims[1] * dims[2];
    let x = pixels
        .chunks_exact(per_image)
        .map(|c| c.iter().map(|&v| v as i64).collect())
        .collect();
    let labels = labels_path(images);
    let y = match labels {
        Some(l) if need_labels || l.exists() => {
            let (ldims, values) = read_idx(&l, 1)?;
            if ldims[0] != dims[0] {
                return Err(format_error(
                    &l,
                    format!(
                        "{} labels for the {} images of {}",
                        ldims[0],
                        dims[0],
                        images.display()
                    ),
                ));
            }
            values.into_iter().map(i64::from).collect()
        }
        None if need_labels => return Err(format_error(
            images,
            "cannot tell where its labels are: name the images file `...-images-idx3-ubyte[.gz]` \
                 next to its `...-labels-idx1-ubyte[.gz]`"
                .into(),
        )),
        _ => Vec::new(),
    };
    Ok(Dataset { x, y })
}

fn format_error(path: &Path, reason: String) -> TensorError {
    TensorError::Format {
        path: path.display().to_string(),
        format: "IDX",
        reason,
    }
}

/// The dimensions and values of an IDX file of unsigned bytes with `ndim`
/// dimensions.
pub fn read_idx(path: &Path, ndim: usize) -> Result<(Vec<usize>, Vec<u8>), TensorError> {
    let raw = std::fs::read(path).map_err(|e| TensorError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format_error(path, format!("gzip stream: {e} (truncated download?)")))?;
        out
    } else {
        raw
    };
    parse(&bytes, ndim).map_err(|reason| format_error(path, reason))
}

fn parse(bytes: &[u8], ndim: usize) -> Result<(Vec<usize>, Vec<u8>), String> {
    let header = 4 + 4 * ndim;
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes; an IDX header has at least 4",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "magic number starts {:#04x} {:#04x}; IDX files start with two zero bytes",
            bytes[0], bytes[1]
        ));
    }
    if bytes[2] != UNSIGNED_BYTE {
        return Err(format!(
            "value type {:#04x}; only unsigned bytes (0x08) are supported",
            bytes[2]
        ));
    }
    if bytes[3] as usize != ndim {
        return Err(format!(
            "{} dimensions; expected {ndim} ({})",
            bytes[3],
            if ndim == 3 {
                "images, rows, columns"
            } else {
                "labels"
            }
        ));
    }
    if bytes.len() < header {
        return Err(format!(
            "{} bytes; the header alone is {header}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    if let Some(zero) = dims.iter().position(|&d| d == 0) {
        return Err(format!("dimension {zero} is 0"));
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} describe more values than memory can hold"))?;
    let body = bytes.len() - header;
    if body != expected {
        return Err(format!(
            "{body} bytes of values; dimensions {dims:?} need {expected}{}",
            if body < expected { " (truncated?)" } else { "" }
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, UNSIGNED_BYTE, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(values);
        b
    }

    #[test]
    fn parses_dimensions_and_values() {
        let (dims, v) = parse(&file(&[2, 1, 3], &[1, 2, 3, 4, 5, 6]), 3).unwrap();
        assert_eq!(dims, [2, 1, 3]);
        assert_eq!(v, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_every_broken_rule() {
        let good = file(&[2, 1, 3], &[1, 2, 3, 4, 5, 6]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..5].to_vec(), "header alone"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([&good[..], &[0]].concat(), "need 6"),
            ([&[1u8][..], &good[1..]].concat(), "magic"),
            ([&good[..2], &[0x0d], &good[3..]].concat(), "value type"),
            (file(&[6], &[0; 6]), "expected 3"),
            (file(&[0, 1, 3], &[]), "dimension 0 is 0"),
            (vec![0, 0], "at least 4"),
        ];
        for (bytes, want) in cases {
            let e = parse(&bytes, 3).unwrap_err();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
        }
    }

    #[test]
    fn pairs_images_with_labels_by_name() {
        let l = labels_path(Path::new("/d/t10k-images-idx3-ubyte.gz")).unwrap();
        assert_eq!(l, Path::new("/d/t10k-labels-idx1-ubyte.gz"));
        assert!(labels_path(Path::new("x.npz")).is_none());
        assert!(is_idx(Path::new("train-images-idx3-ubyte")));
        assert!(!is_idx(Path::new("test.npz")));
    }
}
