//! The report's Parquet files, with arrow-rs (the workspace's arrow crates and `parquet`,
//! which the stages use too): `results.parquet` and `comparison.parquet` are written
//! Snappy-compressed, through a temporary file; the pretraining artifacts' `epochs.parquet`
//! is read. Any Parquet reader reads them (`polars.read_parquet`, `pyarrow.parquet`).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::ReportError;

/// A table being built column by column (every column nullable, as data frames write
/// them).
#[derive(Debug, Default)]
pub struct Table {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Table {
    pub fn text<S: AsRef<str>>(&mut self, name: &str, values: impl IntoIterator<Item = Option<S>>) {
        self.push(name, Arc::new(values.into_iter().collect::<StringArray>()));
    }

    pub fn float(&mut self, name: &str, values: impl IntoIterator<Item = Option<f64>>) {
        self.push(name, Arc::new(values.into_iter().collect::<Float64Array>()));
    }

    pub fn int(&mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) {
        self.push(name, Arc::new(values.into_iter().collect::<Int64Array>()));
    }

    pub fn count(&mut self, name: &str, values: impl IntoIterator<Item = u32>) {
        self.push(name, Arc::new(UInt32Array::from_iter_values(values)));
    }

    fn push(&mut self, name: &str, array: ArrayRef) {
        self.fields
            .push(Field::new(name, array.data_type().clone(), true));
        self.columns.push(array);
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    pub fn into_batch(self) -> Result<RecordBatch, ParquetError> {
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(self.fields)),
            self.columns,
        )?)
    }
}

/// Write a table as Parquet (Snappy), atomically enough for a report: temp file + rename.
pub fn write_parquet(table: Table, path: &Path) -> Result<(), ReportError> {
    let context = || format!("write {}", path.display());
    let batch = table
        .into_batch()
        .map_err(ReportError::parquet(context()))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = fs::File::create(&tmp).map_err(|e| ReportError::io("create", &tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(ReportError::parquet(context()))?;
    writer
        .write(&batch)
        .map_err(ReportError::parquet(context()))?;
    writer.close().map_err(ReportError::parquet(context()))?;
    fs::rename(&tmp, path).map_err(|e| ReportError::io("rename", path, e))
}

/// The named columns of a Parquet file as numbers (null where a value is missing).
pub fn read_numbers(path: &Path, names: &[&str]) -> Result<Vec<Vec<Option<f64>>>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("not a readable Parquet file: {e}");
    let file = fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    for name in names {
        if builder.schema().field_with_name(name).is_err() {
            return Err(format!("no `{name}` column"));
        }
    }
    let mut out = vec![Vec::new(); names.len()];
    for batch in builder.build().map_err(|e| unreadable(&e))? {
        let batch = batch.map_err(|e| unreadable(&e))?;
        for (column, name) in out.iter_mut().zip(names) {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| format!("no `{name}` column"))?;
            let numbers = as_numbers(array.as_ref())
                .ok_or_else(|| format!("`{name}` is not numeric ({})", array.data_type()))?;
            column.extend(numbers);
        }
    }
    Ok(out)
}

/// An integer or floating-point column as `f64`s; `None` for any other type.
fn as_numbers(array: &dyn Array) -> Option<Vec<Option<f64>>> {
    fn widen<T: ArrowPrimitiveType>(
        array: &dyn Array,
        to_f64: fn(T::Native) -> f64,
    ) -> Vec<Option<f64>> {
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.map(to_f64))
            .collect()
    }
    Some(match array.data_type() {
        DataType::Float64 => widen::<Float64Type>(array, |v| v),
        DataType::Float32 => widen::<Float32Type>(array, f64::from),
        DataType::Int64 => widen::<Int64Type>(array, |v| v as f64),
        DataType::Int32 => widen::<Int32Type>(array, f64::from),
        DataType::Int16 => widen::<Int16Type>(array, f64::from),
        DataType::Int8 => widen::<Int8Type>(array, f64::from),
        DataType::UInt64 => widen::<UInt64Type>(array, |v| v as f64),
        DataType::UInt32 => widen::<UInt32Type>(array, f64::from),
        DataType::UInt16 => widen::<UInt16Type>(array, f64::from),
        DataType::UInt8 => widen::<UInt8Type>(array, f64::from),
        _ => return None,
    })
}
