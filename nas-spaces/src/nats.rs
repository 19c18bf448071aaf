//! Reader of the official NATS-Bench benchmark files ("simple" layout): the topology space
//! (`NATS-tss-v1_0-3ffb9-simple/`, 15,625 architectures) and the size space
//! (`NATS-sss-v1_0-50262-simple/`, 32,768 architectures).
//!
//! Each file is a bz2-compressed Python pickle (protocol 4). [`read_pickle`] decodes one into a
//! [`PyValue`] with a small, safe pickle machine; numpy scalars (`numpy.core.multiarray.scalar`
//! of a `numpy.dtype` and raw bytes) become plain [`PyValue::Float`] / [`PyValue::Int`].
//! [`read_meta`] and [`read_arch`] read `meta.pickle.pbz2` and `{index:06}.pickle.pbz2` into
//! typed records, with the metrics named and chosen the way the official API
//! (`nats_bench/api_utils.py`: `ArchResults.get_metrics`, `ResultsCount.get_train/get_eval`,
//! `NASBenchMetaAPI.get_more_info`) reports them.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use bzip2::read::MultiBzDecoder;
use nas_core::{Error, Result};

/// A Python value decoded from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    /// An `int` (or a numpy integer scalar); integers beyond `i64` are rejected.
    Int(i64),
    /// A `float` (or a numpy `float64`/`float32` scalar).
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    /// A `dict` or `collections.OrderedDict`, items in pickled (insertion) order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A `set` or `frozenset`.
    Set(Vec<PyValue>),
    /// A reference to a class or function (`GLOBAL` / `STACK_GLOBAL`).
    Global {
        module: String,
        name: String,
    },
    /// An object built by `REDUCE` / `NEWOBJ` of `module.name` with `args`, and the `BUILD` state.
    Object {
        module: String,
        name: String,
        args: Vec<PyValue>,
        state: Option<Box<PyValue>>,
    },
}

impl PyValue {
    /// The value of a dict under the string key `key` (the last one if repeated, as in Python).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        self.as_dict()?.iter().rev().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// The value of a dict under any key, compared exactly (`1` does not match `1.0`).
    pub fn get_item(&self, key: &PyValue) -> Option<&PyValue> {
        self.as_dict()?.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A float or an int as `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Float(x) => Some(*x),
            PyValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        if let PyValue::Int(i) = self { Some(*i) } else { None }
    }

    pub fn as_bool(&self) -> Option<bool> {
        if let PyValue::Bool(b) = self { Some(*b) } else { None }
    }

    pub fn as_str(&self) -> Option<&str> {
        if let PyValue::Str(s) = self { Some(s) } else { None }
    }

    /// The items of a list, a tuple or a set.
    pub fn as_list(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&[(PyValue, PyValue)]> {
        if let PyValue::Dict(d) = self { Some(d) } else { None }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, PyValue::None)
    }

    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "None",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::Bytes(_) => "bytes",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Dict(_) => "dict",
            PyValue::Set(_) => "set",
            PyValue::Global { .. } => "global",
            PyValue::Object { .. } => "object",
        }
    }
}

/// Reads a bz2-compressed pickle file.
pub fn read_pickle(path: &Path) -> Result<PyValue> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    if !raw.starts_with(b"BZh") {
        return Err(data_error(path, "not a bzip2 file (no 'BZh' header)"));
    }
    let mut bytes = Vec::new();
    MultiBzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|e| data_error(path, format!("corrupt bzip2 data: {e}")))?;
    decode(&bytes).map_err(|e| data_error(path, format!("bad pickle: {e}")))
}

/// Decodes uncompressed pickle bytes.
pub fn parse_pickle(bytes: &[u8]) -> Result<PyValue> {
    decode(bytes).map_err(|e| Error::parse("pickle data", e.to_string()))
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { path: path.to_path_buf(), line: None, message: message.into() }
}

// ---------------------------------------------------------------------------------------------
// The pickle machine. Objects live in an arena so that the memo shares them the way Python does
// (a dict memoized while empty and filled later is seen filled by every later `BINGET`).

/// Deepest nesting accepted when turning the arena into values (guards against cycles).
const MAX_DEPTH: usize = 512;
/// Most values produced from one pickle (guards against exponential blow-up of shared objects).
const MAX_VALUES: usize = 50_000_000;

#[derive(Debug)]
struct PickleError {
    offset: usize,
    message: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

enum Node {
    Leaf(PyValue),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    Object { module: String, name: String, args: Vec<usize>, state: Option<usize> },
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Leaf(v) => v.type_name(),
            Node::List(_) => "list",
            Node::Tuple(_) => "tuple",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::Object { .. } => "object",
        }
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being run, for error messages.
    op_at: usize,
    nodes: Vec<Node>,
    stack: Vec<usize>,
    /// Stack lengths at each `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u64, usize>,
}

fn decode(data: &[u8]) -> Result<PyValue, PickleError> {
    let machine = Machine {
        data,
        pos: 0,
        op_at: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    machine.run()
}

impl<'a> Machine<'a> {
    fn bad(&self, message: impl Into<String>) -> PickleError {
        PickleError { offset: self.op_at, message: message.into() }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(PickleError {
                offset: self.pos,
                message: format!("truncated pickle: {n} bytes needed, {left} left"),
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    /// A length argument of `N` little-endian bytes.
    fn len<const N: usize>(&mut self) -> Result<usize, PickleError> {
        let mut a = [0u8; 8];
        a[..N].copy_from_slice(&self.array::<N>()?);
        usize::try_from(u64::from_le_bytes(a)).map_err(|_| self.bad("length too large"))
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad("string is not valid UTF-8"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.bad("truncated pickle: no end of line"))?;
        let s = self.text(n)?;
        self.pos += 1;
        Ok(s)
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(self.nodes.len() - 1);
    }

    fn push(&mut self, value: PyValue) {
        self.push_node(Node::Leaf(value));
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(self.bad("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.bad("stack underflow"))
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(&i) if self.stack.len() > self.marks.last().copied().unwrap_or(0) => Ok(i),
            _ => Err(self.bad("stack underflow")),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.bad("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn leaf_str(&self, i: usize) -> Option<&str> {
        if let Node::Leaf(PyValue::Str(s)) = &self.nodes[i] { Some(s) } else { None }
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let i = *self.memo.get(&key).ok_or_else(|| self.bad(format!("memo index {key} is not defined")))?;
        self.stack.push(i);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn run(mut self) -> Result<PyValue, PickleError> {
        loop {
            self.op_at = self.pos;
            if self.pos == self.data.len() {
                return Err(self.bad("truncated pickle: ended without STOP"));
            }
            let op = self.byte()?;
            match op {
                0x80 => {
                    self.byte()?; // PROTO
                }
                0x95 => {
                    self.array::<8>()?; // FRAME: the frame length only
                }
                b'.' => {
                    let root = self.pop()?;
                    let mut budget = MAX_VALUES;
                    return self.value(root, 0, &mut budget);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.push(PyValue::None),
                0x88 => self.push(PyValue::Bool(true)),
                0x89 => self.push(PyValue::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(PyValue::Int(v.into()));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push(PyValue::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(PyValue::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.len::<1>()? } else { self.len::<4>()? };
                    let bytes = self.take(n)?;
                    let v = signed_le(bytes).ok_or_else(|| self.bad("integer does not fit in 64 bits"))?;
                    self.push(PyValue::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(PyValue::Float(v));
                }
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => self.len::<1>()?,
                        b'X' => self.len::<4>()?,
                        _ => self.len::<8>()?,
                    };
                    let s = self.text(n)?;
                    self.push(PyValue::Str(s));
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.len::<1>()?,
                        b'B' => self.len::<4>()?,
                        _ => self.len::<8>()?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push(PyValue::Bytes(b));
                }
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b']' => self.push_node(Node::List(Vec::new())),
                b')' => self.push_node(Node::Tuple(Vec::new())),
                0x8f => self.push_node(Node::Set(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Set(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
                    self.push_node(Node::Tuple(items.into_iter().rev().collect()));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Dict(Vec::new()));
                    self.set_items(&items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(&[key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(&items)?;
                }
                b'a' | b'e' | 0x90 => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    let target = self.top()?;
                    let at = self.op_at;
                    match &mut self.nodes[target] {
                        Node::List(v) if op != 0x90 => v.extend(items),
                        Node::Set(v) if op == 0x90 => v.extend(items),
                        other => {
                            let message = format!("cannot add items to a {}", other.kind());
                            return Err(PickleError { offset: at, message });
                        }
                    }
                }
                0x94 => self.memo_put(self.memo.len() as u64)?,
                b'q' => {
                    let key = self.byte()?;
                    self.memo_put(key.into())?;
                }
                b'r' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.memo_put(key.into())?;
                }
                b'h' => {
                    let key = self.byte()?;
                    self.memo_get(key.into())?;
                }
                b'j' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.memo_get(key.into())?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(PyValue::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.leaf_str(module), self.leaf_str(name)) else {
                        return Err(self.bad("STACK_GLOBAL needs two strings"));
                    };
                    let (module, name) = (module.to_owned(), name.to_owned());
                    self.push(PyValue::Global { module, name });
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let node = self.call(callable, args)?;
                    self.push_node(node);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    let at = self.op_at;
                    match &mut self.nodes[target] {
                        Node::Object { state: s, .. } => *s = Some(state),
                        other => {
                            let message = format!("BUILD on a {}", other.kind());
                            return Err(PickleError { offset: at, message });
                        }
                    }
                }
                _ => return Err(self.bad(format!("unknown or unsupported opcode 0x{op:02x}"))),
            }
        }
    }

    /// `SETITEM(S)`: adds key/value pairs to the dict on top of the stack.
    fn set_items(&mut self, items: &[usize]) -> Result<(), PickleError> {
        if items.len() % 2 != 0 {
            return Err(self.bad("odd number of items for a dict"));
        }
        let target = self.top()?;
        let at = self.op_at;
        match &mut self.nodes[target] {
            Node::Dict(d) => d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1]))),
            other => {
                return Err(PickleError { offset: at, message: format!("cannot set items on a {}", other.kind()) });
            }
        }
        Ok(())
    }

    /// `REDUCE` / `NEWOBJ` of a global: an empty `OrderedDict` becomes a dict, a numpy scalar a
    /// number, anything else an opaque object.
    fn call(&self, callable: usize, args: usize) -> Result<Node, PickleError> {
        let Node::Leaf(PyValue::Global { module, name }) = &self.nodes[callable] else {
            return Err(self.bad(format!("cannot call a {}", self.nodes[callable].kind())));
        };
        let Node::Tuple(args) = &self.nodes[args] else {
            return Err(
                self.bad(format!("arguments of {module}.{name} are a {}, not a tuple", self.nodes[args].kind()))
            );
        };
        Ok(match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins", "dict") if args.is_empty() => Node::Dict(Vec::new()),
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Node::Leaf(self.numpy_scalar(args)?),
            _ => Node::Object { module: module.clone(), name: name.clone(), args: args.clone(), state: None },
        })
    }

    /// `numpy.core.multiarray.scalar(dtype, raw_bytes)`, where `dtype` is `numpy.dtype(code, ...)`
    /// whose `BUILD` state tuple holds the byte order (`'<'`, `'>'`, `'|'`, `'='`) at index 1.
    fn numpy_scalar(&self, args: &[usize]) -> Result<PyValue, PickleError> {
        let &[dtype, raw] = args else {
            return Err(self.bad(format!("numpy scalar takes (dtype, bytes), got {} arguments", args.len())));
        };
        let (Node::Object { module, name, args: dargs, state }, Node::Leaf(PyValue::Bytes(raw))) =
            (&self.nodes[dtype], &self.nodes[raw])
        else {
            return Err(self.bad("numpy scalar arguments are not (numpy.dtype, bytes)"));
        };
        let code = dargs.first().and_then(|&i| self.leaf_str(i));
        let Some(code) = code.filter(|_| module == "numpy" && name == "dtype") else {
            return Err(self.bad("numpy scalar without a numpy.dtype type code"));
        };
        let order = state
            .and_then(|s| match &self.nodes[s] {
                Node::Tuple(t) => t.get(1).and_then(|&i| self.leaf_str(i)),
                _ => None,
            })
            .unwrap_or("|");
        numpy_value(code, order, raw).map_err(|m| self.bad(m))
    }

    /// Turns arena node `i` into a value tree.
    fn value(&self, i: usize, depth: usize, budget: &mut usize) -> Result<PyValue, PickleError> {
        if depth > MAX_DEPTH {
            return Err(self.bad(format!("nesting deeper than {MAX_DEPTH} (a recursive object?)")));
        }
        *budget = budget.checked_sub(1).ok_or_else(|| self.bad("too many values"))?;
        Ok(match &self.nodes[i] {
            Node::Leaf(v) => v.clone(),
            Node::List(items) => PyValue::List(self.values(items, depth, budget)?),
            Node::Tuple(items) => PyValue::Tuple(self.values(items, depth, budget)?),
            Node::Set(items) => PyValue::Set(self.values(items, depth, budget)?),
            Node::Dict(items) => {
                let flat: Vec<usize> = items.iter().flat_map(|&(k, v)| [k, v]).collect();
                let mut flat = self.values(&flat, depth, budget)?.into_iter();
                PyValue::Dict(std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect())
            }
            Node::Object { module, name, args, state } => {
                let args = self.values(args, depth, budget)?;
                let state = match state {
                    Some(s) => Some(Box::new(self.value(*s, depth + 1, budget)?)),
                    None => None,
                };
                PyValue::Object { module: module.clone(), name: name.clone(), args, state }
            }
        })
    }

    fn values(&self, items: &[usize], depth: usize, budget: &mut usize) -> Result<Vec<PyValue>, PickleError> {
        items.iter().map(|&j| self.value(j, depth + 1, budget)).collect()
    }
}

/// A little-endian two's-complement integer of at most 8 bytes (`LONG1` / `LONG4`).
fn signed_le(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        return None;
    }
    let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
    let mut a = [fill; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(a))
}

/// Decodes the raw bytes of a numpy scalar of type `code` (`f8`, `f4`, `i1`..`i8`, `u1`..`u8`,
/// `b1`, optionally prefixed by a byte order) in byte order `order`.
fn numpy_value(code: &str, order: &str, raw: &[u8]) -> Result<PyValue, String> {
    let (order, code) = match code.strip_prefix(['<', '>', '=', '|']) {
        Some(rest) => (&code[..1], rest),
        None => (order, code),
    };
    let kind = code.chars().next().unwrap_or('?');
    let size: usize = code.get(1..).and_then(|s| s.parse().ok()).unwrap_or(0);
    if !matches!((kind, size), ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1)) {
        return Err(format!("unsupported numpy dtype {code:?}"));
    }
    if raw.len() != size {
        return Err(format!("numpy {code} scalar has {} bytes, expected {size}", raw.len()));
    }
    let mut le = raw.to_vec();
    if order == ">" {
        le.reverse();
    }
    let mut a = [0u8; 8];
    a[..size].copy_from_slice(&le);
    Ok(match kind {
        'f' if size == 8 => PyValue::Float(f64::from_le_bytes(a)),
        'f' => PyValue::Float(f32::from_le_bytes([a[0], a[1], a[2], a[3]]).into()),
        'i' => PyValue::Int(signed_le(&le).unwrap_or_default()),
        'u' => PyValue::Int(i64::try_from(u64::from_le_bytes(a)).map_err(|_| "numpy uint64 beyond i64".to_owned())?),
        _ => PyValue::Bool(a[0] != 0),
    })
}

// ---------------------------------------------------------------------------------------------
// Typed records.

/// `meta.pickle.pbz2` of a NATS-Bench directory.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsMeta {
    /// `meta_archs`: every architecture string in benchmark index order: a cell string like
    /// `|nor_conv_3x3~0|+|...|` in the topology space, channels like `8:16:32:64:64` in the size
    /// space.
    pub archs: Vec<String>,
    /// `total_archs` (checked to equal `archs.len()`).
    pub total_archs: usize,
    /// `evaluated_indexes`, sorted (empty in the "simple" layout, where every index has a file).
    pub evaluated_indexes: Vec<usize>,
}

impl NatsMeta {
    /// The benchmark index of an architecture string.
    pub fn index_of(&self, arch: &str) -> Option<usize> {
        self.archs.iter().position(|a| a == arch)
    }
}

/// One `{index:06}.pickle.pbz2`: the results of one architecture under every training schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsArchRecord {
    /// The file it was read from.
    pub path: PathBuf,
    /// `arch_index` (checked to equal the requested index).
    pub index: usize,
    /// `arch_str` (same as `meta_archs[index]`).
    pub arch_str: String,
    /// One per top-level key of the file, in file order: `"12"`, `"200"` (topology space) or
    /// `"01"`, `"12"`, `"90"` (size space).
    pub schedules: Vec<NatsSchedule>,
}

/// The results of one training schedule (`hp` in the API: the number of training epochs).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsSchedule {
    /// The schedule key, `"12"` or `"200"` etc.
    pub hp: String,
    /// One per key of `dataset_seed`, in file order.
    pub datasets: Vec<NatsDataset>,
}

/// The runs of one dataset (`cifar10-valid`, `cifar10`, `cifar100`, `ImageNet16-120`).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsDataset {
    pub name: String,
    /// One per seed of `dataset_seed[name]`, in that order; each from
    /// `all_results[(name, seed)]`.
    pub runs: Vec<NatsRun>,
}

/// The final-epoch metrics of one training run (one `ResultsCount` of the API). Accuracies are
/// top-1 percentages, `epoch = epochs - 1` is the last epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsRun {
    pub seed: i64,
    /// `epochs`: the number of training epochs of the run.
    pub epochs: usize,
    /// `train_acc1es[epoch]`.
    pub train_acc: f64,
    /// `train_losses[epoch]`.
    pub train_loss: Option<f64>,
    /// `eval_acc1es["x-valid@{epoch}"]`: the API's `valid-accuracy` (absent for `cifar10`).
    pub valid_acc: Option<f64>,
    /// The API's `test-accuracy`: `eval_acc1es["ori-test@{epoch}"]` for `cifar10` and
    /// `cifar10-valid`, `eval_acc1es["x-test@{epoch}"]` for `cifar100` and `ImageNet16-120`.
    pub test_acc: Option<f64>,
    /// The API's `valtest-accuracy`: `eval_acc1es["ori-test@{epoch}"]` (the whole original test
    /// set, x-valid plus x-test) for `cifar100` and `ImageNet16-120`; `None` for the CIFAR-10 ones.
    pub valtest_acc: Option<f64>,
    /// Every evaluation set of `eval_names`, at the last epoch.
    pub evals: Vec<NatsEval>,
    /// `train_time_total / epochs` (the API's `train-per-time`).
    pub train_time_per_epoch: Option<f64>,
    /// `sum(train_times[0..epochs])` in seconds (the API's `train-all-time`).
    pub train_time_total: Option<f64>,
    /// `params`: parameters in millions.
    pub params: Option<f64>,
    /// `flop`: FLOPs in millions.
    pub flops: Option<f64>,
    /// The mean of the `latency` list, in seconds (the API's `get_latency`).
    pub latency: Option<f64>,
}

impl NatsRun {
    /// The final-epoch record of an evaluation set such as `"x-valid"`.
    pub fn eval(&self, name: &str) -> Option<&NatsEval> {
        self.evals.iter().find(|e| e.name == name)
    }
}

/// One evaluation set of a run at its last epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsEval {
    /// The set: `x-valid`, `x-test` or `ori-test`.
    pub name: String,
    /// `eval_acc1es["{name}@{epoch}"]`.
    pub accuracy: f64,
    /// `eval_losses["{name}@{epoch}"]`.
    pub loss: Option<f64>,
    /// `eval_times["{name}@{epoch}"]`: seconds of that evaluation pass.
    pub time: Option<f64>,
}

impl NatsArchRecord {
    /// The schedule `hp` (`"12"`, `"200"`...), or an error naming the file.
    pub fn schedule(&self, hp: &str) -> Result<&NatsSchedule> {
        self.schedules.iter().find(|s| s.hp == hp).ok_or_else(|| {
            let have: Vec<&str> = self.schedules.iter().map(|s| s.hp.as_str()).collect();
            data_error(&self.path, format!("no '{hp}' schedule (has {})", have.join(", ")))
        })
    }

    /// The runs of `dataset` under schedule `hp`, or an error naming the file.
    pub fn dataset(&self, hp: &str, dataset: &str) -> Result<&NatsDataset> {
        self.schedule(hp)?
            .dataset(dataset)
            .ok_or_else(|| data_error(&self.path, format!("no '{dataset}' results in the '{hp}' schedule")))
    }
}

impl NatsSchedule {
    pub fn dataset(&self, name: &str) -> Option<&NatsDataset> {
        self.datasets.iter().find(|d| d.name == name)
    }
}

impl NatsDataset {
    /// The run of one seed.
    pub fn run(&self, seed: i64) -> Option<&NatsRun> {
        self.runs.iter().find(|r| r.seed == seed)
    }

    /// The mean of `metric` over the runs that have it (the API's `is_random=False`).
    pub fn mean(&self, metric: impl Fn(&NatsRun) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.runs.iter().filter_map(metric).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    pub fn train_acc(&self) -> Option<f64> {
        self.mean(|r| Some(r.train_acc))
    }

    pub fn valid_acc(&self) -> Option<f64> {
        self.mean(|r| r.valid_acc)
    }

    pub fn test_acc(&self) -> Option<f64> {
        self.mean(|r| r.test_acc)
    }

    pub fn valtest_acc(&self) -> Option<f64> {
        self.mean(|r| r.valtest_acc)
    }
}

/// Reads `meta.pickle.pbz2` of a NATS-Bench directory.
pub fn read_meta(dir: &Path) -> Result<NatsMeta> {
    let path = dir.join("meta.pickle.pbz2");
    let root = read_pickle(&path)?;
    parse_meta(&root).map_err(|m| data_error(&path, m))
}

/// The file of architecture `index` in a NATS-Bench directory.
pub fn arch_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{index:06}.pickle.pbz2"))
}

/// Reads the results of architecture `index` (`{index:06}.pickle.pbz2`).
pub fn read_arch(dir: &Path, index: usize) -> Result<NatsArchRecord> {
    let path = arch_file(dir, index);
    let root = read_pickle(&path)?;
    let (arch_str, schedules) = parse_arch(&root, index).map_err(|m| data_error(&path, m))?;
    Ok(NatsArchRecord { path, index, arch_str, schedules })
}

type Parsed<T> = std::result::Result<T, String>;

fn field<'v>(v: &'v PyValue, key: &str, at: &str) -> Parsed<&'v PyValue> {
    v.get(key).ok_or_else(|| format!("{at}: no '{key}'"))
}

fn expect<'v, T>(v: &'v PyValue, what: &str, at: &str, f: impl Fn(&'v PyValue) -> Option<T>) -> Parsed<T> {
    f(v).ok_or_else(|| format!("{at}: '{what}' is a {}", v.type_name()))
}

fn index_value(v: &PyValue, what: &str, at: &str) -> Parsed<usize> {
    expect(v, what, at, |v| v.as_i64().and_then(|i| usize::try_from(i).ok()))
}

/// A number under `key`, `None` when the key is absent or `None`.
fn opt_num(v: &PyValue, key: &str, at: &str) -> Parsed<Option<f64>> {
    match v.get(key) {
        None | Some(PyValue::None) => Ok(None),
        Some(x) => expect(x, key, at, PyValue::as_f64).map(Some),
    }
}

fn parse_meta(root: &PyValue) -> Parsed<NatsMeta> {
    let at = "meta";
    let archs = expect(field(root, "meta_archs", at)?, "meta_archs", at, PyValue::as_list)?;
    let archs = archs
        .iter()
        .map(|a| expect(a, "meta_archs item", at, |a| a.as_str().map(str::to_owned)))
        .collect::<Parsed<Vec<String>>>()?;
    let total_archs = index_value(field(root, "total_archs", at)?, "total_archs", at)?;
    if total_archs != archs.len() {
        return Err(format!("total_archs is {total_archs} but meta_archs has {} items", archs.len()));
    }
    let mut evaluated_indexes = match root.get("evaluated_indexes") {
        None | Some(PyValue::None) => Vec::new(),
        Some(v) => expect(v, "evaluated_indexes", at, PyValue::as_list)?
            .iter()
            .map(|i| index_value(i, "evaluated_indexes item", at))
            .collect::<Parsed<Vec<usize>>>()?,
    };
    evaluated_indexes.sort_unstable();
    Ok(NatsMeta { archs, total_archs, evaluated_indexes })
}

fn parse_arch(root: &PyValue, index: usize) -> Parsed<(String, Vec<NatsSchedule>)> {
    let items = root.as_dict().ok_or_else(|| format!("expected a dict of schedules, found a {}", root.type_name()))?;
    let mut arch_str = None;
    let mut schedules = Vec::new();
    for (key, record) in items {
        let hp = expect(key, "schedule key", "file", PyValue::as_str)?;
        let at = format!("schedule '{hp}'");
        let found = index_value(field(record, "arch_index", &at)?, "arch_index", &at)?;
        if found != index {
            return Err(format!("{at}: arch_index is {found}, expected {index}"));
        }
        let this_str = expect(field(record, "arch_str", &at)?, "arch_str", &at, PyValue::as_str)?;
        arch_str.get_or_insert_with(|| this_str.to_owned());
        let seeds = expect(field(record, "dataset_seed", &at)?, "dataset_seed", &at, PyValue::as_dict)?;
        let results = field(record, "all_results", &at)?;
        let mut datasets = Vec::new();
        for (name, seed_list) in seeds {
            let name = expect(name, "dataset_seed key", &at, PyValue::as_str)?;
            let seed_list = expect(seed_list, "dataset_seed value", &at, PyValue::as_list)?;
            let mut runs = Vec::new();
            for seed in seed_list {
                let seed = expect(seed, "seed", &at, PyValue::as_i64)?;
                let key = PyValue::Tuple(vec![PyValue::Str(name.to_owned()), PyValue::Int(seed)]);
                let result = results.get_item(&key).ok_or_else(|| format!("{at}: no results for ({name}, {seed})"))?;
                runs.push(parse_run(result, name, seed, &format!("{at}, {name} seed {seed}"))?);
            }
            datasets.push(NatsDataset { name: name.to_owned(), runs });
        }
        schedules.push(NatsSchedule { hp: hp.to_owned(), datasets });
    }
    let arch_str = arch_str.ok_or("the file holds no schedule")?;
    Ok((arch_str, schedules))
}

fn parse_run(result: &PyValue, dataset: &str, seed: i64, at: &str) -> Parsed<NatsRun> {
    let epochs = index_value(field(result, "epochs", at)?, "epochs", at)?;
    let last = epochs.checked_sub(1).ok_or_else(|| format!("{at}: 0 epochs"))?;
    let per_epoch = |key: &str, epoch: usize| -> Parsed<Option<f64>> {
        let Some(table) = result.get(key).filter(|t| !t.is_none()) else { return Ok(None) };
        let epoch_key = PyValue::Int(i64::try_from(epoch).map_err(|e| e.to_string())?);
        let v = table.get_item(&epoch_key).ok_or_else(|| format!("{at}: no '{key}' for epoch {epoch}"))?;
        expect(v, key, at, PyValue::as_f64).map(Some)
    };
    let train_acc = per_epoch("train_acc1es", last)?.ok_or_else(|| format!("{at}: no 'train_acc1es'"))?;
    let train_loss = per_epoch("train_losses", last)?;
    let times = (0..epochs).map(|e| per_epoch("train_times", e)).collect::<Parsed<Option<Vec<f64>>>>()?;
    let train_time_total = times.map(|t| t.iter().sum::<f64>());
    let names = expect(field(result, "eval_names", at)?, "eval_names", at, PyValue::as_list)?;
    let eval_acc1es = field(result, "eval_acc1es", at)?;
    let mut evals = Vec::new();
    for name in names {
        let name = expect(name, "eval_names item", at, PyValue::as_str)?;
        let key = format!("{name}@{last}");
        let accuracy = field(eval_acc1es, &key, &format!("{at}, eval_acc1es"))?;
        let accuracy = expect(accuracy, &key, at, PyValue::as_f64)?;
        let at = format!("{at}, {key}");
        let loss = result.get("eval_losses").map(|t| opt_num(t, &key, &at)).transpose()?.flatten();
        let time = result.get("eval_times").map(|t| opt_num(t, &key, &at)).transpose()?.flatten();
        evals.push(NatsEval { name: name.to_owned(), accuracy, loss, time });
    }
    let acc = |set: &str| evals.iter().find(|e| e.name == set).map(|e| e.accuracy);
    let cifar10 = matches!(dataset, "cifar10" | "cifar10-valid");
    let latency = match result.get("latency") {
        None | Some(PyValue::None) => None,
        Some(list) => {
            let values = expect(list, "latency", at, PyValue::as_list)?;
            let values =
                values.iter().map(|v| expect(v, "latency item", at, PyValue::as_f64)).collect::<Parsed<Vec<f64>>>()?;
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        }
    };
    Ok(NatsRun {
        seed,
        epochs,
        train_acc,
        train_loss,
        valid_acc: acc("x-valid"),
        test_acc: if cifar10 { acc("ori-test") } else { acc("x-test") },
        valtest_acc: if cifar10 { None } else { acc("ori-test") },
        train_time_per_epoch: train_time_total.map(|t| t / epochs as f64),
        train_time_total,
        params: opt_num(result, "params", at)?,
        flops: opt_num(result, "flop", at)?,
        latency,
        evals,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bzip2::Compression;
    use bzip2::write::BzEncoder;

    use super::*;

    fn s(t: &str) -> PyValue {
        PyValue::Str(t.to_owned())
    }

    fn dict(items: Vec<(&str, PyValue)>) -> PyValue {
        PyValue::Dict(items.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    fn ints(v: &[i64]) -> Vec<PyValue> {
        v.iter().map(|&i| PyValue::Int(i)).collect()
    }

    /// SHORT_BINUNICODE.
    fn short_str(b: &mut Vec<u8>, t: &str) {
        b.extend([0x8c, t.len() as u8]);
        b.extend(t.as_bytes());
    }

    /// `numpy.dtype(code, False, True)` with its BUILD state of byte order `order`.
    fn dtype_state(b: &mut Vec<u8>, order: &str) {
        b.extend([b'(', b'K', 3]);
        short_str(b, order);
        b.extend([b'N', b'N', b'N', b'J', 0xff, 0xff, 0xff, 0xff, b'J', 0xff, 0xff, 0xff, 0xff, b'K', 0, b't', b'b']);
    }

    /// Hand-written protocol-4 pickle covering the opcodes the NATS files use and a few more.
    fn opcode_fixture() -> Vec<u8> {
        let mut b = vec![b'}', 0x94, b'(']; // {} as memo 0, MARK
        short_str(&mut b, "ints");
        b.extend([0x94, b']', 0x94, b'(', b'K', 7, b'M', 0x2c, 0x01, b'J', 0xfb, 0xff, 0xff, 0xff]);
        b.extend([0x8a, 5, 0, 0, 0, 0, 2, 0x8a, 1, 0x80, 0x8a, 0, b'e']); // LONG1 2**33, -128, 0; APPENDS
        short_str(&mut b, "misc");
        b.extend([b'(', b'N', 0x88, 0x89, b'G']);
        b.extend(1.5f64.to_be_bytes());
        b.push(b'X');
        b.extend(6u32.to_le_bytes());
        b.extend("héllo".as_bytes());
        b.push(0x8d);
        b.extend(2u64.to_le_bytes());
        b.extend(b"u8");
        b.extend([b'C', 2, b'y', b'z', b'B', 3, 0, 0, 0, b'a', b'b', b'c', b'N', b'0', b't']);
        short_str(&mut b, "tuples");
        b.extend([b'(', b')', b'K', 1, 0x85, b'K', 1, b'K', 2, 0x86, b'K', 1, b'K', 2, b'K', 3, 0x87, b'l']);
        short_str(&mut b, "set");
        b.extend([0x8f, b'(', b'K', 4, b'K', 5, 0x90]);
        // numpy float64 0.25: STACK_GLOBAL, BINPUT 10 on the function, LONG_BINPUT 11 on the dtype.
        short_str(&mut b, "f64");
        short_str(&mut b, "numpy.core.multiarray");
        short_str(&mut b, "scalar");
        b.extend([0x93, b'q', 10]);
        short_str(&mut b, "numpy");
        short_str(&mut b, "dtype");
        b.push(0x93);
        short_str(&mut b, "f8");
        b.extend([b'K', 0, b'K', 1, 0x87, b'R', b'r', 11, 0, 0, 0]);
        dtype_state(&mut b, "<");
        b.extend([b'C', 8]);
        b.extend(0.25f64.to_le_bytes());
        b.extend([0x86, b'R']);
        // numpy int64 -7, big-endian, through GLOBAL and numpy 2's module name.
        short_str(&mut b, "i64");
        b.extend(b"cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\n");
        short_str(&mut b, "i8");
        b.extend([0x89, 0x88, 0x87, b'R']);
        dtype_state(&mut b, ">");
        b.extend([b'C', 8]);
        b.extend((-7i64).to_be_bytes());
        b.extend([0x86, b'R']);
        // The memoized function and dtype again (BINGET, LONG_BINGET): the dtype keeps its state.
        short_str(&mut b, "f64_again");
        b.extend([b'h', 10, b'j', 11, 0, 0, 0, b'C', 8]);
        b.extend((-2.5f64).to_le_bytes());
        b.extend([0x86, b'R']);
        short_str(&mut b, "od");
        b.extend(b"ccollections\nOrderedDict\n)R");
        short_str(&mut b, "k");
        b.extend([b'K', 9, b's']);
        short_str(&mut b, "shared");
        b.extend([b'h', 2]); // the list, memoized empty and filled afterwards
        short_str(&mut b, "key_again");
        b.extend([b'h', 1]);
        short_str(&mut b, "obj");
        b.extend(b"cmymod\nThing\nK\x01\x85\x81}");
        short_str(&mut b, "x");
        b.extend([b'K', 2, b's', b'b']);
        short_str(&mut b, "dict_op");
        b.push(b'(');
        short_str(&mut b, "a");
        b.extend([b'K', 1, b'd', b'2', b'0', b'u', b'.']); // DICT, DUP, POP, SETITEMS, STOP
        let mut out = vec![0x80, 4, 0x95];
        out.extend((b.len() as u64).to_le_bytes());
        out.extend(b);
        out
    }

    #[test]
    fn nats_decodes_every_opcode_exactly() {
        let big = PyValue::List(ints(&[7, 300, -5, 1 << 33, -128, 0]));
        let expected = dict(vec![
            ("ints", big.clone()),
            (
                "misc",
                PyValue::Tuple(vec![
                    PyValue::None,
                    PyValue::Bool(true),
                    PyValue::Bool(false),
                    PyValue::Float(1.5),
                    s("héllo"),
                    s("u8"),
                    PyValue::Bytes(b"yz".to_vec()),
                    PyValue::Bytes(b"abc".to_vec()),
                ]),
            ),
            (
                "tuples",
                PyValue::List(vec![
                    PyValue::Tuple(vec![]),
                    PyValue::Tuple(ints(&[1])),
                    PyValue::Tuple(ints(&[1, 2])),
                    PyValue::Tuple(ints(&[1, 2, 3])),
                ]),
            ),
            ("set", PyValue::Set(ints(&[4, 5]))),
            ("f64", PyValue::Float(0.25)),
            ("i64", PyValue::Int(-7)),
            ("f64_again", PyValue::Float(-2.5)),
            ("od", dict(vec![("k", PyValue::Int(9))])),
            ("shared", big),
            ("key_again", s("ints")),
            (
                "obj",
                PyValue::Object {
                    module: "mymod".into(),
                    name: "Thing".into(),
                    args: ints(&[1]),
                    state: Some(Box::new(dict(vec![("x", PyValue::Int(2))]))),
                },
            ),
            ("dict_op", dict(vec![("a", PyValue::Int(1))])),
        ]);
        let value = parse_pickle(&opcode_fixture()).unwrap();
        assert_eq!(value, expected);
        assert_eq!(value.get("f64").and_then(PyValue::as_f64), Some(0.25));
        assert_eq!(value.get("misc").and_then(PyValue::as_list).map(<[PyValue]>::len), Some(8));
        assert_eq!(value.get("key_again").and_then(PyValue::as_str), Some("ints"));
        assert!(value.get("missing").is_none());
    }

    #[test]
    fn nats_numpy_scalar_dtypes() {
        assert_eq!(numpy_value("f4", "<", &1.25f32.to_le_bytes()), Ok(PyValue::Float(1.25)));
        assert_eq!(numpy_value("<i4", "|", &(-3i32).to_le_bytes()), Ok(PyValue::Int(-3)));
        assert_eq!(numpy_value("u2", ">", &[1, 0]), Ok(PyValue::Int(256)));
        assert_eq!(numpy_value("b1", "|", &[1]), Ok(PyValue::Bool(true)));
        assert!(numpy_value("c16", "<", &[0; 16]).unwrap_err().contains("unsupported numpy dtype"));
        assert!(numpy_value("f8", "<", &[0; 4]).unwrap_err().contains("4 bytes"));
    }

    /// A minimal pickler of [`PyValue`]s (objects as `REDUCE` plus `BUILD`), for fixtures.
    fn encode(v: &PyValue, out: &mut Vec<u8>) {
        let seq = |items: &[PyValue], out: &mut Vec<u8>, open: &[u8], close: u8| {
            out.extend(open);
            items.iter().for_each(|i| encode(i, out));
            out.push(close);
        };
        match v {
            PyValue::None => out.push(b'N'),
            PyValue::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
            PyValue::Int(i) => {
                out.extend([0x8a, 8]);
                out.extend(i.to_le_bytes());
            }
            PyValue::Float(x) => {
                out.push(b'G');
                out.extend(x.to_be_bytes());
            }
            PyValue::Str(t) => {
                out.push(b'X');
                out.extend((t.len() as u32).to_le_bytes());
                out.extend(t.as_bytes());
            }
            PyValue::Bytes(t) => {
                out.push(b'B');
                out.extend((t.len() as u32).to_le_bytes());
                out.extend(t);
            }
            PyValue::List(items) => seq(items, out, b"](", b'e'),
            PyValue::Tuple(items) => seq(items, out, b"(", b't'),
            PyValue::Set(items) => seq(items, out, &[0x8f, b'('], 0x90),
            PyValue::Dict(items) => {
                out.extend(b"}(");
                items.iter().for_each(|(k, v)| [k, v].into_iter().for_each(|x| encode(x, out)));
                out.push(b'u');
            }
            PyValue::Global { module, name } => {
                encode(&s(module), out);
                encode(&s(name), out);
                out.push(0x93);
            }
            PyValue::Object { module, name, args, state } => {
                encode(&PyValue::Global { module: module.clone(), name: name.clone() }, out);
                encode(&PyValue::Tuple(args.clone()), out);
                out.push(b'R');
                if let Some(st) = state {
                    encode(st, out);
                    out.push(b'b');
                }
            }
        }
    }

    fn pickle(v: &PyValue) -> Vec<u8> {
        let mut out = vec![0x80, 4];
        encode(v, &mut out);
        out.push(b'.');
        out
    }

    fn np_f64(x: f64) -> PyValue {
        let state = PyValue::Tuple(vec![
            PyValue::Int(3),
            s("<"),
            PyValue::None,
            PyValue::None,
            PyValue::None,
            PyValue::Int(-1),
            PyValue::Int(-1),
            PyValue::Int(0),
        ]);
        let dtype = PyValue::Object {
            module: "numpy".into(),
            name: "dtype".into(),
            args: vec![s("f8"), PyValue::Bool(false), PyValue::Bool(true)],
            state: Some(Box::new(state)),
        };
        PyValue::Object {
            module: "numpy.core.multiarray".into(),
            name: "scalar".into(),
            args: vec![dtype, PyValue::Bytes(x.to_le_bytes().to_vec())],
            state: None,
        }
    }

    fn bz2(bytes: &[u8]) -> Vec<u8> {
        let mut enc = BzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// A fresh scratch directory under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nas-nats-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn nats_roundtrips_plain_values() {
        let v = dict(vec![
            ("a", PyValue::List(vec![PyValue::Int(i64::MIN), PyValue::Float(-0.5), PyValue::None])),
            ("b", PyValue::Tuple(vec![s("x"), PyValue::Bytes(vec![0, 255]), PyValue::Bool(true)])),
            ("c", PyValue::Set(ints(&[1]))),
            ("d", PyValue::Global { module: "m".into(), name: "f".into() }),
            ("e", PyValue::Dict(vec![(PyValue::Tuple(vec![s("k"), PyValue::Int(1)]), PyValue::List(vec![]))])),
        ]);
        assert_eq!(parse_pickle(&pickle(&v)).unwrap(), v);
    }

    /// One `ResultsCount`-like record of `epochs` epochs with the given final accuracies.
    fn result(epochs: i64, train: f64, evals: &[(&str, f64)]) -> PyValue {
        let last = epochs - 1;
        let per_epoch = |x: f64| PyValue::Dict((0..epochs).map(|e| (PyValue::Int(e), PyValue::Float(x))).collect());
        let at_last = |f: &dyn Fn(f64) -> f64| {
            PyValue::Dict(evals.iter().map(|(n, a)| (s(&format!("{n}@{last}")), PyValue::Float(f(*a)))).collect())
        };
        dict(vec![
            ("epochs", PyValue::Int(epochs)),
            ("train_acc1es", PyValue::Dict(vec![(PyValue::Int(last), PyValue::Float(train))])),
            ("train_losses", PyValue::Dict(vec![(PyValue::Int(last), PyValue::Float(0.5))])),
            ("train_times", per_epoch(2.0)),
            ("params", np_f64(0.25)),
            ("flop", PyValue::Float(10.0)),
            ("latency", PyValue::List(vec![np_f64(0.01), np_f64(0.03)])),
            ("eval_names", PyValue::List(evals.iter().map(|(n, _)| s(n)).collect())),
            ("eval_acc1es", at_last(&|a| a)),
            ("eval_losses", at_last(&|_| 1.0)),
            ("net_state_dict", PyValue::None),
        ])
    }

    #[test]
    fn nats_reads_a_typed_record() {
        let key = |d: &str, seed: i64| PyValue::Tuple(vec![s(d), PyValue::Int(seed)]);
        let record = dict(vec![
            ("arch_index", PyValue::Int(3)),
            ("arch_str", s("|skip_connect~0|")),
            (
                "all_results",
                PyValue::Dict(vec![
                    (key("cifar10", 777), result(4, 90.0, &[("ori-test", 80.0)])),
                    (key("cifar10", 888), result(4, 92.0, &[("ori-test", 82.0)])),
                    (key("cifar100", 777), result(4, 60.0, &[("x-valid", 50.0), ("x-test", 51.0), ("ori-test", 50.5)])),
                ]),
            ),
            (
                "dataset_seed",
                dict(vec![("cifar10", PyValue::List(ints(&[777, 888]))), ("cifar100", PyValue::List(ints(&[777])))]),
            ),
            ("clear_net_done", PyValue::Bool(true)),
        ]);
        let dir = scratch("typed");
        let file = arch_file(&dir, 3);
        std::fs::write(&file, bz2(&pickle(&dict(vec![("200", record)])))).unwrap();

        let rec = read_arch(&dir, 3).unwrap();
        assert_eq!((rec.index, rec.arch_str.as_str()), (3, "|skip_connect~0|"));
        let c10 = rec.dataset("200", "cifar10").unwrap();
        assert_eq!(c10.runs.len(), 2);
        assert_eq!(c10.test_acc(), Some(81.0));
        assert_eq!(c10.train_acc(), Some(91.0));
        assert_eq!((c10.valid_acc(), c10.valtest_acc()), (None, None));
        let run = c10.run(888).unwrap();
        assert_eq!((run.epochs, run.train_loss, run.params, run.flops), (4, Some(0.5), Some(0.25), Some(10.0)));
        assert_eq!((run.train_time_total, run.train_time_per_epoch), (Some(8.0), Some(2.0)));
        assert!((run.latency.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(run.eval("ori-test").map(|e| (e.accuracy, e.loss, e.time)), Some((82.0, Some(1.0), None)));
        let c100 = rec.dataset("200", "cifar100").unwrap();
        assert_eq!((c100.valid_acc(), c100.test_acc(), c100.valtest_acc()), (Some(50.0), Some(51.0), Some(50.5)));

        let err = rec.schedule("12").unwrap_err().to_string();
        assert!(err.contains("000003.pickle.pbz2: no '12' schedule (has 200)"), "{err}");
        let err = rec.dataset("200", "ImageNet16-120").unwrap_err().to_string();
        assert!(err.contains("no 'ImageNet16-120' results"), "{err}");
        let err = read_arch(&dir, 4).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        std::fs::rename(&file, arch_file(&dir, 5)).unwrap();
        let err = read_arch(&dir, 5).unwrap_err().to_string();
        assert!(err.contains("schedule '200': arch_index is 3, expected 5"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nats_missing_record_key_names_file_and_place() {
        let record = dict(vec![
            ("arch_index", PyValue::Int(0)),
            ("arch_str", s("a")),
            (
                "all_results",
                PyValue::Dict(vec![(
                    PyValue::Tuple(vec![s("cifar10"), PyValue::Int(1)]),
                    dict(vec![("epochs", PyValue::Int(2))]),
                )]),
            ),
            ("dataset_seed", dict(vec![("cifar10", PyValue::List(ints(&[1])))])),
        ]);
        let dir = scratch("missing-key");
        std::fs::write(arch_file(&dir, 0), bz2(&pickle(&dict(vec![("12", record)])))).unwrap();
        let err = read_arch(&dir, 0).unwrap_err().to_string();
        assert!(err.contains("000000.pickle.pbz2: schedule '12', cifar10 seed 1: no 'train_acc1es'"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn pickle_error(bytes: &[u8]) -> String {
        parse_pickle(bytes).unwrap_err().to_string()
    }

    #[test]
    fn nats_pickle_errors() {
        let mut truncated = opcode_fixture();
        truncated.truncate(40);
        assert!(pickle_error(&truncated).contains("truncated pickle"));
        assert!(pickle_error(&[0x80, 4, 0x8c, 5, b'a']).contains("truncated pickle: 5 bytes needed, 1 left"));
        assert!(pickle_error(&[0x80, 4, b'N']).contains("ended without STOP"));
        assert!(pickle_error(&[0x80, 4, 0xff]).contains("unknown or unsupported opcode 0xff (at byte 2)"));
        assert!(pickle_error(&[0x80, 4, b'K', 1, b's', b'.']).contains("stack underflow"));
        assert!(pickle_error(&[b'(', b'N', b'.']).contains("stack underflow"));
        assert!(pickle_error(&[b'N', b'u', b'.']).contains("no MARK"));
        assert!(pickle_error(&[b'h', 3, b'.']).contains("memo index 3 is not defined"));
        assert!(pickle_error(&[b'K', 1, b'K', 2, b's', b'.']).contains("cannot set items on a int"));
        assert!(pickle_error(&[0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'.']).contains("does not fit in 64 bits"));
        // A list containing itself.
        assert!(pickle_error(&[b']', 0x94, b'h', 0, b'a', b'.']).contains("nesting deeper"));
    }

    #[test]
    fn nats_file_errors() {
        let dir = scratch("files");
        let err = read_meta(&dir).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        std::fs::write(dir.join("meta.pickle.pbz2"), pickle(&PyValue::None)).unwrap();
        let err = read_meta(&dir).unwrap_err().to_string();
        assert!(err.contains("meta.pickle.pbz2: not a bzip2 file"), "{err}");
        std::fs::write(dir.join("meta.pickle.pbz2"), b"BZh9 this is not compressed").unwrap();
        let err = read_meta(&dir).unwrap_err().to_string();
        assert!(err.contains("corrupt bzip2 data"), "{err}");
        let mut cut = bz2(&opcode_fixture());
        cut.truncate(cut.len() / 2);
        std::fs::write(dir.join("meta.pickle.pbz2"), cut).unwrap();
        assert!(read_meta(&dir).is_err());
        std::fs::write(dir.join("meta.pickle.pbz2"), bz2(&[0x80, 4, 0xfe])).unwrap();
        let err = read_meta(&dir).unwrap_err().to_string();
        assert!(err.contains("meta.pickle.pbz2: bad pickle: unknown or unsupported opcode 0xfe"), "{err}");
        let meta = dict(vec![("meta_archs", PyValue::List(vec![s("a")])), ("total_archs", PyValue::Int(2))]);
        std::fs::write(dir.join("meta.pickle.pbz2"), bz2(&pickle(&meta))).unwrap();
        let err = read_meta(&dir).unwrap_err().to_string();
        assert!(err.contains("total_archs is 2 but meta_archs has 1 items"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The NATS-Bench sample directory `sub`, or `None` (printing why) when the data is absent.
    fn nats_dir(sub: &str) -> Option<PathBuf> {
        crate::data::for_tests(&format!("nats/{sub}/meta.pickle.pbz2")).map(|d| d.path.join("nats").join(sub))
    }

    const TSS: &str = "NATS-tss-v1_0-3ffb9-simple";
    const SSS: &str = "NATS-sss-v1_0-50262-simple";

    #[test]
    fn nats_real_topology_files_agree_with_the_nb201_csv() {
        let (Some(dir), Some(data)) = (nats_dir(TSS), crate::data::for_tests("nb201/nb201_master.csv")) else {
            return;
        };
        let meta = read_meta(&dir).unwrap();
        assert_eq!((meta.archs.len(), meta.total_archs), (15_625, 15_625));
        assert_eq!(
            meta.archs[0],
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        );
        assert_eq!(meta.index_of(&meta.archs[284]), Some(284));

        let mut csv = csv::Reader::from_path(data.path.join("nb201/nb201_master.csv")).unwrap();
        let headers = csv.headers().unwrap().clone();
        let mut checked = 0;
        for row in csv.records() {
            let row = row.unwrap();
            let col = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
            let num = |name: &str| col(name).parse::<f64>().unwrap();
            let index: usize = col("idx").parse().unwrap();
            if ![0, 11, 284].contains(&index) {
                continue;
            }
            let rec = read_arch(&dir, index).unwrap();
            assert_eq!(rec.arch_str, col("arch_str"));
            assert_eq!(rec.arch_str, meta.archs[index]);
            let ds = |hp: &str, name: &str| rec.dataset(hp, name).unwrap();
            let close = |got: Option<f64>, column: &str| {
                let want = num(column);
                assert!(got.is_some_and(|g| (g - want).abs() < 1e-3), "arch {index} {column}: {got:?} vs {want}");
            };
            close(ds("200", "cifar10").test_acc(), "c10_test_acc");
            close(ds("200", "cifar10-valid").valid_acc(), "c10v_valid_acc");
            close(ds("200", "cifar10-valid").test_acc(), "c10v_test_acc");
            close(ds("200", "cifar100").valid_acc(), "c100_valid_acc_derived");
            close(ds("200", "cifar100").test_acc(), "c100_test_acc");
            close(ds("200", "cifar100").valtest_acc(), "c100_valtest_acc");
            close(ds("200", "ImageNet16-120").test_acc(), "in16_test_acc");
            close(ds("200", "ImageNet16-120").valtest_acc(), "in16_valtest_acc");
            close(ds("200", "cifar10-valid").train_acc(), "c10v_train_acc");
            close(ds("200", "cifar10").runs[0].params, "params_c10_M");
            close(ds("200", "cifar100").runs[0].params, "params_c100_M");
            close(ds("200", "cifar10-valid").mean(|r| r.train_time_total), "train_time_c10v_s");
            close(ds("12", "cifar10").test_acc(), "e12_c10_test_acc");
            close(ds("12", "cifar10-valid").valid_acc(), "e12_c10v_valid_acc");
            close(ds("12", "cifar100").test_acc(), "e12_c100_test_acc");
            close(ds("12", "ImageNet16-120").valid_acc(), "e12_in16_valid_acc");
            let runs = &ds("200", "cifar10-valid").runs;
            assert_eq!(runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [777, 888, 999]);
            assert!(runs.iter().all(|r| r.epochs == 200 && r.latency.is_some_and(|l| l > 0.0)));
            for (seed, column) in [(777, "c10v_valid_acc_s0"), (888, "c10v_valid_acc_s1"), (999, "c10v_valid_acc_s2")] {
                close(ds("200", "cifar10-valid").run(seed).and_then(|r| r.valid_acc), column);
            }
            checked += 1;
        }
        assert_eq!(checked, 3);
    }

    #[test]
    fn nats_real_size_space_files() {
        let Some(dir) = nats_dir(SSS) else { return };
        let meta = read_meta(&dir).unwrap();
        assert_eq!((meta.archs.len(), meta.total_archs), (32_768, 32_768));
        assert_eq!((meta.archs[0].as_str(), meta.archs[1].as_str()), ("8:8:8:8:8", "8:8:8:8:16"));
        assert!(meta.evaluated_indexes.is_empty());
        let rec = read_arch(&dir, 11).unwrap();
        assert_eq!(rec.arch_str, meta.archs[11]);
        let hps: Vec<&str> = rec.schedules.iter().map(|s| s.hp.as_str()).collect();
        assert_eq!(hps, ["01", "12", "90"]);
        let c100 = rec.dataset("90", "cifar100").unwrap();
        assert_eq!(c100.runs[0].epochs, 90);
        assert!(c100.test_acc().is_some_and(|a| (0.0..=100.0).contains(&a)));
        let err = rec.schedule("200").unwrap_err().to_string();
        assert!(err.contains("000011.pickle.pbz2: no '200' schedule (has 01, 12, 90)"), "{err}");
    }
}
