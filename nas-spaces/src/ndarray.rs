//! numpy arrays as pickles hold them: `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`
//! with the `BUILD` state `(version, shape, dtype, fortran_order, raw_bytes)`, read from a
//! decoded [`PyValue`] (no numpy, no code execution).

use crate::nats::PyValue;

/// A decoded numpy array: its shape, element type and raw C-order bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The element type without byte order: `u1`, `i8`, `f4`, `f8`...
    pub dtype: String,
    /// `true` when the elements are big-endian.
    pub big_endian: bool,
    /// The elements in C (row-major) order.
    pub data: Vec<u8>,
}

/// A string or a Python 2 `str` (bytes) as text.
pub fn text(v: &PyValue) -> Option<&str> {
    match v {
        PyValue::Str(s) => Some(s),
        PyValue::Bytes(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// The value of a dict under `key`, whether the key was pickled as `str` or as bytes (Python 2
/// files read with `encoding='bytes'`).
pub fn get<'v>(dict: &'v PyValue, key: &str) -> Option<&'v PyValue> {
    dict.as_dict()?.iter().rev().find(|(k, _)| text(k) == Some(key)).map(|(_, v)| v)
}

impl NdArray {
    /// Bytes per element of the dtype.
    pub fn item_size(&self) -> usize {
        self.dtype.get(1..).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f64` (integer, unsigned, float or bool arrays).
    pub fn to_f64(&self) -> Result<Vec<f64>, String> {
        let size = self.item_size();
        let kind = self.dtype.chars().next().unwrap_or('?');
        if !matches!((kind, size), ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1)) {
            return Err(format!("numpy array of dtype {:?} is not numeric", self.dtype));
        }
        Ok(self
            .data
            .chunks_exact(size)
            .map(|c| {
                let mut le = [0u8; 8];
                le[..size].copy_from_slice(c);
                if self.big_endian {
                    le[..size].reverse();
                }
                let fill = if kind == 'i' && le[size - 1] & 0x80 != 0 { 0xff } else { 0 };
                match (kind, size) {
                    ('f', 8) => f64::from_le_bytes(le),
                    ('f', _) => f32::from_le_bytes([le[0], le[1], le[2], le[3]]).into(),
                    ('i', _) => {
                        le[size..].fill(fill);
                        i64::from_le_bytes(le) as f64
                    }
                    _ => u64::from_le_bytes(le) as f64,
                }
            })
            .collect())
    }
}

/// Decodes a pickled numpy array, or says why the value is not one.
pub fn ndarray(v: &PyValue) -> Result<NdArray, String> {
    let PyValue::Object { module, name, state, .. } = v else {
        return Err(format!("expected a numpy array, found a {}", v.type_name()));
    };
    if !matches!(module.as_str(), "numpy.core.multiarray" | "numpy._core.multiarray") || name != "_reconstruct" {
        return Err(format!("expected a numpy array, found a {module}.{name} object"));
    }
    let state = state.as_deref().and_then(PyValue::as_list).ok_or("numpy array without its state tuple")?;
    let [_, shape, dtype, fortran, raw] = state else {
        return Err(format!("numpy array state has {} fields, expected 5", state.len()));
    };
    let shape = shape
        .as_list()
        .ok_or("numpy array shape is not a tuple")?
        .iter()
        .map(|d| d.as_i64().and_then(|d| usize::try_from(d).ok()).ok_or("numpy array shape is not integers"))
        .collect::<Result<Vec<usize>, _>>()?;
    if fortran.as_bool() == Some(true) && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err("numpy array in Fortran order".into());
    }
    let PyValue::Object { module, name, args, state: dstate } = dtype else {
        return Err("numpy array without a numpy.dtype".into());
    };
    let code = args.first().and_then(text).filter(|_| module == "numpy" && name == "dtype");
    let code = code.ok_or("numpy array without a numpy.dtype type code")?;
    let order = dstate.as_deref().and_then(PyValue::as_list).and_then(|s| s.get(1)).and_then(text).unwrap_or("|");
    let (order, code) = match code.strip_prefix(['<', '>', '=', '|']) {
        Some(rest) => (&code[..1], rest),
        None => (order, code),
    };
    let PyValue::Bytes(data) = raw else {
        return Err(format!("numpy array data is a {}, expected bytes (an object array?)", raw.type_name()));
    };
    let array = NdArray { shape, dtype: code.to_owned(), big_endian: order == ">", data: data.clone() };
    if array.item_size() == 0 || array.len() * array.item_size() != data.len() {
        return Err(format!(
            "numpy array of shape {:?} and dtype {code} needs {} bytes, the pickle holds {}",
            array.shape,
            array.len() * array.item_size().max(1),
            data.len()
        ));
    }
    Ok(array)
}

/// Numbers from a list or tuple of numbers, or from a numeric numpy array.
pub fn numbers(v: &PyValue) -> Result<Vec<f64>, String> {
    if let Some(items) = v.as_list() {
        return items
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| format!("a list item is a {}, not a number", x.type_name())))
            .collect();
    }
    ndarray(v)?.to_f64()
}
