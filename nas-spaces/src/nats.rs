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
//!
//! Supported pickle opcodes (protocols 2 to 5, binary forms): `PROTO`, `FRAME`, `STOP`, `MARK`,
//! `POP`, `POP_MARK`, `DUP`, `NONE`, `NEWTRUE`, `NEWFALSE`, `BININT`, `BININT1`, `BININT2`,
//! `LONG1`, `LONG4` (up to 64 bits), `BINFLOAT`, `SHORT_BINUNICODE`, `BINUNICODE`, `BINUNICODE8`,
//! `SHORT_BINBYTES`, `BINBYTES`, `BINBYTES8`, `BYTEARRAY8`, `EMPTY_DICT`, `EMPTY_LIST`,
//! `EMPTY_TUPLE`, `EMPTY_SET`, `DICT`, `LIST`, `TUPLE`, `TUPLE1`-`TUPLE3`, `FROZENSET`, `SETITEM`,
//! `SETITEMS`, `APPEND`, `APPENDS`, `ADDITEMS`, `MEMOIZE`, `BINPUT`, `LONG_BINPUT`, `BINGET`,
//! `LONG_BINGET`, `GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `NEWOBJ`, `BUILD`. Anything else (text
//! protocol 0, persistent ids, extension registry, `NEWOBJ_EX`, out-of-band buffers) is an error;
//! the "full" benchmark files, whose `net_state_dict` holds torch tensors, are out of scope.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use bzip2::read::MultiBzDecoder;
use nas_core::{Error, Result};

/// A Python value decoded from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// A `bool`.
    Bool(bool),
    /// An `int` (or a numpy integer scalar); integers beyond `i64` are rejected.
    Int(i64),
    /// A `float` (or a numpy `float64`/`float32` scalar).
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `tuple`.
    Tuple(Vec<PyValue>),
    /// A `dict` or `collections.OrderedDict`, items in pickled (insertion) order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A `set` or `frozenset`.
    Set(Vec<PyValue>),
    /// A reference to a class or function (`GLOBAL` / `STACK_GLOBAL`).
    Global {
        /// The module, e.g. `collections`.
        module: String,
        /// The name inside the module.
        name: String,
    },
    /// An object built by `REDUCE` / `NEWOBJ` of `module.name` with `args`, and the `BUILD` state.
    Object {
        /// The class's module.
        module: String,
        /// The class's name.
        name: String,
        /// The constructor's arguments.
        args: Vec<PyValue>,
        /// The state set by `BUILD`, if any.
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

    /// The integer, if this is an `Int`.
    pub fn as_i64(&self) -> Option<i64> {
        if let PyValue::Int(i) = self { Some(*i) } else { None }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        if let PyValue::Bool(b) = self { Some(*b) } else { None }
    }

    /// The text, if this is a `Str`.
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

    /// The items, if this is a `Dict`.
    pub fn as_dict(&self) -> Option<&[(PyValue, PyValue)]> {
        if let PyValue::Dict(d) = self { Some(d) } else { None }
    }

    /// Whether this is `None`.
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

/// Largest compressed pickle file read (the benchmark's are below 100 kB).
const MAX_COMPRESSED_BYTES: u64 = 256 << 20;
/// Largest decompressed pickle (the benchmark's meta file is 1.4 MB): guards against bzip2 bombs.
const MAX_PICKLE_BYTES: u64 = 1 << 30;

/// Reads a bz2-compressed pickle file (a regular file of at most 256 MiB, at most 1 GiB decompressed).
pub fn read_pickle(path: &Path) -> Result<PyValue> {
    let raw = nas_core::fsio::read_bounded(path, MAX_COMPRESSED_BYTES)?;
    if !raw.starts_with(b"BZh") {
        return Err(data_error(path, "not a bzip2 file (no 'BZh' header)"));
    }
    let mut bytes = Vec::new();
    MultiBzDecoder::new(raw.as_slice())
        .take(MAX_PICKLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| data_error(path, format!("corrupt bzip2 data: {e}")).with_source(e))?;
    if bytes.len() as u64 > MAX_PICKLE_BYTES {
        return Err(data_error(path, format!("more than {MAX_PICKLE_BYTES} bytes decompressed")));
    }
    decode(&bytes).map_err(|e| data_error(path, format!("bad pickle: {e}")))
}

/// Decodes uncompressed pickle bytes.
pub fn parse_pickle(bytes: &[u8]) -> Result<PyValue> {
    decode(bytes).map_err(|e| Error::parse("pickle data", e))
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::data(path, None, message)
}

// ---------------------------------------------------------------------------------------------
// The pickle machine. Objects live in an arena so that the memo shares them the way Python does
// (a dict memoized while empty and filled later is seen filled by every later `BINGET`).
//
// The machine reads from any `BufRead`, so a pickle of gigabytes is never held whole. In
// streaming mode ([`stream_pickle`]) the items of one dict (the one pickled right after a given
// string key, e.g. `arch2infos`) are handed to a callback as soon as each value is complete and
// their nodes are freed, so memory stays at about one item.

/// Deepest nesting accepted when turning the arena into values (guards against cycles).
const MAX_DEPTH: usize = 512;
/// Most values produced from one pickle (guards against exponential blow-up of shared objects).
const MAX_VALUES: usize = 50_000_000;
/// Longest `GLOBAL` name line accepted.
const MAX_LINE: usize = 4096;

/// A result whose error is a message, given context (the file) by the caller.
type Parsed<T> = std::result::Result<T, String>;

/// Receives the items of the streamed dict, one `(key, value)` at a time.
pub type ItemSink<'s> = &'s mut dyn FnMut(PyValue, PyValue) -> std::result::Result<(), String>;

enum Node {
    Leaf(PyValue),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    Object {
        module: String,
        name: String,
        args: Vec<usize>,
        state: Option<usize>,
    },
    /// A slot freed after its item was streamed out, reused by the next node.
    Free,
}

struct Stream<'s> {
    /// The string key the streamed dict is pickled after.
    key: String,
    /// The streamed dict's node, once it has been pushed.
    dict: Option<usize>,
    sink: ItemSink<'s>,
}

struct Machine<'s, R> {
    input: R,
    /// Bytes consumed so far, counted from `start` (the pickle's offset in its file).
    pos: u64,
    /// Offset of the opcode being run, for error messages.
    op_at: u64,
    nodes: Vec<Node>,
    /// The memo key of each node, if memoized (to drop the entry when the node is freed).
    memo_of: Vec<Option<u64>>,
    free: Vec<usize>,
    stack: Vec<usize>,
    /// Stack lengths at each `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u64, usize>,
    stream: Option<Stream<'s>>,
    /// Number of memo keys ever defined.
    memo_len: u64,
    /// Streamed items emitted so far.
    items: u64,
    /// Per node: the item being read when it was made, the item of its last `BINGET`
    /// ([`NEVER`] if none), and whether it is never freed.
    born: Vec<u64>,
    got_in: Vec<u64>,
    pinned: Vec<bool>,
    /// Memoized nodes of the current and of the previous item, freed unless a later item
    /// references them.
    candidates: Vec<usize>,
    candidates_prev: Vec<usize>,
    /// Memoized plain values of earlier items kept in case a later one shares them (oldest
    /// first, with their approximate cost in bytes), up to [`RETAINED_BYTES`].
    retained: std::collections::VecDeque<(usize, usize)>,
    retained_bytes: usize,
}

/// How much memory the memoized strings of past streamed items may keep (about 8 MB).
const RETAINED_BYTES: usize = 8 << 20;

/// `got_in` of a node never fetched from the memo.
const NEVER: u64 = u64::MAX;

fn decode(data: &[u8]) -> Parsed<PyValue> {
    Machine::new(data, 0, None).run()
}

/// Decodes one pickle from `input` (which starts at byte `start` of its file, for messages),
/// leaving `input` just after the pickle's `STOP`. With `stream = Some((key, sink))`, the items
/// of the dict pickled right after the string `key` go to `sink` as they complete instead of
/// into the returned value (where that dict is left empty). Values of that dict must be
/// pickled in one `SETITEM(S)` batch (dicts of up to 1,000 items, as Python writes them).
pub fn stream_pickle<R: BufRead>(
    input: R,
    start: u64,
    stream: Option<(&str, ItemSink<'_>)>,
) -> std::result::Result<PyValue, String> {
    let stream = stream.map(|(key, sink)| Stream { key: key.to_owned(), dict: None, sink });
    Machine::new(input, start, stream).run()
}

impl<'s, R: BufRead> Machine<'s, R> {
    fn new(input: R, start: u64, stream: Option<Stream<'s>>) -> Self {
        Machine {
            input,
            pos: start,
            op_at: start,
            nodes: Vec::new(),
            memo_of: Vec::new(),
            free: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            stream,
            memo_len: 0,
            items: 0,
            born: Vec::new(),
            got_in: Vec::new(),
            pinned: Vec::new(),
            candidates: Vec::new(),
            candidates_prev: Vec::new(),
            retained: std::collections::VecDeque::new(),
            retained_bytes: 0,
        }
    }

    fn bad(&self, message: impl fmt::Display) -> String {
        format!("{message} (at byte {})", self.op_at)
    }

    fn truncated(&self, n: usize, got: usize) -> String {
        format!("truncated pickle: {n} bytes needed, {got} left (at byte {})", self.pos)
    }

    /// Reads `n` bytes onto `out`, growing it only as data arrives (a corrupt length cannot
    /// allocate more than the file holds).
    fn read_into(&mut self, n: usize, out: &mut Vec<u8>) -> Parsed<()> {
        let mut got = 0;
        while got < n {
            let buf = self.input.fill_buf().map_err(|e| format!("read error: {e} (at byte {})", self.pos))?;
            if buf.is_empty() {
                return Err(self.truncated(n, got));
            }
            let k = (n - got).min(buf.len());
            out.extend_from_slice(&buf[..k]);
            self.input.consume(k);
            got += k;
        }
        self.pos += n as u64;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Parsed<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(1 << 16));
        self.read_into(n, &mut out)?;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Parsed<[u8; N]> {
        let mut v = Vec::with_capacity(N);
        self.read_into(N, &mut v)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }

    /// The next byte, `None` at the end of the input.
    fn next_byte(&mut self) -> Parsed<Option<u8>> {
        let buf = self.input.fill_buf().map_err(|e| format!("read error: {e} (at byte {})", self.pos))?;
        let Some(&b) = buf.first() else { return Ok(None) };
        self.input.consume(1);
        self.pos += 1;
        Ok(Some(b))
    }

    fn byte(&mut self) -> Parsed<u8> {
        self.next_byte()?.ok_or_else(|| self.truncated(1, 0))
    }

    /// A length of `N` little-endian bytes, then that many bytes.
    fn sized<const N: usize>(&mut self) -> Parsed<Vec<u8>> {
        let mut a = [0u8; 8];
        a[..N].copy_from_slice(&self.array::<N>()?);
        let n = usize::try_from(u64::from_le_bytes(a)).map_err(|_| self.bad("length too large"))?;
        self.take(n)
    }

    fn text<const N: usize>(&mut self) -> Parsed<PyValue> {
        let bytes = self.sized::<N>()?;
        let text = String::from_utf8(bytes).map_err(|_| self.bad("string is not valid UTF-8"))?;
        Ok(PyValue::Str(text))
    }

    fn long<const N: usize>(&mut self) -> Parsed<PyValue> {
        let bytes = self.sized::<N>()?;
        signed_le(&bytes).map(PyValue::Int).ok_or_else(|| self.bad("integer does not fit in 64 bits"))
    }

    fn line(&mut self) -> Parsed<String> {
        let mut line = Vec::new();
        loop {
            match self.next_byte()? {
                None => return Err(self.bad("truncated pickle: no end of line")),
                Some(b'\n') => break,
                Some(_) if line.len() >= MAX_LINE => return Err(self.bad("GLOBAL name line too long")),
                Some(b) => line.push(b),
            }
        }
        String::from_utf8(line).map_err(|_| self.bad("GLOBAL name is not valid UTF-8"))
    }

    fn push_node(&mut self, node: Node) {
        // Until the streamed dict begins, nothing is ever freed.
        let pinned = self.stream.as_ref().is_none_or(|s| s.dict.is_none());
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot] = node;
                (self.memo_of[slot], self.born[slot], self.got_in[slot], self.pinned[slot]) =
                    (None, self.items, NEVER, pinned);
                slot
            }
            None => {
                self.nodes.push(node);
                self.memo_of.push(None);
                self.born.push(self.items);
                self.got_in.push(NEVER);
                self.pinned.push(pinned);
                self.nodes.len() - 1
            }
        };
        self.stack.push(slot);
    }

    /// The top of the stack; never below the last `MARK`.
    fn top(&self) -> Parsed<usize> {
        match self.stack.last() {
            Some(&i) if self.stack.len() > self.marks.last().copied().unwrap_or(0) => Ok(i),
            _ => Err(self.bad("stack underflow")),
        }
    }

    fn pop(&mut self) -> Parsed<usize> {
        let top = self.top()?;
        self.stack.pop();
        Ok(top)
    }

    fn pop_mark(&mut self) -> Parsed<Vec<usize>> {
        let mark = self.marks.pop().ok_or_else(|| self.bad("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn leaf_str(&self, i: usize) -> Option<&str> {
        if let Node::Leaf(PyValue::Str(s)) = &self.nodes[i] { Some(s) } else { None }
    }

    /// The value pushed by an opcode that makes a plain value; `None` for other opcodes.
    fn leaf(&mut self, op: u8) -> Parsed<Option<PyValue>> {
        Ok(Some(match op {
            b'N' => PyValue::None,
            0x88 | 0x89 => PyValue::Bool(op == 0x88), // NEWTRUE, NEWFALSE
            b'J' => PyValue::Int(i32::from_le_bytes(self.array()?).into()), // BININT
            b'K' => PyValue::Int(self.byte()?.into()), // BININT1
            b'M' => PyValue::Int(u16::from_le_bytes(self.array()?).into()), // BININT2
            0x8a => self.long::<1>()?,                // LONG1
            0x8b => self.long::<4>()?,                // LONG4
            b'G' => PyValue::Float(f64::from_be_bytes(self.array()?)), // BINFLOAT
            0x8c => self.text::<1>()?,                // SHORT_BINUNICODE
            b'X' => self.text::<4>()?,                // BINUNICODE
            0x8d => self.text::<8>()?,                // BINUNICODE8
            // SHORT_BINBYTES, SHORT_BINSTRING (a Python 2 `str`, read as bytes as
            // `encoding='bytes'` does), BINBYTES, BINSTRING, BINBYTES8, BYTEARRAY8
            b'C' | b'U' => PyValue::Bytes(self.sized::<1>()?),
            b'B' | b'T' => PyValue::Bytes(self.sized::<4>()?),
            0x8e | 0x96 => PyValue::Bytes(self.sized::<8>()?),
            b'c' => PyValue::Global { module: self.line()?, name: self.line()? }, // GLOBAL
            _ => return Ok(None),
        }))
    }

    fn run(mut self) -> Parsed<PyValue> {
        loop {
            self.op_at = self.pos;
            let Some(op) = self.next_byte()? else {
                return Err(self.bad("truncated pickle: ended without STOP"));
            };
            if let Some(value) = self.leaf(op)? {
                self.push_node(Node::Leaf(value));
                continue;
            }
            match op {
                0x80 => self.take(1).map(|_| ())?, // PROTO
                0x95 => self.take(8).map(|_| ())?, // FRAME
                b'.' => {
                    let (root, mut budget) = (self.pop()?, MAX_VALUES);
                    return self.value(root, 0, &mut budget);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => self.pop().map(|_| ())?,
                b'1' => self.pop_mark().map(|_| ())?,
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'}' => {
                    self.push_node(Node::Dict(Vec::new()));
                    self.maybe_start_stream();
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b')' => self.push_node(Node::Tuple(Vec::new())),
                0x8f => self.push_node(Node::Set(Vec::new())),
                b'l' | b't' | 0x91 | b'd' => {
                    let items = self.pop_mark()?;
                    match op {
                        b'l' => self.push_node(Node::List(items)),
                        b't' => self.push_node(Node::Tuple(items)),
                        0x91 => self.push_node(Node::Set(items)), // FROZENSET
                        _ => {
                            self.push_node(Node::Dict(Vec::new()));
                            self.set_items(items)?;
                        }
                    }
                }
                0x85..=0x87 => {
                    let mut items = (0..op - 0x84).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    self.push_node(Node::Tuple(items));
                }
                b's' => {
                    let (value, key) = (self.pop()?, self.pop()?);
                    self.set_items(vec![key, value])?;
                    self.stream_completed_value()?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                    self.stream_completed_value()?;
                }
                b'a' | b'e' | 0x90 => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    let target = self.top()?;
                    match (&mut self.nodes[target], op) {
                        (Node::List(v), b'a' | b'e') | (Node::Set(v), 0x90) => v.extend(items),
                        _ => return Err(self.bad("APPEND(S)/ADDITEMS target is not a list/set")),
                    }
                }
                0x94 | b'q' | b'r' => {
                    // MEMOIZE's key is Python's `len(memo)`, counted here (entries freed while
                    // streaming must not shrink it).
                    let key = match op {
                        0x94 => self.memo_len,
                        b'q' => self.byte()?.into(),
                        _ => u32::from_le_bytes(self.array()?).into(),
                    };
                    let top = self.top()?;
                    if self.memo.insert(key, top).is_none() {
                        self.memo_len += 1;
                    }
                    self.memo_of[top] = Some(key);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.byte()?.into() } else { u32::from_le_bytes(self.array()?).into() };
                    let i = *self.memo.get(&key).ok_or_else(|| self.bad(format!("memo index {key} is not defined")))?;
                    self.got_in[i] = self.items;
                    self.stack.push(i);
                }
                0x93 => {
                    let (name, module) = (self.pop()?, self.pop()?);
                    let (Some(module), Some(name)) = (self.leaf_str(module), self.leaf_str(name)) else {
                        return Err(self.bad("STACK_GLOBAL needs two strings"));
                    };
                    let global = PyValue::Global { module: module.to_owned(), name: name.to_owned() };
                    self.push_node(Node::Leaf(global));
                }
                b'R' | 0x81 => {
                    let (args, callable) = (self.pop()?, self.pop()?);
                    let node = self.call(callable, args)?;
                    let scalar = matches!(node, Node::Leaf(_));
                    let dict = matches!(node, Node::Dict(_));
                    self.push_node(node);
                    if scalar && self.stream.as_ref().is_some_and(|s| s.dict.is_some()) {
                        self.free_tree(args, false); // e.g. the (dtype, bytes) of a numpy scalar, now a number
                    }
                    if dict {
                        self.maybe_start_stream();
                    }
                }
                b'Q' => {
                    // BINPERSID: a torch storage reference; kept opaque.
                    let pid = self.pop()?;
                    let node = Node::Object {
                        module: "torch".into(),
                        name: "persistent_id".into(),
                        args: vec![pid],
                        state: None,
                    };
                    self.push_node(node);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    let Node::Object { state: s, .. } = &mut self.nodes[target] else {
                        return Err(self.bad("BUILD target is not an object made by REDUCE/NEWOBJ"));
                    };
                    *s = Some(state);
                }
                _ => return Err(self.bad(format!("unknown or unsupported opcode 0x{op:02x}"))),
            }
        }
    }

    /// After pushing a dict: it is the streamed one if the item below it is the stream's key.
    fn maybe_start_stream(&mut self) {
        let n = self.stack.len();
        let Some(stream) = &self.stream else { return };
        if stream.dict.is_some() || n < 2 || self.marks.last().is_some_and(|&m| m > n - 2) {
            return;
        }
        if self.leaf_str(self.stack[n - 2]) == Some(stream.key.as_str()) {
            let dict = self.stack[n - 1];
            if let Some(s) = &mut self.stream {
                s.dict = Some(dict);
            }
        }
    }

    /// `SETITEM(S)`: adds key/value pairs to the dict on top of the stack (or streams them out
    /// when that dict is the streamed one).
    fn set_items(&mut self, items: Vec<usize>) -> Parsed<()> {
        let target = self.top()?;
        if !items.len().is_multiple_of(2) && matches!(self.nodes[target], Node::Dict(_)) {
            return Err(self.bad("odd number of items for a dict"));
        }
        if self.stream.as_ref().is_some_and(|s| s.dict == Some(target)) {
            for kv in items.chunks_exact(2) {
                self.emit(kv[0], kv[1])?;
            }
            return Ok(());
        }
        match &mut self.nodes[target] {
            Node::Dict(d) => d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1]))),
            _ => return Err(self.bad("SETITEM(S) target is not a dict")),
        }
        Ok(())
    }

    /// After a `SETITEM(S)` that completed the value on top of the stack: if that value is an
    /// item of the streamed dict (the innermost `MARK` is the streamed dict's batch), hand the
    /// pair out now rather than at the end of its batch of up to 1,000 items.
    fn stream_completed_value(&mut self) -> Parsed<()> {
        let Some(dict) = self.stream.as_ref().and_then(|s| s.dict) else { return Ok(()) };
        let Some(&mark) = self.marks.last() else { return Ok(()) };
        let above = self.stack.len() - mark;
        if mark == 0 || self.stack[mark - 1] != dict || above < 2 || !above.is_multiple_of(2) {
            return Ok(());
        }
        let (key, value) = (self.stack[self.stack.len() - 2], self.stack[self.stack.len() - 1]);
        self.stack.truncate(self.stack.len() - 2);
        self.emit(key, value)
    }

    /// Turns one streamed item into values, frees its nodes and hands it to the sink.
    fn emit(&mut self, key: usize, value: usize) -> Parsed<()> {
        let mut budget = MAX_VALUES;
        let (k, v) = (self.value(key, 0, &mut budget)?, self.value(value, 0, &mut budget)?);
        // Memoized nodes of the item before that no later item referenced: free them now, except
        // plain values (strings mostly), which wait in a bounded queue in case a later item
        // shares them.
        for c in std::mem::take(&mut self.candidates_prev) {
            if self.pinned[c] || matches!(self.nodes[c], Node::Free) {
                continue;
            }
            if self.shared_across_items(c) {
                self.pinned[c] = true;
            } else if let Node::Leaf(v) = &self.nodes[c] {
                let cost = 128 + if let PyValue::Str(t) = v { t.len() } else { 0 };
                self.retained.push_back((c, cost));
                self.retained_bytes += cost;
            } else {
                self.free_tree(c, true);
            }
        }
        while self.retained_bytes > RETAINED_BYTES {
            let Some((c, cost)) = self.retained.pop_front() else { break };
            self.retained_bytes -= cost;
            if self.pinned[c] || matches!(self.nodes[c], Node::Free) {
                continue;
            }
            if self.shared_across_items(c) {
                self.pinned[c] = true;
            } else {
                self.free_tree(c, true);
            }
        }
        self.free_tree(key, false);
        self.free_tree(value, false);
        self.candidates_prev = std::mem::take(&mut self.candidates);
        self.items += 1;
        let at = self.op_at;
        let Some(stream) = &mut self.stream else { return Ok(()) };
        (stream.sink)(k, v).map_err(|m| format!("{m} (item ending at byte {at})"))
    }

    /// Whether a later item than the one that made node `i` referenced it (`BINGET`).
    fn shared_across_items(&self, i: usize) -> bool {
        self.got_in[i] != NEVER && self.got_in[i] > self.born[i]
    }

    /// Frees node `root` and everything under it. Memoized nodes may still be referenced by
    /// later items: one that an item after its own already referenced is kept for good; the
    /// others wait one item ([`Machine::emit`]) and are freed if no item referenced them (plain
    /// values wait longer, within [`RETAINED_BYTES`]). A reference to a freed one is an error,
    /// never a wrong value. Nodes made before the streamed dict began are never freed.
    fn free_tree(&mut self, root: usize, force_root: bool) {
        let mut todo = vec![root];
        while let Some(i) = todo.pop() {
            if self.pinned[i] || matches!(self.nodes[i], Node::Free) {
                continue;
            }
            if self.memo_of[i].is_some() && !(force_root && i == root) {
                if self.shared_across_items(i) {
                    self.pinned[i] = true;
                } else {
                    self.candidates.push(i);
                }
                continue;
            }
            match std::mem::replace(&mut self.nodes[i], Node::Free) {
                Node::List(v) | Node::Tuple(v) | Node::Set(v) => todo.extend(v),
                Node::Dict(d) => todo.extend(d.into_iter().flat_map(|(k, v)| [k, v])),
                Node::Object { args, state, .. } => todo.extend(args.into_iter().chain(state)),
                Node::Leaf(_) | Node::Free => {}
            }
            if let Some(key) = self.memo_of[i]
                && self.memo.get(&key) == Some(&i)
            {
                self.memo.remove(&key);
            }
            self.free.push(i);
        }
    }

    /// `REDUCE` / `NEWOBJ` of a global: an empty `OrderedDict` becomes a dict, a numpy scalar a
    /// number, protocol 2's `_codecs.encode(text, 'latin1')` bytes, anything else an opaque object.
    fn call(&self, callable: usize, args: usize) -> Parsed<Node> {
        let Node::Leaf(PyValue::Global { module, name }) = &self.nodes[callable] else {
            return Err(self.bad("REDUCE/NEWOBJ of something that is not a global"));
        };
        let Node::Tuple(args) = &self.nodes[args] else {
            return Err(self.bad(format!("arguments of {module}.{name} are not a tuple")));
        };
        Ok(match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") if args.is_empty() => {
                Node::Dict(Vec::new())
            }
            ("builtins" | "__builtin__", "bytes") if args.is_empty() => Node::Leaf(PyValue::Bytes(Vec::new())),
            // Protocol 2 pickles a set as `set([items])`.
            ("builtins" | "__builtin__", "set" | "frozenset") if args.len() <= 1 => match args.first() {
                None => Node::Set(Vec::new()),
                Some(&list) => match &self.nodes[list] {
                    Node::List(items) | Node::Tuple(items) => Node::Set(items.clone()),
                    _ => return Err(self.bad(format!("{module}.{name} of something that is not a list"))),
                },
            },
            ("_codecs", "encode") => Node::Leaf(self.latin1(args)?),
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Node::Leaf(self.numpy_scalar(args)?),
            _ => Node::Object { module: module.clone(), name: name.clone(), args: args.clone(), state: None },
        })
    }

    /// `_codecs.encode(text, 'latin1')`: how protocol 2 pickles Python 3 `bytes`.
    fn latin1(&self, args: &[usize]) -> Parsed<PyValue> {
        let &[text, codec] = args else {
            return Err(self.bad("_codecs.encode takes (text, encoding)"));
        };
        let (Some(text), Some("latin1" | "latin-1")) = (self.leaf_str(text), self.leaf_str(codec)) else {
            return Err(self.bad("_codecs.encode of something other than (str, 'latin1')"));
        };
        let bytes = text.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| self.bad("latin1 text beyond U+00FF")));
        Ok(PyValue::Bytes(bytes.collect::<Parsed<Vec<u8>>>()?))
    }

    /// `numpy.core.multiarray.scalar(dtype, raw_bytes)`, where `dtype` is `numpy.dtype(code, ...)`
    /// whose `BUILD` state tuple holds the byte order (`'<'`, `'>'`, `'|'`, `'='`) at index 1.
    fn numpy_scalar(&self, args: &[usize]) -> Parsed<PyValue> {
        let &[dtype, raw] = args else {
            return Err(self.bad(format!("numpy scalar takes (dtype, bytes), got {} arguments", args.len())));
        };
        let (Node::Object { module, name, args: dargs, state }, Node::Leaf(PyValue::Bytes(raw))) =
            (&self.nodes[dtype], &self.nodes[raw])
        else {
            return Err(self.bad("numpy scalar arguments are not (numpy.dtype, bytes)"));
        };
        let code = dargs.first().and_then(|&i| self.leaf_text(i));
        let Some(code) = code.filter(|_| module == "numpy" && name == "dtype") else {
            return Err(self.bad("numpy scalar without a numpy.dtype type code"));
        };
        let order = state
            .and_then(|s| match &self.nodes[s] {
                Node::Tuple(t) => t.get(1).and_then(|&i| self.leaf_text(i)),
                _ => None,
            })
            .unwrap_or("|");
        numpy_value(code, order, raw).map_err(|m| self.bad(m))
    }

    /// A string leaf, or a Python 2 `str` (bytes) that is valid UTF-8.
    fn leaf_text(&self, i: usize) -> Option<&str> {
        match &self.nodes[i] {
            Node::Leaf(PyValue::Str(s)) => Some(s),
            Node::Leaf(PyValue::Bytes(b)) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// Turns arena node `i` into a value tree.
    fn value(&self, i: usize, depth: usize, budget: &mut usize) -> Parsed<PyValue> {
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
            Node::Free => return Err(self.bad("reference to an item already streamed out")),
        })
    }

    fn values(&self, items: &[usize], depth: usize, budget: &mut usize) -> Parsed<Vec<PyValue>> {
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
fn numpy_value(code: &str, order: &str, raw: &[u8]) -> Parsed<PyValue> {
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
    /// The dataset's name as the file spells it.
    pub name: String,
    /// One per seed of `dataset_seed[name]`, in that order; each from
    /// `all_results[(name, seed)]`.
    pub runs: Vec<NatsRun>,
}

/// The final-epoch metrics of one training run (one `ResultsCount` of the API). Accuracies are
/// top-1 percentages, `epoch = epochs - 1` is the last epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsRun {
    /// The training seed.
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
    /// The runs of one dataset.
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

    /// Mean final train accuracy over the seeds (`train-accuracy`).
    pub fn train_acc(&self) -> Option<f64> {
        self.mean(|r| Some(r.train_acc))
    }

    /// Mean final `x-valid` accuracy over the seeds (`valid-accuracy`).
    pub fn valid_acc(&self) -> Option<f64> {
        self.mean(|r| r.valid_acc)
    }

    /// Mean final test accuracy over the seeds (`test-accuracy`, see [`NatsRun::test_acc`]).
    pub fn test_acc(&self) -> Option<f64> {
        self.mean(|r| r.test_acc)
    }

    /// Mean final `ori-test` accuracy of `cifar100` / `ImageNet16-120` (`valtest-accuracy`).
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
    arch_from_value(&root, index, path)
}

/// An architecture record from its decoded dict of schedules (`{'12': ArchResults state, '200':
/// ...}`), as in a NATS file or, with the keys renamed, an item of NAS-Bench-201's `arch2infos`.
/// `path` names the source in errors.
pub fn arch_from_value(root: &PyValue, index: usize, path: PathBuf) -> Result<NatsArchRecord> {
    let (arch_str, schedules) = parse_arch(root, index).map_err(|m| data_error(&path, m))?;
    Ok(NatsArchRecord { path, index, arch_str, schedules })
}

/// Parses a `meta` dict (`meta_archs`, `total_archs`, `evaluated_indexes`).
pub fn meta_from_value(root: &PyValue, path: &Path) -> Result<NatsMeta> {
    parse_meta(root).map_err(|m| data_error(path, m))
}

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
    // One pass over `train_times` (a lookup per epoch would be quadratic in the epochs).
    let train_time_total = match result.get("train_times").filter(|t| !t.is_none()) {
        None => None,
        Some(table) => {
            let mut times = vec![None; epochs];
            for (k, v) in expect(table, "train_times", at, PyValue::as_dict)? {
                if let Some(e) = k.as_i64().and_then(|e| usize::try_from(e).ok()).filter(|&e| e < epochs) {
                    times[e] = Some(expect(v, "train_times", at, PyValue::as_f64)?);
                }
            }
            let mut total = 0.0;
            for (e, t) in times.into_iter().enumerate() {
                total += t.ok_or_else(|| format!("{at}: no 'train_times' for epoch {e}"))?;
            }
            Some(total)
        }
    };
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

    use super::PyValue as P;
    use super::*;

    fn s(t: &str) -> P {
        P::Str(t.to_owned())
    }

    fn dict(items: Vec<(&str, P)>) -> P {
        P::Dict(items.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    fn ints(v: &[i64]) -> Vec<P> {
        v.iter().map(|&i| P::Int(i)).collect()
    }

    /// Hand-written protocol-4 pickle covering the opcodes the NATS files use, and a few more.
    fn opcode_fixture() -> Vec<u8> {
        let body = [
            // {} MEMOIZE MARK 'ints' MEMOIZE [] MEMOIZE MARK 7 300 -5 (BININT1, BININT2, BININT)
            b"}\x94(\x8c\x04ints\x94]\x94(K\x07M\x2c\x01J\xfb\xff\xff\xff".as_slice(),
            b"\x8a\x05\x00\x00\x00\x00\x02\x8a\x01\x80\x8a\x00e", // LONG1 2**33, -128, 0; APPENDS
            // 'misc': MARK None True False 1.5 BINUNICODE BINUNICODE8 SHORT_BINBYTES BINBYTES None POP TUPLE
            b"\x8c\x04misc(N\x88\x89G\x3f\xf8\x00\x00\x00\x00\x00\x00X\x06\x00\x00\x00h\xc3\xa9llo",
            b"\x8d\x02\x00\x00\x00\x00\x00\x00\x00u8C\x02yzB\x03\x00\x00\x00abcN0t",
            // 'tuples': MARK () (1,) (1, 2) (1, 2, 3) LIST; 'set': EMPTY_SET MARK 4 5 ADDITEMS
            b"\x8c\x06tuples()K\x01\x85K\x01K\x02\x86K\x01K\x02K\x03\x87l\x8c\x03set\x8f(K\x04K\x05\x90",
            // 'f64': numpy float64 0.25; STACK_GLOBAL, BINPUT 10 on `scalar`, LONG_BINPUT 11 on the dtype
            b"\x8c\x03f64\x8c\x15numpy.core.multiarray\x8c\x06scalar\x93q\x0a\x8c\x05numpy\x8c\x05dtype\x93",
            b"\x8c\x02f8K\x00K\x01\x87Rr\x0b\x00\x00\x00(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
            b"C\x08\x00\x00\x00\x00\x00\x00\xd0\x3f\x86R",
            // 'i64': numpy int64 -7 with a big-endian dtype, through GLOBAL and numpy 2's module name
            b"\x8c\x03i64cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\n\x8c\x02i8\x89\x88\x87R",
            b"(K\x03\x8c\x01>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbC\x08\xff\xff\xff\xff\xff\xff\xff\xf9\x86R",
            // 'f64_again': -2.5 through BINGET 10 and LONG_BINGET 11 (the dtype keeps its BUILD state)
            b"\x8c\x09f64_againh\x0aj\x0b\x00\x00\x00C\x08\x00\x00\x00\x00\x00\x00\x04\xc0\x86R",
            // 'od': OrderedDict() SETITEM; 'shared': BINGET 2, the list memoized before it was filled
            b"\x8c\x02odccollections\nOrderedDict\n)R\x8c\x01kK\x09s\x8c\x06sharedh\x02\x8c\x09key_againh\x01",
            // 'obj': NEWOBJ mymod.Thing(1), BUILD {'x': 2}; 'dict_op': MARK 'a' 1 DICT DUP POP; SETITEMS STOP
            b"\x8c\x03objcmymod\nThing\nK\x01\x85\x81}\x8c\x01xK\x02sb\x8c\x07dict_op(\x8c\x01aK\x01d20u.",
        ]
        .concat();
        [b"\x80\x04\x95".as_slice(), &(body.len() as u64).to_le_bytes(), &body].concat()
    }

    #[test]
    fn nats_decodes_every_opcode_exactly() {
        let list = P::List(ints(&[7, 300, -5, 1 << 33, -128, 0]));
        let bytes = |b: &[u8]| P::Bytes(b.to_vec());
        let misc = vec![P::None, P::Bool(true), P::Bool(false), P::Float(1.5), s("héllo"), s("u8"), bytes(b"yz")];
        let tuples = [&[][..], &[1], &[1, 2], &[1, 2, 3]].map(|t| P::Tuple(ints(t)));
        let state = Some(Box::new(dict(vec![("x", P::Int(2))])));
        let expected = dict(vec![
            ("ints", list.clone()),
            ("misc", P::Tuple([misc, vec![bytes(b"abc")]].concat())),
            ("tuples", P::List(tuples.to_vec())),
            ("set", P::Set(ints(&[4, 5]))),
            ("f64", P::Float(0.25)),
            ("i64", P::Int(-7)),
            ("f64_again", P::Float(-2.5)),
            ("od", dict(vec![("k", P::Int(9))])),
            ("shared", list),
            ("key_again", s("ints")),
            ("obj", P::Object { module: "mymod".into(), name: "Thing".into(), args: ints(&[1]), state }),
            ("dict_op", dict(vec![("a", P::Int(1))])),
        ]);
        let value = parse_pickle(&opcode_fixture()).unwrap();
        assert_eq!(value, expected);
        assert_eq!(value.get("f64").and_then(P::as_f64), Some(0.25));
        assert_eq!(value.get("misc").and_then(P::as_list).map(<[P]>::len), Some(8));
        assert_eq!(value.get("key_again").and_then(P::as_str), Some("ints"));
        assert_eq!(value.get("od").and_then(|d| d.get_item(&s("k"))).and_then(P::as_i64), Some(9));
        assert!(value.get("missing").is_none());
    }

    /// Streaming hands each item out as soon as it is complete, and a string memoized in one
    /// item and referenced two items later still resolves.
    #[test]
    fn nats_stream_hands_out_items_and_keeps_shared_strings() {
        let text = |t: &str| [b"X".as_slice(), &(t.len() as u32).to_le_bytes(), t.as_bytes()].concat();
        let item = |i: u8, v: Vec<u8>| [vec![b'K', i, b'}', b'('], text("k"), v, vec![b'u']].concat();
        let bytes = [
            b"\x80\x02}(".to_vec(),
            text("arch2infos"),
            b"}(".to_vec(),
            item(0, [text("shared"), b"q\x01".to_vec()].concat()),
            item(1, text("other")),
            item(2, b"h\x01".to_vec()),
            b"uu.".to_vec(),
        ]
        .concat();
        let mut items = Vec::new();
        let mut sink = |k: P, v: P| -> std::result::Result<(), String> {
            items.push((k, v));
            Ok(())
        };
        let rest = stream_pickle(bytes.as_slice(), 0, Some(("arch2infos", &mut sink))).unwrap();
        let d = |v: &str| dict(vec![("k", s(v))]);
        assert_eq!(items, vec![(P::Int(0), d("shared")), (P::Int(1), d("other")), (P::Int(2), d("shared"))]);
        assert_eq!(rest, dict(vec![("arch2infos", P::Dict(vec![]))]));
        assert_eq!(parse_pickle(&bytes).unwrap().get("arch2infos"), Some(&P::Dict(items)));
    }

    #[test]
    fn nats_numpy_scalar_dtypes() {
        assert_eq!(numpy_value("f4", "<", &1.25f32.to_le_bytes()), Ok(P::Float(1.25)));
        assert_eq!(numpy_value("<i4", "|", &(-3i32).to_le_bytes()), Ok(P::Int(-3)));
        assert_eq!(numpy_value("u2", ">", &[1, 0]), Ok(P::Int(256)));
        assert_eq!(numpy_value("b1", "|", &[1]), Ok(P::Bool(true)));
        assert!(numpy_value("c16", "<", &[0; 16]).unwrap_err().contains("unsupported numpy dtype"));
        assert!(numpy_value("f8", "<", &[0; 4]).unwrap_err().contains("4 bytes"));
    }

    /// A minimal pickler of [`PyValue`]s (objects as `REDUCE` plus `BUILD`), for fixtures.
    fn encode(v: &P, out: &mut Vec<u8>) {
        let seq = |items: &[P], out: &mut Vec<u8>, open: &[u8], close: u8| {
            out.extend(open);
            items.iter().for_each(|i| encode(i, out));
            out.push(close);
        };
        let sized = |out: &mut Vec<u8>, op: u8, b: &[u8]| {
            out.push(op);
            out.extend((b.len() as u32).to_le_bytes());
            out.extend(b);
        };
        match v {
            P::None => out.push(b'N'),
            P::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
            P::Int(i) => out.extend([[0x8a, 8].as_slice(), &i.to_le_bytes()].concat()),
            P::Float(x) => out.extend([b"G".as_slice(), &x.to_be_bytes()].concat()),
            P::Str(t) => sized(out, b'X', t.as_bytes()),
            P::Bytes(b) => sized(out, b'B', b),
            P::List(items) => seq(items, out, b"](", b'e'),
            P::Tuple(items) => seq(items, out, b"(", b't'),
            P::Set(items) => seq(items, out, b"\x8f(", 0x90),
            P::Dict(items) => {
                let flat: Vec<P> = items.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect();
                seq(&flat, out, b"}(", b'u');
            }
            P::Global { module, name } => seq(&[s(module), s(name)], out, b"", 0x93),
            P::Object { module, name, args, state } => {
                encode(&P::Global { module: module.clone(), name: name.clone() }, out);
                seq(args, out, b"(", b't');
                out.push(b'R');
                if let Some(st) = state {
                    encode(st, out);
                    out.push(b'b');
                }
            }
        }
    }

    fn pickle(v: &P) -> Vec<u8> {
        let mut out = vec![0x80, 4];
        encode(v, &mut out);
        out.push(b'.');
        out
    }

    /// A numpy float64 as numpy pickles it.
    fn np_f64(x: f64) -> P {
        let object = |module: &str, name: &str, args, state: Option<P>| P::Object {
            module: module.into(),
            name: name.into(),
            args,
            state: state.map(Box::new),
        };
        let state = P::Tuple([ints(&[3]), vec![s("<"), P::None, P::None, P::None], ints(&[-1, -1, 0])].concat());
        let dtype = object("numpy", "dtype", vec![s("f8"), P::Bool(false), P::Bool(true)], Some(state));
        object("numpy.core.multiarray", "scalar", vec![dtype, P::Bytes(x.to_le_bytes().to_vec())], None)
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
            ("a", P::List(vec![P::Int(i64::MIN), P::Float(-0.5), P::None, P::Bool(true)])),
            ("b", P::Tuple(vec![s("x"), P::Bytes(vec![0, 255]), P::Set(ints(&[1]))])),
            ("c", P::Global { module: "m".into(), name: "f".into() }),
            ("d", P::Dict(vec![(P::Tuple(vec![s("k"), P::Int(1)]), P::List(vec![]))])),
        ]);
        assert_eq!(parse_pickle(&pickle(&v)).unwrap(), v);
    }

    /// A `ResultsCount`-like record of `epochs` epochs with the given final accuracies.
    fn result(epochs: i64, train: f64, evals: &[(&str, f64)]) -> P {
        let last = epochs - 1;
        let at_last = |f: &dyn Fn(f64) -> f64| {
            P::Dict(evals.iter().map(|(n, a)| (s(&format!("{n}@{last}")), P::Float(f(*a)))).collect())
        };
        dict(vec![
            ("epochs", P::Int(epochs)),
            ("train_acc1es", P::Dict(vec![(P::Int(last), P::Float(train))])),
            ("train_losses", P::Dict(vec![(P::Int(last), P::Float(0.5))])),
            ("train_times", P::Dict((0..epochs).map(|e| (P::Int(e), P::Float(2.0))).collect())),
            ("params", np_f64(0.25)),
            ("flop", P::Float(10.0)),
            ("latency", P::List(vec![np_f64(0.01), np_f64(0.03)])),
            ("eval_names", P::List(evals.iter().map(|(n, _)| s(n)).collect())),
            ("eval_acc1es", at_last(&|a| a)),
            ("eval_losses", at_last(&|_| 1.0)),
            ("net_state_dict", P::None),
        ])
    }

    /// An arch file holding `schedule` -> a record with the given results and seeds.
    fn arch_pickle(schedule: &str, index: i64, results: Vec<(&str, i64, P)>) -> Vec<u8> {
        let mut seeds: Vec<(&str, P)> = Vec::new();
        for (name, seed, _) in &results {
            match seeds.iter_mut().find(|(n, _)| n == name) {
                Some((_, P::List(list))) => list.push(P::Int(*seed)),
                _ => seeds.push((name, P::List(ints(&[*seed])))),
            }
        }
        let results = results.into_iter().map(|(n, seed, r)| (P::Tuple(vec![s(n), P::Int(seed)]), r)).collect();
        let record = dict(vec![
            ("arch_index", P::Int(index)),
            ("arch_str", s("|skip_connect~0|")),
            ("all_results", P::Dict(results)),
            ("dataset_seed", dict(seeds)),
            ("clear_net_done", P::Bool(true)),
        ]);
        bz2(&pickle(&dict(vec![(schedule, record)])))
    }

    #[test]
    fn nats_reads_a_typed_record() {
        let dir = scratch("typed");
        let c100 = [("x-valid", 50.0), ("x-test", 51.0), ("ori-test", 50.5)];
        let results = vec![
            ("cifar10", 777, result(4, 90.0, &[("ori-test", 80.0)])),
            ("cifar10", 888, result(4, 92.0, &[("ori-test", 82.0)])),
            ("cifar100", 777, result(4, 60.0, &c100)),
        ];
        std::fs::write(arch_file(&dir, 3), arch_pickle("200", 3, results)).unwrap();

        let rec = read_arch(&dir, 3).unwrap();
        assert_eq!((rec.index, rec.arch_str.as_str()), (3, "|skip_connect~0|"));
        let c10 = rec.dataset("200", "cifar10").unwrap();
        assert_eq!((c10.runs.len(), c10.test_acc(), c10.train_acc()), (2, Some(81.0), Some(91.0)));
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
        assert!(err.contains("000003.pickle.pbz2: no 'ImageNet16-120' results in the '200' schedule"), "{err}");
        std::fs::rename(arch_file(&dir, 3), arch_file(&dir, 5)).unwrap();
        let err = read_arch(&dir, 5).unwrap_err().to_string();
        assert!(err.contains("000005.pickle.pbz2: schedule '200': arch_index is 3, expected 5"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nats_missing_record_key_names_file_and_place() {
        let dir = scratch("missing-key");
        let results = vec![("cifar10", 1, dict(vec![("epochs", P::Int(2))]))];
        std::fs::write(arch_file(&dir, 0), arch_pickle("12", 0, results)).unwrap();
        let err = read_arch(&dir, 0).unwrap_err().to_string();
        assert!(err.contains("000000.pickle.pbz2: schedule '12', cifar10 seed 1: no 'train_acc1es'"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nats_pickle_errors() {
        let error = |bytes: &[u8]| parse_pickle(bytes).unwrap_err().to_string();
        let fixture = opcode_fixture();
        assert!(error(&fixture[..40]).contains("truncated pickle"));
        assert!(error(&fixture[..fixture.len() - 1]).contains("truncated pickle: ended without STOP"));
        assert!(error(b"\x80\x04\x8c\x05a").contains("truncated pickle: 5 bytes needed, 1 left"));
        assert!(error(b"\x80\x04\xff").contains("unknown or unsupported opcode 0xff (at byte 2)"));
        assert!(error(b"\x80\x04K\x01s.").contains("stack underflow"));
        assert!(error(b"(.").contains("stack underflow"));
        assert!(error(b"Nu.").contains("no MARK"));
        assert!(error(b"h\x03.").contains("memo index 3 is not defined"));
        assert!(error(b"K\x01K\x02K\x03s.").contains("SETITEM(S) target is not a dict"));
        assert!(error(b"NK\x01b.").contains("BUILD target is not an object"));
        assert!(error(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.").contains("does not fit in 64 bits"));
        assert!(error(b"]\x94h\x00a.").contains("nesting deeper")); // a list containing itself
    }

    #[test]
    fn nats_file_errors() {
        let dir = scratch("files");
        let meta = dir.join("meta.pickle.pbz2");
        let error = |bytes: &[u8]| {
            std::fs::write(&meta, bytes).unwrap();
            read_meta(&dir).unwrap_err().to_string()
        };
        assert!(matches!(read_meta(&dir), Err(Error::Io { .. })));
        assert!(matches!(read_arch(&dir, 7), Err(Error::Io { .. })));
        assert!(error(&pickle(&P::None)).contains("meta.pickle.pbz2: not a bzip2 file"));
        assert!(error(b"BZh9 this is not compressed").contains("meta.pickle.pbz2: corrupt bzip2 data"));
        let compressed = bz2(&opcode_fixture());
        assert!(error(&compressed[..compressed.len() / 2]).contains("meta.pickle.pbz2: "));
        assert!(error(&bz2(b"\x80\x04\xfe")).contains("meta.pickle.pbz2: bad pickle: unknown or unsupported opcode"));
        let bad = dict(vec![("meta_archs", P::List(vec![s("a")])), ("total_archs", P::Int(2))]);
        assert!(error(&bz2(&pickle(&bad))).contains("total_archs is 2 but meta_archs has 1 items"));
        assert!(error(&bz2(&pickle(&dict(vec![])))).contains("meta: no 'meta_archs'"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The NATS-Bench sample directory `sub`, or `None` (printing why) when the data is absent.
    fn nats_dir(sub: &str) -> Option<PathBuf> {
        crate::data::for_tests(&format!("nats/{sub}/meta.pickle.pbz2")).map(|d| d.path.join("nats").join(sub))
    }

    #[test]
    fn nats_real_topology_files_agree_with_the_nb201_csv() {
        let csv_file = "nb201/nb201_master.csv";
        let (Some(dir), Some(data)) = (nats_dir("NATS-tss-v1_0-3ffb9-simple"), crate::data::for_tests(csv_file)) else {
            return;
        };
        let meta = read_meta(&dir).unwrap();
        assert_eq!((meta.archs.len(), meta.total_archs), (15_625, 15_625));
        let arch0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
        assert_eq!(meta.archs[0], arch0);
        assert_eq!(meta.index_of(&meta.archs[284]), Some(284));

        let mut csv = csv::Reader::from_path(data.path.join(csv_file)).unwrap();
        let headers = csv.headers().unwrap().clone();
        let mut checked = 0;
        for row in csv.records() {
            let row = row.unwrap();
            let col = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
            let index: usize = col("idx").parse().unwrap();
            if ![0, 11, 284].contains(&index) {
                continue;
            }
            let rec = read_arch(&dir, index).unwrap();
            assert_eq!((rec.arch_str.as_str(), rec.arch_str.as_str()), (col("arch_str"), meta.archs[index].as_str()));
            let ds = |hp: &str, name: &str| rec.dataset(hp, name).unwrap();
            let close = |got: Option<f64>, column: &str| {
                let want: f64 = col(column).parse().unwrap();
                assert!(got.is_some_and(|g| (g - want).abs() < 1e-3), "arch {index} {column}: {got:?} vs {want}");
            };
            let (c10, c10v, c100, in16) =
                (ds("200", "cifar10"), ds("200", "cifar10-valid"), ds("200", "cifar100"), ds("200", "ImageNet16-120"));
            close(c10.test_acc(), "c10_test_acc");
            close(c10v.valid_acc(), "c10v_valid_acc");
            close(c10v.test_acc(), "c10v_test_acc");
            close(c10v.train_acc(), "c10v_train_acc");
            close(c100.valid_acc(), "c100_valid_acc_derived");
            close(c100.test_acc(), "c100_test_acc");
            close(c100.valtest_acc(), "c100_valtest_acc");
            close(in16.test_acc(), "in16_test_acc");
            close(in16.valtest_acc(), "in16_valtest_acc");
            close(c10.runs[0].params, "params_c10_M");
            close(c100.runs[0].params, "params_c100_M");
            close(c10v.mean(|r| r.train_time_total), "train_time_c10v_s");
            close(ds("12", "cifar10").test_acc(), "e12_c10_test_acc");
            close(ds("12", "cifar10-valid").valid_acc(), "e12_c10v_valid_acc");
            close(ds("12", "cifar100").test_acc(), "e12_c100_test_acc");
            close(ds("12", "ImageNet16-120").valid_acc(), "e12_in16_valid_acc");
            assert_eq!(c10v.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [777, 888, 999]);
            assert!(c10v.runs.iter().all(|r| r.epochs == 200 && r.latency.is_some_and(|l| l > 0.0)));
            for (seed, column) in [(777, "c10v_valid_acc_s0"), (888, "c10v_valid_acc_s1"), (999, "c10v_valid_acc_s2")] {
                close(c10v.run(seed).and_then(|r| r.valid_acc), column);
            }
            checked += 1;
        }
        assert_eq!(checked, 3);
    }

    #[test]
    fn nats_real_size_space_files() {
        let Some(dir) = nats_dir("NATS-sss-v1_0-50262-simple") else { return };
        let meta = read_meta(&dir).unwrap();
        assert_eq!((meta.archs.len(), meta.total_archs), (32_768, 32_768));
        assert_eq!((meta.archs[0].as_str(), meta.archs[1].as_str()), ("8:8:8:8:8", "8:8:8:8:16"));
        assert!(meta.evaluated_indexes.is_empty());
        let rec = read_arch(&dir, 11).unwrap();
        assert_eq!(rec.arch_str, meta.archs[11]);
        assert_eq!(rec.schedules.iter().map(|s| s.hp.as_str()).collect::<Vec<_>>(), ["01", "12", "90"]);
        let c100 = rec.dataset("90", "cifar100").unwrap();
        assert_eq!(c100.runs[0].epochs, 90);
        assert!(c100.test_acc().is_some_and(|a| (0.0..=100.0).contains(&a)));
        let err = rec.schedule("200").unwrap_err().to_string();
        assert!(err.contains("000011.pickle.pbz2: no '200' schedule (has 01, 12, 90)"), "{err}");
    }
}
