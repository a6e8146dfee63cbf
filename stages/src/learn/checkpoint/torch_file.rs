//! `torch.save` files: read with `pytorch-reader` (burn's reader of every container PyTorch
//! has written), written here in PyTorch's own zip layout.
//!
//! No maintained Rust crate writes them. What `torch.load(..., weights_only=True)` needs is
//! small: a zip (stored, 64-byte aligned like PyTorch's writer) holding `archive/data.pkl`,
//! a protocol-2 pickle whose tensors are `torch._utils._rebuild_tensor_v2` over persistent
//! storage ids, each storage's bytes as `archive/data/<id>`, and the `version` and
//! `byteorder` records. Only dicts, ordered dicts, ints, strings and tensors are written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use pytorch_reader::{DType, PytorchReader};

use super::{StateDict, TorchTensor, Values};

/// Every float tensor of a checkpoint by its dotted path through the saved dicts
/// (`state_dict.module.encoder_q.fc.0.weight`); integer tensors too (`num_batches_tracked`).
/// Without `values`, only names and shapes (the file's metadata; no tensor is read).
pub fn read_tensors(path: &Path, values: bool) -> Result<StateDict, String> {
    let reader = PytorchReader::new(path).map_err(|e| {
        format!("not a readable PyTorch checkpoint ({e}); give a file written by torch.save")
    })?;
    let mut out = BTreeMap::new();
    for (name, t) in reader.tensors() {
        if !values {
            let empty = Values::F32(Vec::new());
            out.insert(
                name.clone(),
                TorchTensor {
                    shape: t.shape().to_vec(),
                    values: empty,
                },
            );
            continue;
        }
        let bytes = t
            .read()
            .map_err(|e| format!("cannot read the tensor `{name}`: {e}"))?;
        let read = match t.dtype() {
            DType::F32 => Values::F32(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            DType::F64 => Values::F32(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
                    .collect(),
            ),
            DType::I64 => Values::I64(
                bytes
                    .chunks_exact(8)
                    .map(|b| i64::from_ne_bytes(b.try_into().expect("8 bytes")))
                    .collect(),
            ),
            other => {
                return Err(format!(
                    "the tensor `{name}` is {other:?}; skelflow reads float32 / float64 weights (convert with `.float()` before saving)"
                ));
            }
        };
        out.insert(
            name.clone(),
            TorchTensor {
                shape: t.shape().to_vec(),
                values: read,
            },
        );
    }
    Ok(out)
}

/// A value of the saved object.
#[derive(Clone, Debug)]
pub enum PyValue {
    Int(i64),
    Str(String),
    Tensor(TorchTensor),
    Dict(Vec<(String, PyValue)>),
    /// `collections.OrderedDict`, what `state_dict()` returns.
    OrderedDict(Vec<(String, PyValue)>),
}

/// Write `root` as `torch.save(root, path)` would (through a temporary file, renamed).
pub fn write(path: &Path, root: &PyValue) -> std::io::Result<()> {
    let mut pickle = Pickler::default();
    pickle.out.extend_from_slice(&[0x80, 2]); // PROTO 2
    pickle.value(root);
    pickle.out.push(b'.'); // STOP

    let tmp = path.with_extension("pt.tmp");
    let file = std::fs::File::create(&tmp)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64)
        .large_file(true);
    let entry = |zip: &mut zip::ZipWriter<_>, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        zip.start_file(format!("archive/{name}"), opts)
            .map_err(std::io::Error::other)?;
        zip.write_all(bytes)
    };
    entry(&mut zip, "data.pkl", &pickle.out)?;
    entry(&mut zip, "byteorder", b"little")?;
    for (i, bytes) in pickle.storages.iter().enumerate() {
        entry(&mut zip, &format!("data/{i}"), bytes)?;
    }
    entry(&mut zip, "version", b"3\n")?;
    let mut inner = zip.finish().map_err(std::io::Error::other)?;
    inner.flush()?;
    inner.get_ref().sync_all()?;
    drop(inner);
    std::fs::rename(&tmp, path)
}

#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
    storages: Vec<Vec<u8>>,
}

impl Pickler {
    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X'); // BINUNICODE
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, v: i64) {
        if let Ok(v) = i32::try_from(v) {
            self.out.push(b'J'); // BININT
            self.out.extend_from_slice(&v.to_le_bytes());
        } else {
            self.out.extend_from_slice(&[0x8a, 8]); // LONG1, 8 bytes
            self.out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn tuple(&mut self, items: impl FnOnce(&mut Self)) {
        self.out.push(b'('); // MARK
        items(self);
        self.out.push(b't'); // TUPLE
    }

    fn dict_items(&mut self, items: &[(String, PyValue)]) {
        for (k, v) in items {
            self.str(k);
            self.value(v);
            self.out.push(b's'); // SETITEM
        }
    }

    fn value(&mut self, v: &PyValue) {
        match v {
            PyValue::Int(i) => self.int(*i),
            PyValue::Str(s) => self.str(s),
            PyValue::Dict(items) => {
                self.out.push(b'}'); // EMPTY_DICT
                self.dict_items(items);
            }
            PyValue::OrderedDict(items) => {
                self.ordered_dict();
                self.dict_items(items);
            }
            PyValue::Tensor(t) => self.tensor(t),
        }
    }

    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.out.push(b')'); // EMPTY_TUPLE
        self.out.push(b'R'); // REDUCE
    }

    /// `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`.
    fn tensor(&mut self, t: &TorchTensor) {
        let (storage_type, bytes, numel) = match &t.values {
            Values::F32(v) => (
                "FloatStorage",
                v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
                v.len(),
            ),
            Values::I64(v) => (
                "LongStorage",
                v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
                v.len(),
            ),
        };
        let key = self.storages.len().to_string();
        self.storages.push(bytes);
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.tuple(|p| {
            // the storage: persistent id ('storage', torch.<Type>, key, 'cpu', numel)
            p.tuple(|p| {
                p.str("storage");
                p.global("torch", storage_type);
                p.str(&key);
                p.str("cpu");
                p.int(numel as i64);
            });
            p.out.push(b'Q'); // BINPERSID
            p.int(0);
            p.tuple(|p| t.shape.iter().for_each(|&d| p.int(d as i64)));
            let mut stride = vec![1usize; t.shape.len()];
            for i in (0..t.shape.len().saturating_sub(1)).rev() {
                stride[i] = stride[i + 1] * t.shape[i + 1];
            }
            p.tuple(|p| stride.iter().for_each(|&s| p.int(s as i64)));
            p.out.push(0x89); // NEWFALSE: requires_grad
            p.ordered_dict(); // backward hooks
        });
        self.out.push(b'R');
    }
}
