//! Reading a `report:` section. serde reads the section into raw shapes (the structs and
//! enums below, one per kind of value) whose every field is a [`Field`]: reading a field
//! never fails, a bad value is kept as its message, so one bad value hides no other. The
//! [`Parser`] then turns the raw shapes into the [`model`](super::model), reporting every
//! problem with its key path (`report.tables[3].layout`).
//!
//! Messages say what was expected and what was found (`expected one of columns, compact,
//! found the string `wide``); unknown keys get a did-you-mean over the keys serde knows.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::{Number, Value};
use skelflow_contract::did_you_mean;

use super::checks;
use super::model::{
    AlsoSpec, AxisSpec, Layout, LossPlot, PaperRows, PlotSpec, ReportSpec, Select, SpecError,
    TableSpec, Unmatched,
};

// ------------------------------------------------------------------ what serde reads

/// What a value of the section must be, for messages.
trait Shape: DeserializeOwned {
    /// The message of a value of another type is `expected {expected}, found {what}`.
    fn expected() -> String;
    /// Said beside a value of another type.
    fn hint() -> Option<String> {
        None
    }
    /// Checks beyond the type: `Err(None)` gives the type's message, `Err(Some(m))` m.
    fn check(&self) -> Result<(), Option<String>> {
        Ok(())
    }
    /// The keys of a mapping shape: any other key is reported (with a did-you-mean).
    fn keys() -> Option<&'static [&'static str]> {
        None
    }
}

/// A problem with one value (or, with `key`, with one key of a mapping).
struct Problem {
    key: Option<String>,
    message: String,
    hint: Option<String>,
}

/// One value of the section as serde read it.
#[derive(Default)]
enum Field<T> {
    #[default]
    Absent,
    Null,
    /// The value, and the unknown keys of a mapping.
    Given(T, Vec<Problem>),
    Bad(Problem),
}

impl<T> Field<T> {
    /// Absent or null: a required key is missing.
    fn missing(&self) -> bool {
        matches!(self, Field::Absent | Field::Null)
    }
}

impl<'de, T: Shape> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Field::read(&v))
    }
}

impl<T: Shape> Field<T> {
    fn read(v: &Value) -> Field<T> {
        if v.is_null() {
            return Field::Null;
        }
        let type_error = || format!("expected {}, found {}", T::expected(), describe(v));
        // A struct also reads from a list, by position: a mapping shape reads only a mapping.
        let typed = match (T::keys(), v) {
            (Some(_), v) if !v.is_object() => None,
            (_, v) => T::deserialize(v).ok(),
        };
        let Some(t) = typed else {
            return Field::Bad(Problem {
                key: None,
                message: type_error(),
                hint: T::hint(),
            });
        };
        if let Err(message) = t.check() {
            return Field::Bad(Problem {
                key: None,
                message: message.unwrap_or_else(type_error),
                hint: None,
            });
        }
        let mut unknown = Vec::new();
        if let (Some(keys), Value::Object(map)) = (T::keys(), v) {
            for key in map.keys().filter(|k| !keys.contains(&k.as_str())) {
                let known = keys.join(", ");
                unknown.push(Problem {
                    key: Some(key.clone()),
                    message: format!("unknown key `{key}`"),
                    hint: Some(match did_you_mean(key, keys.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`? known keys: {known}"),
                        None => format!("known keys: {known}"),
                    }),
                });
            }
        }
        Field::Given(t, unknown)
    }
}

/// The names serde reads for `T`: a derived struct's fields or a derived enum's
/// variants, in declaration order.
fn names_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Names<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("neither a struct nor an enum"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("names read"))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = variants;
            Err(de::Error::custom("names read"))
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            identifier ignored_any
        }
    }
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut names));
    names
}

/// Raw shapes that are mappings with known keys.
macro_rules! mapping {
    ($($t:ty),*) => {$(
        impl Shape for $t {
            fn expected() -> String {
                "a mapping".to_string()
            }
            fn hint() -> Option<String> {
                Some(format!("keys: {}", names_of::<$t>().join(", ")))
            }
            fn keys() -> Option<&'static [&'static str]> {
                Some(names_of::<$t>())
            }
        }
    )*};
}

/// The whole section.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawSpec {
    title: Field<Text>,
    intro: Field<Text>,
    papers: Field<Texts>,
    tables: Field<Tables>,
    plots: Field<RawPlots>,
    latex: Field<Flag>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawTable {
    paper: Field<Text>,
    table: Field<Text>,
    title: Field<Text>,
    select: Field<RawSelect>,
    rows: Field<RawAxis>,
    columns: Field<RawAxis>,
    also: Field<AlsoList>,
    paper_rows: Field<PaperRows>,
    unmatched: Field<Unmatched>,
    layout: Field<Layout>,
    decimals: Field<Decimals>,
    baseline: Field<Text>,
    floors: Field<Texts>,
    plot: Field<Flag>,
}

/// `rows: {by: …, map: {…}}`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawAxisMap {
    by: Field<Texts>,
    map: Field<Targets>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawAlso {
    label: Field<Text>,
    select: Field<RawSelect>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawPlots {
    loss: Field<RawLossSpec>,
    accuracy: Field<Flag>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawLoss {
    kinds: Field<Texts>,
    column: Field<Text>,
    series: Field<Text>,
    facet: Field<Facet>,
}

mapping!(RawSpec, RawTable, RawAxisMap, RawAlso, RawPlots, RawLoss);

/// A non-empty string; a number is read as its text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Num(Number),
}

impl Text {
    fn text(self) -> String {
        match self {
            Text::Str(s) => s,
            Text::Num(n) => n.to_string(),
        }
    }
}

impl Shape for Text {
    fn expected() -> String {
        "a string".to_string()
    }
    fn check(&self) -> Result<(), Option<String>> {
        match self {
            Text::Str(s) if s.trim().is_empty() => Err(Some("must not be empty".to_string())),
            _ => Ok(()),
        }
    }
}

/// A string, number or boolean, as text (`k: 1` selects the dimension value "1").
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Num(Number),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Num(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A scalar or a non-empty list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Texts {
    Many(Vec<Field<Scalar>>),
    One(Scalar),
}

impl Shape for Texts {
    fn expected() -> String {
        "a string".to_string()
    }
    fn check(&self) -> Result<(), Option<String>> {
        match self {
            Texts::Many(items) if items.is_empty() => {
                Err(Some("must not be an empty list".to_string()))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(transparent)]
struct Flag(bool);

#[derive(Deserialize)]
#[serde(transparent)]
struct Decimals(u8);

impl Shape for Decimals {
    fn expected() -> String {
        "a whole number from 0 to 6".to_string()
    }
    fn check(&self) -> Result<(), Option<String>> {
        if self.0 <= 6 { Ok(()) } else { Err(None) }
    }
}

/// `paper_rows`, `unmatched`, `layout`: one of the enum's names.
macro_rules! choice {
    ($($t:ty),*) => {$(
        impl Shape for $t {
            fn expected() -> String {
                format!("one of {}", names_of::<$t>().join(", "))
            }
        }
    )*};
}

choice!(PaperRows, Unmatched, Layout);

#[derive(Deserialize)]
#[serde(transparent)]
struct Tables(Vec<Field<RawTable>>);

impl Shape for Tables {
    fn expected() -> String {
        "a list of tables".to_string()
    }
    fn hint() -> Option<String> {
        Some("tables: [{paper: a2mc, table: V, rows: variant, columns: benchmark}]".to_string())
    }
}

#[derive(Deserialize)]
#[serde(transparent)]
struct AlsoList(Vec<Field<RawAlso>>);

/// `select`: column → a value or a list of values; `null` lifts a condition.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawSelect(BTreeMap<String, Field<Texts>>);

impl Shape for RawSelect {
    fn expected() -> String {
        "a mapping of column: value".to_string()
    }
    fn hint() -> Option<String> {
        Some("e.g. `{metric: top1, protocol: linear, at: best}`".to_string())
    }
}

/// `rows: variant`, `rows: [method, encoder]` or `rows: {by: …, map: {…}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawAxis {
    By(Texts),
    Full(Field<RawAxisMap>),
}

impl Shape for RawAxis {
    fn expected() -> String {
        "a tag name".to_string()
    }
    fn check(&self) -> Result<(), Option<String>> {
        match self {
            RawAxis::By(by) => by.check(),
            RawAxis::Full(_) => Ok(()),
        }
    }
}

/// `map`: paper id → our value (one `by`) or a mapping of them (several); read once the
/// number of `by` columns is known.
#[derive(Deserialize)]
#[serde(transparent)]
struct Targets(BTreeMap<String, Value>);

/// A map entry with several `by` columns.
#[derive(Deserialize)]
#[serde(transparent)]
struct TargetMap(BTreeMap<String, Field<Scalar>>);

/// `loss: true | false | {…}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawLossSpec {
    On(bool),
    Custom(Box<Field<RawLoss>>),
}

/// `facet: <tag> | false`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Facet {
    Off(bool),
    Name(Text),
}

impl Shape for Facet {
    fn expected() -> String {
        "a string".to_string()
    }
    fn check(&self) -> Result<(), Option<String>> {
        match self {
            Facet::Off(false) => Ok(()),
            Facet::Off(true) => Err(None),
            Facet::Name(t) => t.check(),
        }
    }
}

/// Shapes whose only message is what they expect.
macro_rules! expects {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl Shape for $t {
            fn expected() -> String {
                $what.to_string()
            }
        }
    )*};
}

expects!(
    Scalar => "a string",
    Flag => "true or false",
    AlsoList => "a list",
    Targets => "a mapping of paper id: our value",
    TargetMap => "a mapping",
    RawLossSpec => "a mapping",
);

/// A value for messages: `the string `wide``, `a list`, `nothing`.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

// ------------------------------------------------------------------ the model

/// Parse a `report:` section: the model (None when a part of it is unusable) and every
/// problem. `tags`: the pipeline's tag names, when known.
pub(super) fn parse(
    value: &Value,
    tags: Option<&BTreeSet<String>>,
) -> (Option<ReportSpec>, Vec<SpecError>) {
    let mut parser = Parser {
        errors: Vec::new(),
        tags,
    };
    let spec = parser.spec(Field::read(value));
    (spec, parser.errors)
}

struct Parser<'a> {
    errors: Vec<SpecError>,
    tags: Option<&'a BTreeSet<String>>,
}

impl Parser<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.errors.push(SpecError {
            path: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    fn problem(&mut self, path: &str, p: Problem) {
        let path = match &p.key {
            Some(k) => format!("{path}.{k}"),
            None => path.to_string(),
        };
        self.error(&path, p.message, p.hint);
    }

    /// The value at `path`, reporting what is wrong with it; None when absent or null.
    fn take<T>(&mut self, field: Field<T>, path: &str) -> Option<T> {
        match field {
            Field::Absent | Field::Null => None,
            Field::Given(t, unknown) => {
                for p in unknown {
                    self.problem(path, p);
                }
                Some(t)
            }
            Field::Bad(p) => {
                self.problem(path, p);
                None
            }
        }
    }

    /// An element of a list or a value of a mapping, where null is a value of the wrong
    /// type.
    fn item<T: Shape>(&mut self, field: Field<T>, path: &str) -> Option<T> {
        if matches!(field, Field::Null) {
            self.error(
                path,
                format!("expected {}, found nothing", T::expected()),
                T::hint(),
            );
        }
        self.take(field, path)
    }

    /// `<key> is required` when the field is absent or null.
    fn require(&mut self, missing: bool, path: &str, key: &str, hint: &str) {
        if missing {
            self.error(
                &format!("{path}.{key}"),
                format!("`{key}` is required"),
                Some(hint.to_string()),
            );
        }
    }

    fn text(&mut self, field: Field<Text>, path: &str) -> Option<String> {
        self.take(field, path).map(Text::text)
    }

    fn flag(&mut self, field: Field<Flag>, path: &str, default: bool) -> bool {
        self.take(field, path).map_or(default, |f| f.0)
    }

    /// A string or a list of them.
    fn texts(&mut self, field: Field<Texts>, path: &str) -> Vec<String> {
        match self.take(field, path) {
            None => Vec::new(),
            Some(Texts::One(s)) => vec![s.text()],
            Some(Texts::Many(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| self.item(item, &format!("{path}[{i}]")))
                .map(Scalar::text)
                .collect(),
        }
    }

    /// With the pipeline's tag names known, a near miss of one is an error.
    fn column_name(&mut self, name: &str, path: &str) {
        if let Some((message, hint)) = self.tags.and_then(|t| checks::column_name(t, name)) {
            self.error(path, message, Some(hint));
        }
    }

    fn spec(&mut self, field: Field<RawSpec>) -> Option<ReportSpec> {
        let path = "report";
        if field.missing() {
            return Some(ReportSpec::default());
        }
        let raw = self.take(field, path)?;
        let title = self.text(raw.title, "report.title");
        let intro = self.text(raw.intro, "report.intro");
        let papers = self.texts(raw.papers, "report.papers");
        let mut tables = Vec::new();
        let given = self.take(raw.tables, "report.tables");
        for (i, t) in given
            .map(|t| t.0)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if let Some(t) = self.table(t, i, &format!("report.tables[{i}]")) {
                tables.push(t);
            }
        }
        let plots = match self.take(raw.plots, "report.plots") {
            Some(p) => self.plots(p, "report.plots"),
            None => PlotSpec::default(),
        };
        let latex = self.flag(raw.latex, "report.latex", true);
        Some(ReportSpec {
            title,
            intro,
            papers,
            tables,
            plots,
            latex,
        })
    }

    fn table(&mut self, field: Field<RawTable>, index: usize, path: &str) -> Option<TableSpec> {
        let raw = self.item(field, path)?;
        for (missing, key, hint) in [
            (
                raw.paper.missing(),
                "paper",
                "the paper's id, e.g. `paper: a2mc` (files in reports/papers/)",
            ),
            (
                raw.table.missing(),
                "table",
                "the table as the paper numbers it, e.g. `table: V`",
            ),
            (
                raw.rows.missing(),
                "rows",
                "the tag that names the paper's rows, e.g. `rows: variant`",
            ),
            (
                raw.columns.missing(),
                "columns",
                "the tag that names the paper's columns, e.g. `columns: benchmark`",
            ),
        ] {
            self.require(missing, path, key, hint);
        }
        let paper = self.text(raw.paper, &format!("{path}.paper"));
        let table = self.text(raw.table, &format!("{path}.table"));
        let title = self.text(raw.title, &format!("{path}.title"));
        let select = match self.take(raw.select, &format!("{path}.select")) {
            Some(s) => self.select(s, &format!("{path}.select")),
            None => Select::new(),
        };
        let rows = self.axis(raw.rows, &format!("{path}.rows"));
        let columns = self.axis(raw.columns, &format!("{path}.columns"));
        let mut also = Vec::new();
        let given = self.take(raw.also, &format!("{path}.also"));
        for (i, a) in given
            .map(|a| a.0)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let p = format!("{path}.also[{i}]");
            let Some(a) = self.item(a, &p) else { continue };
            self.require(
                a.label.missing(),
                &p,
                "label",
                "the column header, e.g. `label: 1-NN`",
            );
            let label = self.text(a.label, &format!("{p}.label"));
            self.require(
                a.select.missing(),
                &p,
                "select",
                "e.g. `select: {protocol: knn, k: 1}`",
            );
            let select = match self.take(a.select, &format!("{p}.select")) {
                Some(s) => self.select(s, &format!("{p}.select")),
                None => Select::new(),
            };
            if let Some(label) = label {
                also.push(AlsoSpec { label, select });
            }
        }
        let paper_rows = self.take(raw.paper_rows, &format!("{path}.paper_rows"));
        let unmatched = self.take(raw.unmatched, &format!("{path}.unmatched"));
        let layout = self.take(raw.layout, &format!("{path}.layout"));
        let decimals = self.take(raw.decimals, &format!("{path}.decimals"));
        let baseline = self.text(raw.baseline, &format!("{path}.baseline"));
        let floors = self.texts(raw.floors, &format!("{path}.floors"));
        let plot = self.flag(raw.plot, &format!("{path}.plot"), true);
        Some(TableSpec {
            index,
            paper: paper?,
            table: table?,
            title,
            select,
            rows: rows?,
            columns: columns?,
            also,
            paper_rows: paper_rows.unwrap_or_default(),
            unmatched: unmatched.unwrap_or_default(),
            layout: layout.unwrap_or_default(),
            decimals: decimals.map(|d| usize::from(d.0)),
            baseline,
            floors,
            plot,
        })
    }

    fn select(&mut self, raw: RawSelect, path: &str) -> Select {
        let mut out = Select::new();
        for (column, values) in raw.0 {
            let p = format!("{path}.{column}");
            self.column_name(&column, &p);
            // `key: null` lifts a condition of the table's `select` (in `also`)
            let values = match values {
                Field::Null => Vec::new(),
                given => self.texts(given, &p),
            };
            out.insert(column, values);
        }
        out
    }

    fn axis(&mut self, field: Field<RawAxis>, path: &str) -> Option<AxisSpec> {
        let (by, targets, by_path) = match self.take(field, path)? {
            RawAxis::By(by) => (
                Field::Given(by, Vec::new()),
                Field::Absent,
                path.to_string(),
            ),
            RawAxis::Full(full) => {
                let full = self.take(full, path)?;
                if full.by.missing() {
                    self.require(
                        true,
                        path,
                        "by",
                        "the tag whose value names the paper's row, e.g. `by: variant`",
                    );
                    return None;
                }
                (full.by, full.map, format!("{path}.by"))
            }
        };
        let by = self.texts(by, &by_path);
        if by.is_empty() {
            return None;
        }
        for (i, b) in by.iter().enumerate() {
            let p = if by.len() > 1 {
                format!("{by_path}[{i}]")
            } else {
                by_path.clone()
            };
            self.column_name(b, &p);
        }
        let map_path = format!("{path}.map");
        let targets = match targets {
            Field::Absent | Field::Null => BTreeMap::new(),
            given => self.take(given, &map_path)?.0,
        };
        let mut map = BTreeMap::new();
        for (paper_id, target) in targets {
            let tp = format!("{map_path}.{paper_id}");
            if let Some(values) = self.target(&by, &target, &tp) {
                map.insert(paper_id, values);
            }
        }
        Some(AxisSpec { by, map })
    }

    /// One `map` entry: our values of the `by` columns that fill a paper row (column).
    fn target(
        &mut self,
        by: &[String],
        target: &Value,
        path: &str,
    ) -> Option<BTreeMap<String, String>> {
        if let [single] = by {
            let value = self.item(Field::<Scalar>::read(target), path)?;
            return Some(BTreeMap::from([(single.clone(), value.text())]));
        }
        if !target.is_object() {
            let example: Vec<String> = by.iter().map(|b| format!("{b}: …")).collect();
            self.error(
                path,
                format!(
                    "with several `by` columns a map entry is a mapping of them, found {}",
                    describe(target)
                ),
                Some(format!(
                    "e.g. `{}: {{{}}}`",
                    path.rsplit('.').next().unwrap_or(path),
                    example.join(", ")
                )),
            );
            return None;
        }
        let entries = self.take(Field::<TargetMap>::read(target), path)?;
        let mut values = BTreeMap::new();
        for (column, value) in entries.0 {
            let p = format!("{path}.{column}");
            if !by.contains(&column) {
                self.error(
                    &p,
                    format!("`{column}` is not one of `by` ({})", by.join(", ")),
                    None,
                );
            } else if let Some(v) = self.item(value, &p) {
                values.insert(column, v.text());
            }
        }
        Some(values)
    }

    fn plots(&mut self, raw: RawPlots, path: &str) -> PlotSpec {
        let accuracy = self.flag(raw.accuracy, &format!("{path}.accuracy"), true);
        let p = format!("{path}.loss");
        let loss = match self.take(raw.loss, &p) {
            None | Some(RawLossSpec::On(true)) => Some(LossPlot::default()),
            Some(RawLossSpec::On(false)) => None,
            Some(RawLossSpec::Custom(custom)) => self.take(*custom, &p).map(|m| self.loss(m, &p)),
        };
        PlotSpec { loss, accuracy }
    }

    fn loss(&mut self, raw: RawLoss, path: &str) -> LossPlot {
        let d = LossPlot::default();
        let kinds = match raw.kinds {
            Field::Absent | Field::Null => d.kinds,
            given => self.texts(given, &format!("{path}.kinds")),
        };
        let column = self.text(raw.column, &format!("{path}.column"));
        let series = self.text(raw.series, &format!("{path}.series"));
        let facet = match raw.facet {
            Field::Absent => d.facet,
            given => match self.take(given, &format!("{path}.facet")) {
                Some(Facet::Name(name)) => Some(name.text()),
                Some(Facet::Off(_)) | None => None,
            },
        };
        LossPlot {
            kinds,
            column: column.unwrap_or(d.column),
            series: series.unwrap_or(d.series),
            facet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_the_keys_and_choices() {
        assert_eq!(names_of::<RawAxisMap>(), ["by", "map"]);
        assert_eq!(
            names_of::<RawSpec>(),
            ["title", "intro", "papers", "tables", "plots", "latex"]
        );
        assert_eq!(Layout::expected(), "one of columns, compact");
        assert_eq!(PaperRows::expected(), "one of all, ran");
    }
}
