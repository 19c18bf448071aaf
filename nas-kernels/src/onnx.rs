//! ONNX export of any architecture graph with its weights ([`to_onnx`]): opset 17, inference
//! graph (batch norm with its running statistics, PyTorch's eval mode), a dynamic batch axis.
//!
//! The file is a protobuf `ModelProto` written by a small encoder here (the few messages and
//! fields export needs, numbered as in `onnx.proto`), so the crate needs no protobuf dependency.
//! Each IR op maps to one ONNX op, except `linear` (`Flatten` then `Gemm`) and `zero`
//! (`ConstantOfShape` of the input's `Shape`: exact zeros of any batch size).
//!
//! Checked by `scripts/check_onnx.py`, which runs the file in onnxruntime on the reference input
//! `nas export --reference` writes and compares with the project's own forward pass.

use nas_core::graph::{NodeId, Op, PoolKind};
use nas_core::{Error, Result};

use crate::cpu::CpuNet;

/// The ONNX operator set the export targets.
pub const OPSET: i64 = 17;
/// The ONNX IR version written (8: the one of opset 17's release, ONNX 1.12).
pub const IR_VERSION: i64 = 8;
/// Name of the graph's input, `[batch, c, h, w]` float.
pub const INPUT: &str = "input";
/// Name of the graph's output, `[batch, classes]` float.
pub const OUTPUT: &str = "logits";

/// Protobuf wire types.
const VARINT: u64 = 0;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// A protobuf message being written: fields appended in order.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    fn int(&mut self, field: u64, v: i64) -> &mut Self {
        self.key(field, VARINT);
        self.varint(v as u64);
        self
    }

    fn float(&mut self, field: u64, v: f32) -> &mut Self {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes(&mut self, field: u64, b: &[u8]) -> &mut Self {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn string(&mut self, field: u64, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    fn message(&mut self, field: u64, m: &Message) -> &mut Self {
        self.bytes(field, &m.0)
    }

    /// A packed `repeated int64`.
    fn packed(&mut self, field: u64, values: &[i64]) -> &mut Self {
        let mut inner = Message::default();
        for &v in values {
            inner.varint(v as u64);
        }
        self.bytes(field, &inner.0)
    }
}

/// `TensorProto` of floats: dims 1, data_type 2 (FLOAT = 1), name 8, raw_data 9 (little-endian).
fn tensor(name: &str, dims: &[usize], values: &[f32]) -> Message {
    let mut t = Message::default();
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    t.packed(1, &dims).int(2, 1).string(8, name);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.bytes(9, &raw);
    t
}

/// `AttributeProto`: name 1, f 2, i 3, t 5, ints 8, type 20 (FLOAT 1, INT 2, TENSOR 4, INTS 7).
enum Attr<'a> {
    Int(&'a str, i64),
    Ints(&'a str, Vec<i64>),
    Float(&'a str, f32),
    Tensor(&'a str, Message),
}

impl Attr<'_> {
    fn encode(&self) -> Message {
        let mut a = Message::default();
        match self {
            Attr::Int(name, v) => a.string(1, name).int(3, *v).int(20, 2),
            Attr::Float(name, v) => a.string(1, name).float(2, *v).int(20, 1),
            Attr::Ints(name, v) => a.string(1, name).packed(8, v).int(20, 7),
            Attr::Tensor(name, t) => a.string(1, name).message(5, t).int(20, 4),
        };
        a
    }
}

/// `ValueInfoProto` of a float tensor: name 1, type 2 = TypeProto { tensor_type 1 = { elem_type 1,
/// shape 2 = { dim 1 = { dim_value 1 | dim_param 2 } } } }; `None` dims are the symbolic batch.
fn value_info(name: &str, dims: &[Option<usize>]) -> Message {
    let mut shape = Message::default();
    for d in dims {
        let mut dim = Message::default();
        match d {
            Some(v) => dim.int(1, *v as i64),
            None => dim.string(2, "batch"),
        };
        shape.message(1, &dim);
    }
    let mut tensor_type = Message::default();
    tensor_type.int(1, 1).message(2, &shape);
    let mut ty = Message::default();
    ty.message(1, &tensor_type);
    let mut v = Message::default();
    v.string(1, name).message(2, &ty);
    v
}

/// The graph being built: `NodeProto`s (input 1, output 2, name 3, op_type 4, attribute 5) and
/// initializers.
#[derive(Default)]
struct Graph {
    nodes: Vec<Message>,
    initializers: Vec<Message>,
}

impl Graph {
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Attr<'_>]) {
        let mut n = Message::default();
        for i in inputs {
            n.string(1, i);
        }
        for o in outputs {
            n.string(2, o);
        }
        n.string(3, name).string(4, op);
        for a in attrs {
            n.message(5, &a.encode());
        }
        self.nodes.push(n);
    }

    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(tensor(name, dims, values));
        name.to_string()
    }
}

/// The network as an ONNX model file with its current weights and running statistics (exported
/// in inference mode, whatever the network's batch-norm mode).
pub fn to_onnx(net: &CpuNet, producer: &str) -> Result<Vec<u8>> {
    let graph = net.network();
    let unsupported = |what: &str| Error::Unavailable(format!("ONNX export of {what}"));
    let mut g = Graph::default();
    let value = |id: NodeId| -> String {
        if Some(id) == graph.input_id() { INPUT.to_string() } else { format!("{}:out", graph.node(id).name) }
    };
    let output_id = graph.output_id().ok_or_else(|| Error::invalid("network", "it has no output node"))?;
    let mut input_shape = None;
    for id in graph.node_ids() {
        let node = graph.node(id);
        let name = node.name.as_str();
        let inputs: Vec<String> = graph.inputs_of(id).into_iter().map(value).collect();
        let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let out = value(id);
        let outs = [out.as_str()];
        let weights = net.weights().get(id.index()).and_then(Option::as_ref);
        match &node.op {
            Op::Input { shape } => input_shape = Some(*shape),
            Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
                let w = weights.ok_or_else(|| Error::invalid("network", format!("{name} has no weights")))?;
                let mut args = ins.clone();
                let wn = g.constant(
                    &format!("{name}.weight"),
                    &[*out_channels, in_channels / groups, *kernel, *kernel],
                    &w.weight,
                );
                args.push(&wn);
                let bn;
                if let Some(b) = &w.bias {
                    bn = g.constant(&format!("{name}.bias"), &[*out_channels], b);
                    args.push(&bn);
                }
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                g.node(
                    "Conv",
                    name,
                    &args,
                    &outs,
                    &[
                        Attr::Ints("kernel_shape", vec![k, k]),
                        Attr::Ints("strides", vec![s, s]),
                        Attr::Ints("pads", vec![p, p, p, p]),
                        Attr::Int("group", *groups as i64),
                    ],
                );
            }
            Op::BatchNorm { channels, .. } => {
                let s = net
                    .batch_norms()
                    .get(id.index())
                    .and_then(Option::as_ref)
                    .ok_or_else(|| Error::invalid("network", format!("{name} has no batch-norm state")))?;
                let c = [*channels];
                let scale = g.constant(&format!("{name}.weight"), &c, &s.scale);
                let shift = g.constant(&format!("{name}.bias"), &c, &s.shift);
                let mean = g.constant(&format!("{name}.running_mean"), &c, &s.running_mean);
                let var = g.constant(&format!("{name}.running_var"), &c, &s.running_var);
                let args = [ins[0], &scale, &shift, &mean, &var];
                g.node("BatchNormalization", name, &args, &outs, &[Attr::Float("epsilon", 1e-5)]);
            }
            Op::Relu => g.node("Relu", name, &ins, &outs, &[]),
            Op::Pool { kind, kernel, stride, padding } => {
                let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
                let mut attrs = vec![
                    Attr::Ints("kernel_shape", vec![k, k]),
                    Attr::Ints("strides", vec![s, s]),
                    Attr::Ints("pads", vec![p, p, p, p]),
                ];
                let op = match kind {
                    PoolKind::Avg { count_include_pad } => {
                        attrs.push(Attr::Int("count_include_pad", i64::from(*count_include_pad)));
                        "AveragePool"
                    }
                    PoolKind::Max => "MaxPool",
                };
                g.node(op, name, &ins, &outs, &attrs);
            }
            Op::GlobalAvgPool => g.node("GlobalAveragePool", name, &ins, &outs, &[]),
            Op::Linear { in_features, out_features, .. } => {
                let w = weights.ok_or_else(|| Error::invalid("network", format!("{name} has no weights")))?;
                let flat = format!("{name}:flat");
                g.node("Flatten", &format!("{name}.flatten"), &ins, &[&flat], &[Attr::Int("axis", 1)]);
                let wn = g.constant(&format!("{name}.weight"), &[*out_features, *in_features], &w.weight);
                let mut args = vec![flat.as_str(), wn.as_str()];
                let bn;
                if let Some(b) = &w.bias {
                    bn = g.constant(&format!("{name}.bias"), &[*out_features], b);
                    args.push(&bn);
                }
                g.node("Gemm", name, &args, &outs, &[Attr::Int("transB", 1)]);
            }
            Op::Add if ins.len() == 1 => g.node("Identity", name, &ins, &outs, &[]),
            Op::Add => g.node("Sum", name, &ins, &outs, &[]),
            Op::Concat => g.node("Concat", name, &ins, &outs, &[Attr::Int("axis", 1)]),
            Op::Zero => {
                let shape = format!("{name}:shape");
                g.node("Shape", &format!("{name}.shape"), &ins, &[&shape], &[]);
                g.node("ConstantOfShape", name, &[&shape], &outs, &[Attr::Tensor("value", tensor("", &[1], &[0.0]))]);
            }
            Op::Identity => g.node("Identity", name, &ins, &outs, &[]),
            Op::Choice { .. } => return Err(unsupported("a supernet choice (export one of its architectures)")),
        }
    }
    let input_shape = input_shape.ok_or_else(|| Error::invalid("network", "it has no input node"))?;
    let out_shape = graph.node(output_id).shape;
    // The output node's value, renamed to OUTPUT.
    g.node("Identity", "nas.output", &[&value(output_id)], &[OUTPUT], &[]);

    // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
    let mut gp = Message::default();
    for n in &g.nodes {
        gp.message(1, n);
    }
    gp.string(2, "nas");
    for t in &g.initializers {
        gp.message(5, t);
    }
    let (c, h, w) = (input_shape.c, input_shape.h, input_shape.w);
    gp.message(11, &value_info(INPUT, &[None, Some(c), Some(h), Some(w)]));
    gp.message(12, &value_info(OUTPUT, &[None, Some(out_shape.c * out_shape.h * out_shape.w)]));
    // ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8.
    let mut opset = Message::default();
    opset.string(1, "").int(2, OPSET);
    let mut model = Message::default();
    model
        .int(1, IR_VERSION)
        .string(2, producer)
        .string(3, env!("CARGO_PKG_VERSION"))
        .message(7, &gp)
        .message(8, &opset);
    Ok(model.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_are_protobufs() {
        let mut m = Message::default();
        m.int(1, 150);
        // The protobuf documentation's example: field 1 = 150 is 08 96 01.
        assert_eq!(m.0, [0x08, 0x96, 0x01]);
        let mut m = Message::default();
        m.string(2, "testing");
        assert_eq!(m.0[..2], [0x12, 0x07]);
        let mut m = Message::default();
        m.packed(4, &[3, 270, 86942]);
        assert_eq!(m.0, [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
    }
}
