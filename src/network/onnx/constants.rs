//! Constant values of an ONNX graph: initializers (inline or in external
//! data files), `Constant` nodes, and everything computed from them and
//! from known shapes before import (`Shape` -> `Gather` -> `Unsqueeze` ->
//! `Concat` -> `Reshape` flatten chains, `Identity` aliases of weights,
//! weight transposes). Folding runs on small tensors of f32 or i64 values
//! with numpy broadcasting; the batch dimension is 1.

use onnx_rs::ast::{Attribute, DataLocation, DataType, TensorProto};
use std::path::Path;

/// A constant tensor: floats (any float type, widened or narrowed to f32)
/// or integers (any integer or bool type, as i64).
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: Data,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F(Vec<f32>),
    I(Vec<i64>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
        }
    }
}

impl Const {
    pub fn floats(shape: Vec<usize>, v: Vec<f32>) -> Const {
        Const {
            shape,
            data: Data::F(v),
        }
    }
    pub fn ints(shape: Vec<usize>, v: Vec<i64>) -> Const {
        Const {
            shape,
            data: Data::I(v),
        }
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F(v) => v.clone(),
            Data::I(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
    /// The values as i64 (floats truncated toward zero, as ONNX Cast does).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            Data::F(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I(v) => v.clone(),
        }
    }
    fn take(&self, idx: &[usize], shape: Vec<usize>) -> Const {
        Const {
            shape,
            data: match &self.data {
                Data::F(v) => Data::F(idx.iter().map(|&i| v[i]).collect()),
                Data::I(v) => Data::I(idx.iter().map(|&i| v[i]).collect()),
            },
        }
    }
}

/// Why a tensor could not be read.
pub type Reason = String;

/// The most values one constant may hold: VGG-19's largest weight matrix
/// (102,760,448) fits; a corrupt shape is refused instead of allocated.
pub const MAX_VALUES: usize = 1 << 27;

/// The number of values of `shape`, refused past [`MAX_VALUES`] (no
/// overflow on a corrupt shape).
pub fn count(shape: &[usize]) -> Result<usize, Reason> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| format!("shape {shape:?} holds more than {MAX_VALUES} values"))
}

/// Reads an initializer (or a `Constant`'s tensor). External data is read
/// from the file named by `location`, relative to `dir` (the model's folder),
/// at `offset` for `length` bytes.
pub fn read(t: &TensorProto, dir: &Path) -> Result<Const, Reason> {
    let shape: Vec<usize> = t
        .dims()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
        .collect::<Result<_, _>>()?;
    let n = count(&shape)?;
    let dt = t.data_type();
    let external;
    let raw: Option<&[u8]> =
        if t.data_location() == DataLocation::External || !t.external_data().is_empty() {
            external = read_external(t, dir)?;
            Some(&external)
        } else {
            t.as_raw()
        };
    let data = if let Some(raw) = raw {
        decode_raw(raw, dt)?
    } else {
        match dt {
            DataType::Float => Data::F(t.as_f32().map(|d| d.into_owned()).unwrap_or_default()),
            DataType::Double => Data::F(
                t.as_f64()
                    .map(|d| d.iter().map(|&x| x as f32).collect())
                    .unwrap_or_default(),
            ),
            DataType::Int64 => Data::I(t.as_i64().map(|d| d.into_owned()).unwrap_or_default()),
            DataType::Int32
            | DataType::Int16
            | DataType::Int8
            | DataType::Uint8
            | DataType::Uint16
            | DataType::Bool => Data::I(
                t.as_i32()
                    .map(|d| d.iter().map(|&x| x as i64).collect())
                    .unwrap_or_default(),
            ),
            DataType::Float16 | DataType::Bfloat16 => {
                // Stored in int32_data, one 16-bit value each.
                let v = t.as_i32().map(|d| d.into_owned()).unwrap_or_default();
                Data::F(v.iter().map(|&b| half(b as u16, dt)).collect())
            }
            other => {
                return Err(format!(
                    "its type {other:?} is not a number type cimpool reads"
                ))
            }
        }
    };
    if data.len() != n {
        return Err(format!(
            "it holds {} values for its shape {shape:?}",
            data.len()
        ));
    }
    Ok(Const { shape, data })
}

fn read_external(t: &TensorProto, dir: &Path) -> Result<Vec<u8>, Reason> {
    let field = |k: &str| {
        t.external_data()
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value)
    };
    let location = field("location").ok_or("its external data names no `location`")?;
    let number = |k: &str| -> Result<Option<u64>, Reason> {
        field(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("external data {k} `{v}` is not a number"))
            })
            .transpose()
    };
    let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(format!(
            "its external data file `{location}` is outside the model's folder"
        ));
    }
    let file = dir.join(rel);
    let bytes = std::fs::read(&file).map_err(|e| {
        format!(
            "its weights are in the external data file {} (next to the model), which cannot be read: {e}",
            file.display()
        )
    })?;
    let start = offset as usize;
    let end = match length {
        Some(l) => start.checked_add(l as usize),
        None => Some(bytes.len()),
    };
    match end {
        Some(end) if start <= end && end <= bytes.len() => Ok(bytes[start..end].to_vec()),
        _ => Err(format!(
            "its external data (offset {offset}, length {length:?}) runs past the end of {} ({} bytes)",
            file.display(),
            bytes.len()
        )),
    }
}

fn half(bits: u16, dt: DataType) -> f32 {
    if dt == DataType::Bfloat16 {
        return f32::from_bits((bits as u32) << 16);
    }
    let (sign, exp, frac) = (
        (bits >> 15) as u32,
        ((bits >> 10) & 0x1f) as i32,
        (bits & 0x3ff) as f32,
    );
    let v = match exp {
        0 => frac * 2f32.powi(-24),
        31 => {
            if frac == 0.0 {
                f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    };
    if sign == 1 {
        -v
    } else {
        v
    }
}

fn decode_raw(raw: &[u8], dt: DataType) -> Result<Data, Reason> {
    fn chunks<const N: usize>(raw: &[u8]) -> Result<impl Iterator<Item = [u8; N]> + '_, Reason> {
        if raw.len() % N != 0 {
            return Err(format!(
                "its {} data bytes are not a whole number of {N}-byte values",
                raw.len()
            ));
        }
        Ok(raw
            .chunks_exact(N)
            .map(|c| c.try_into().expect("exact chunks")))
    }
    Ok(match dt {
        DataType::Float => Data::F(chunks::<4>(raw)?.map(f32::from_le_bytes).collect()),
        DataType::Double => Data::F(
            chunks::<8>(raw)?
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect(),
        ),
        DataType::Float16 | DataType::Bfloat16 => Data::F(
            chunks::<2>(raw)?
                .map(|b| half(u16::from_le_bytes(b), dt))
                .collect(),
        ),
        DataType::Int64 => Data::I(chunks::<8>(raw)?.map(i64::from_le_bytes).collect()),
        DataType::Uint64 => Data::I(
            chunks::<8>(raw)?
                .map(|b| u64::from_le_bytes(b) as i64)
                .collect(),
        ),
        DataType::Int32 => Data::I(
            chunks::<4>(raw)?
                .map(|b| i32::from_le_bytes(b) as i64)
                .collect(),
        ),
        DataType::Uint32 => Data::I(
            chunks::<4>(raw)?
                .map(|b| u32::from_le_bytes(b) as i64)
                .collect(),
        ),
        DataType::Int16 => Data::I(
            chunks::<2>(raw)?
                .map(|b| i16::from_le_bytes(b) as i64)
                .collect(),
        ),
        DataType::Uint16 => Data::I(
            chunks::<2>(raw)?
                .map(|b| u16::from_le_bytes(b) as i64)
                .collect(),
        ),
        DataType::Int8 => Data::I(raw.iter().map(|&b| b as i8 as i64).collect()),
        DataType::Uint8 | DataType::Bool => Data::I(raw.iter().map(|&b| b as i64).collect()),
        other => {
            return Err(format!(
                "its type {other:?} is not a number type cimpool reads"
            ))
        }
    })
}

/// The tensor of a `Constant` node (`value`, `value_float(s)`, `value_int(s)`).
pub fn constant_node(attrs: &[Attribute], dir: &Path) -> Result<Const, Reason> {
    for a in attrs {
        match a.name {
            "value" => {
                return read(a.t.as_ref().ok_or("its `value` holds no tensor")?, dir);
            }
            "value_float" => return Ok(Const::floats(vec![], vec![a.f])),
            "value_floats" => return Ok(Const::floats(vec![a.floats.len()], a.floats.clone())),
            "value_int" => return Ok(Const::ints(vec![], vec![a.i])),
            "value_ints" => return Ok(Const::ints(vec![a.ints.len()], a.ints.clone())),
            _ => {}
        }
    }
    Err("it has no value attribute cimpool reads (value, value_float(s), value_int(s))".into())
}

/// `ConstantOfShape`: a tensor of `shape` filled with `value` (default 0.0).
pub fn constant_of_shape(shape: &Const, value: Option<&Const>) -> Result<Const, Reason> {
    let dims = dims_of(shape)?;
    let n = count(&dims)?;
    Ok(match value.map(|v| &v.data) {
        Some(Data::I(v)) => Const::ints(dims, vec![*v.first().unwrap_or(&0); n]),
        Some(Data::F(v)) => Const::floats(dims, vec![*v.first().unwrap_or(&0.0); n]),
        None => Const::floats(dims, vec![0.0; n]),
    })
}

/// A 1-D integer tensor as non-negative dimensions.
pub fn dims_of(c: &Const) -> Result<Vec<usize>, Reason> {
    c.to_i64()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
        .collect()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Normalizes a possibly negative axis for a tensor of `rank` dimensions.
pub fn axis(a: i64, rank: usize) -> Result<usize, Reason> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r.max(1)).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

/// Elementwise `f` with numpy broadcasting; integers stay integers when
/// both sides are integers.
pub fn binary(a: &Const, b: &Const, op: &str) -> Result<Const, Reason> {
    let rank = a.shape.len().max(b.shape.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (sa, sb) = (pad(&a.shape), pad(&b.shape));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in sa.iter().zip(&sb) {
        out.push(match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(format!(
                    "shapes {:?} and {:?} do not broadcast",
                    a.shape, b.shape
                ))
            }
        });
    }
    let (ta, tb, to) = (strides(&sa), strides(&sb), strides(&out));
    let n = count(&out)?;
    let index = |k: usize, s: &[usize], t: &[usize]| -> usize {
        (0..rank)
            .map(|d| {
                if s[d] == 1 {
                    0
                } else {
                    (k / to[d]) % out[d] * t[d]
                }
            })
            .sum()
    };
    let ia: Vec<usize> = (0..n).map(|k| index(k, &sa, &ta)).collect();
    let ib: Vec<usize> = (0..n).map(|k| index(k, &sb, &tb)).collect();
    let data = match (&a.data, &b.data) {
        (Data::I(x), Data::I(y)) => {
            let f = |p: i64, q: i64| -> Result<i64, Reason> {
                Ok(match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    "Mul" => p.wrapping_mul(q),
                    "Div" if q != 0 => p.div_euclid(q),
                    _ => return Err("integer division by zero".into()),
                })
            };
            Data::I(
                ia.iter()
                    .zip(&ib)
                    .map(|(&i, &j)| f(x[i], y[j]))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let (x, y) = (a.to_f32(), b.to_f32());
            let f = |p: f32, q: f32| match op {
                "Add" => p + q,
                "Sub" => p - q,
                "Mul" => p * q,
                _ => p / q,
            };
            Data::F(ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect())
        }
    };
    Ok(Const { shape: out, data })
}

/// `Gather` along `axis`.
pub fn gather(data: &Const, indices: &Const, axis_attr: i64) -> Result<Const, Reason> {
    let ax = axis(axis_attr, data.shape.len())?;
    if data.shape.is_empty() {
        return Err("Gather on a scalar".into());
    }
    let dim = data.shape[ax] as i64;
    let idx: Vec<usize> = indices
        .to_i64()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!(
                    "index {i} is out of range for a dimension of {dim}"
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    let outer: usize = data.shape[..ax].iter().product();
    let inner: usize = data.shape[ax + 1..].iter().product();
    let mut pick = vec![];
    for o in 0..outer {
        for &i in &idx {
            for k in 0..inner {
                pick.push((o * data.shape[ax] + i) * inner + k);
            }
        }
    }
    let mut shape = data.shape[..ax].to_vec();
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&data.shape[ax + 1..]);
    Ok(data.take(&pick, shape))
}

/// `Concat` of constants along `axis`.
pub fn concat(parts: &[&Const], axis_attr: i64) -> Result<Const, Reason> {
    let first = parts.first().ok_or("Concat of nothing")?;
    let ax = axis(axis_attr, first.shape.len())?;
    let mut shape = first.shape.clone();
    shape[ax] = 0;
    for p in parts {
        if p.shape.len() != first.shape.len()
            || p.shape
                .iter()
                .enumerate()
                .any(|(d, &n)| d != ax && n != first.shape[d])
        {
            return Err(format!(
                "Concat of shapes {:?} and {:?}",
                first.shape, p.shape
            ));
        }
        shape[ax] += p.shape[ax];
    }
    let outer: usize = shape[..ax].iter().product();
    let ints = parts.iter().all(|p| matches!(p.data, Data::I(_)));
    let (mut fv, mut iv) = (vec![], vec![]);
    for o in 0..outer {
        for p in parts {
            let chunk: usize = p.shape[ax..].iter().product();
            let r = o * chunk..(o + 1) * chunk;
            if ints {
                iv.extend_from_slice(&p.to_i64()[r]);
            } else {
                fv.extend_from_slice(&p.to_f32()[r]);
            }
        }
    }
    Ok(Const {
        shape,
        data: if ints { Data::I(iv) } else { Data::F(fv) },
    })
}

/// `Slice` with ONNX start / end clamping and steps.
pub fn slice(
    data: &Const,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<Const, Reason> {
    let rank = data.shape.len();
    let mut ranges: Vec<Vec<usize>> = data.shape.iter().map(|&n| (0..n).collect()).collect();
    for (k, (&s, &e)) in starts.iter().zip(ends).enumerate() {
        let ax = axis(*axes.get(k).unwrap_or(&(k as i64)), rank)?;
        let step = *steps.get(k).unwrap_or(&1);
        if step == 0 {
            return Err("a Slice step of 0".into());
        }
        let n = data.shape[ax] as i64;
        let norm = |v: i64| if v < 0 { v + n } else { v };
        let mut idx = vec![];
        if step > 0 {
            let (mut i, e) = (norm(s).clamp(0, n), norm(e).clamp(0, n));
            while i < e {
                idx.push(i as usize);
                i = i.saturating_add(step);
            }
        } else {
            let (mut i, e) = (norm(s).clamp(-1, n - 1), norm(e).clamp(-1, n - 1));
            while i > e {
                idx.push(i as usize);
                i = i.saturating_add(step);
            }
        }
        ranges[ax] = idx;
    }
    let shape: Vec<usize> = ranges.iter().map(Vec::len).collect();
    let st = strides(&data.shape);
    let mut pick = vec![0usize];
    for (d, r) in ranges.iter().enumerate() {
        let sd = st[d];
        pick = pick
            .iter()
            .flat_map(|&base| r.iter().map(move |&i| base + i * sd))
            .collect();
    }
    Ok(data.take(&pick, shape))
}

/// `Transpose` by `perm` (default: reversed axes).
pub fn transpose(data: &Const, perm: &[i64]) -> Result<Const, Reason> {
    let rank = data.shape.len();
    let perm: Vec<usize> = if perm.is_empty() {
        (0..rank).rev().collect()
    } else {
        perm.iter()
            .map(|&p| axis(p, rank))
            .collect::<Result<_, _>>()?
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of {rank} axes"));
    }
    let shape: Vec<usize> = perm.iter().map(|&p| data.shape[p]).collect();
    let (si, so) = (strides(&data.shape), strides(&shape));
    let n = data.len();
    let pick: Vec<usize> = (0..n)
        .map(|k| {
            (0..rank)
                .map(|d| (k / so[d]) % shape[d] * si[perm[d]])
                .sum()
        })
        .collect();
    Ok(data.take(&pick, shape))
}

/// The target of a `Reshape` of a tensor of `from` (0 copies the input's
/// dimension unless `allowzero`; one -1 is inferred).
pub fn reshape_target(
    from: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, Reason> {
    let total = count(from)?;
    let mut dims = vec![];
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            0 if !allowzero => dims.push(
                *from
                    .get(i)
                    .ok_or("Reshape copies a dimension the input lacks")?,
            ),
            t if t >= 0 => dims.push(t as usize),
            _ => return Err(format!("Reshape target {target:?} is invalid")),
        }
    }
    let known = count(&dims)?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!("cannot reshape {from:?} to {target:?}"));
        }
        dims[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {from:?} ({total} values) to {target:?}"
        ));
    }
    Ok(dims)
}

/// The shape after inserting size-1 `axes` (`Unsqueeze`).
pub fn unsqueeze_shape(shape: &[usize], axes: &[i64]) -> Result<Vec<usize>, Reason> {
    let rank = shape.len() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank))
        .collect::<Result<_, _>>()?;
    ax.sort_unstable();
    let mut out = shape.to_vec();
    for a in ax {
        out.insert(a, 1);
    }
    Ok(out)
}

/// The shape after removing size-1 `axes` (all of them when empty).
pub fn squeeze_shape(shape: &[usize], axes: &[i64]) -> Result<Vec<usize>, Reason> {
    if axes.is_empty() {
        return Ok(shape.iter().copied().filter(|&d| d != 1).collect());
    }
    let ax: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, shape.len()))
        .collect::<Result<_, _>>()?;
    if let Some(&a) = ax.iter().find(|&&a| shape[a] != 1) {
        return Err(format!("Squeeze of axis {a} of size {}", shape[a]));
    }
    Ok(shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !ax.contains(i))
        .map(|(_, &d)| d)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_gather_slice_transpose() {
        let a = Const::floats(vec![2, 1], vec![1.0, 2.0]);
        let b = Const::floats(vec![3], vec![10.0, 20.0, 30.0]);
        let s = binary(&a, &b, "Add").unwrap();
        assert_eq!(s.shape, vec![2, 3]);
        assert_eq!(s.to_f32(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
        let shape = Const::ints(vec![4], vec![1, 64, 7, 7]);
        let g = gather(&shape, &Const::ints(vec![], vec![0]), 0).unwrap();
        assert_eq!((g.shape.clone(), g.to_i64()), (vec![], vec![1]));
        let sl = slice(&shape, &[1], &[i64::MAX], &[0], &[]).unwrap();
        assert_eq!(sl.to_i64(), vec![64, 7, 7]);
        let back = slice(&shape, &[-1], &[i64::MIN], &[0], &[-2]).unwrap();
        assert_eq!(back.to_i64(), vec![7, 64]);
        let m = Const::floats(vec![2, 3], (0..6).map(|v| v as f32).collect());
        let t = transpose(&m, &[]).unwrap();
        assert_eq!(
            (t.shape.clone(), t.to_f32()),
            (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0])
        );
        assert_eq!(
            reshape_target(&[1, 64, 7, 7], &[1, -1], false).unwrap(),
            vec![1, 3136]
        );
        assert_eq!(
            reshape_target(&[1, 64, 7, 7], &[0, -1], false).unwrap(),
            vec![1, 3136]
        );
        assert!(reshape_target(&[1, 64, 7, 7], &[5, -1], false).is_err());
        let c = concat(
            &[
                &Const::ints(vec![1], vec![1]),
                &Const::ints(vec![1], vec![-1]),
            ],
            0,
        )
        .unwrap();
        assert_eq!(c.to_i64(), vec![1, -1]);
    }

    #[test]
    fn half_precision_values() {
        assert_eq!(half(0x3c00, DataType::Float16), 1.0);
        assert_eq!(half(0xc000, DataType::Float16), -2.0);
        assert_eq!(half(0x3f80, DataType::Bfloat16), 1.0);
    }
}
