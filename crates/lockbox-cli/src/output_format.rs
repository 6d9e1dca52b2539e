//! `--query` and `--output`: what the AWS CLI does to a response before it prints it.
//!
//! A response is first the JSON `aws kms` prints (see `output`); `--query` evaluates a
//! JMESPath expression over it (the `jmespath` crate, decision 0028), and `--output` prints
//! the result as the AWS CLI's formatters do: `json` (four-space indentation), `text`
//! (tab-separated, keys sorted, one line per object), `table` (boxed sections titled with the
//! operation's name) or `yaml` (block style, as AWS CLI v2 prints it).
//!
//! The response may hold a plaintext in base64, so every copy made here is zeroized: the
//! document tree holds `Zeroizing` strings, and the JMESPath variables are taken apart and
//! their strings wiped once the result is out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use jmespath::{Rcvar, Variable};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::error::CliError;

/// `--output`: the AWS CLI's output formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// JSON, indented by four spaces (the default)
    #[default]
    Json,
    /// Tab-separated values, one line per object
    Text,
    /// Boxed tables, one section per object
    Table,
    /// YAML, block style
    Yaml,
}

/// How this run prints its responses: set once by `run` from the command line and the
/// profile, read by `output::print_json`.
#[derive(Default)]
pub(crate) struct Settings {
    /// The `--query` expression, already checked to compile.
    pub(crate) query: Option<String>,
    pub(crate) format: Format,
    /// The operation's name (`DescribeKey`): the title of a table.
    pub(crate) operation: String,
    /// `--no-paginate` on a List operation: print the raw response's NextMarker and
    /// Truncated in place of the NextToken of gathered pages.
    pub(crate) raw_page: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Checks `--query` and records how this run prints. A query that does not compile is a
/// parameter error, as the AWS CLI's "Bad value for --query".
pub(crate) fn configure(settings: Settings) -> Result<(), CliError> {
    if let Some(q) = &settings.query {
        jmespath::compile(q).map_err(|e| {
            CliError::param("--query", format!("bad value {q:?}: invalid JMESPath: {e}"))
        })?;
    }
    // Set once per process; a second call (never made by `run`) keeps the first.
    let _ = SETTINGS.set(settings);
    Ok(())
}

fn settings() -> &'static Settings {
    static DEFAULT: OnceLock<Settings> = OnceLock::new();
    SETTINGS
        .get()
        .unwrap_or_else(|| DEFAULT.get_or_init(Settings::default))
}

/// Whether this run's output is the plain JSON `output` has always printed (no query, JSON).
pub(crate) fn is_plain_json() -> bool {
    let s = settings();
    s.query.is_none() && s.format == Format::Json && !s.raw_page
}

/// Applies this run's `--query` and `--output` to `json`, the response as JSON text, and
/// returns what to print (zeroized when dropped). `None`: nothing is printed (the AWS CLI
/// prints nothing for an empty JSON object).
pub(crate) fn render(json: &[u8]) -> Result<Option<Zeroizing<String>>, CliError> {
    let s = settings();
    if s.raw_page {
        let mut doc: Doc = serde_json::from_slice(json)
            .map_err(|e| CliError::Setup(format!("cannot format output: {e}")))?;
        if let Doc::Object(m) = &mut doc {
            let mut truncated = false;
            for (k, _) in m.iter_mut() {
                if k.as_str() == "NextToken" {
                    *k = Zeroizing::new("NextMarker".to_owned());
                    truncated = true;
                }
            }
            m.push((Zeroizing::new("Truncated".to_owned()), Doc::Bool(truncated)));
        }
        let raw = Zeroizing::new(
            serde_json::to_vec(&doc)
                .map_err(|e| CliError::Setup(format!("cannot format output: {e}")))?,
        );
        return render_with(&raw, s.query.as_deref(), s.format, &s.operation);
    }
    render_with(json, s.query.as_deref(), s.format, &s.operation)
}

fn render_with(
    json: &[u8],
    query: Option<&str>,
    format: Format,
    operation: &str,
) -> Result<Option<Zeroizing<String>>, CliError> {
    let bad = |e: &dyn std::fmt::Display| CliError::Setup(format!("cannot format output: {e}"));
    let doc: Doc = serde_json::from_slice(json).map_err(|e| bad(&e))?;
    let doc = match query {
        None => doc,
        Some(q) => {
            let expr = jmespath::compile(q).map_err(|e| {
                CliError::param("--query", format!("bad value {q:?}: invalid JMESPath: {e}"))
            })?;
            let input: Rcvar =
                std::rc::Rc::new(serde_json::from_slice::<Variable>(json).map_err(|e| bad(&e))?);
            let searched = expr.search(std::rc::Rc::clone(&input));
            let result = match searched {
                Ok(r) => {
                    let order = KeyOrder::new(&doc, expr.as_ast());
                    let out = Doc::from_var(&r, &order);
                    scrub(r);
                    out
                }
                Err(e) => {
                    scrub(input);
                    return Err(CliError::param("--query", e.to_string()));
                }
            };
            scrub(input);
            result
        }
    };
    // The AWS CLI prints nothing for an empty object, in every format.
    if matches!(&doc, Doc::Object(m) if m.is_empty()) {
        return Ok(None);
    }
    let mut out = Zeroizing::new(String::with_capacity(16 * 1024));
    match format {
        Format::Json => {
            let mut buf = Zeroizing::new(Vec::with_capacity(16 * 1024));
            let mut ser = serde_json::Serializer::with_formatter(
                &mut *buf,
                serde_json::ser::PrettyFormatter::with_indent(b"    "),
            );
            doc.serialize(&mut ser).map_err(|e| bad(&e))?;
            out.push_str(std::str::from_utf8(&buf).map_err(|e| bad(&e))?);
            out.push('\n');
        }
        Format::Text => text(&doc, &mut out, None, None),
        Format::Table => table(&doc, operation, &mut out),
        Format::Yaml => yaml(&doc, &mut out),
    }
    Ok(Some(out))
}

/// Members whose values `--debug` never shows: plaintexts (data keys included), private
/// keys, shared secrets, signatures.
const SECRET_MEMBERS: [&str; 4] = [
    "Plaintext",
    "PrivateKeyPlaintext",
    "SharedSecret",
    "Signature",
];

/// `body` (a request or response) as one line of JSON with every secret member's value
/// replaced by `<redacted: N characters>`; a body that is not JSON by its length only.
pub(crate) fn redacted(body: &[u8]) -> String {
    fn walk(d: &mut Doc) {
        match d {
            Doc::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if SECRET_MEMBERS.contains(&k.as_str()) {
                        let n = match v {
                            Doc::String(s) => s.chars().count(),
                            _ => 0,
                        };
                        *v = Doc::String(Zeroizing::new(format!("<redacted: {n} characters>")));
                    } else {
                        walk(v);
                    }
                }
            }
            Doc::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if body.is_empty() {
        return "(empty)".to_owned();
    }
    match serde_json::from_slice::<Doc>(body) {
        Ok(mut doc) => {
            walk(&mut doc);
            serde_json::to_string(&doc).unwrap_or_else(|e| format!("(unprintable: {e})"))
        }
        Err(_) => format!("({} bytes, not JSON)", body.len()),
    }
}

/// A JSON document whose objects keep their members' order (the order `aws kms` prints).
#[derive(Debug, PartialEq)]
enum Doc {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Zeroizing<String>),
    Array(Vec<Doc>),
    Object(Vec<(Zeroizing<String>, Doc)>),
}

impl Doc {
    fn is_scalar(&self) -> bool {
        !matches!(self, Doc::Array(_) | Doc::Object(_))
    }

    fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Object(m) => m.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as Python's `str()` prints it, as the text and table formats show scalars.
    fn py_str(&self) -> Zeroizing<String> {
        Zeroizing::new(match self {
            Doc::Null => "None".to_owned(),
            Doc::Bool(true) => "True".to_owned(),
            Doc::Bool(false) => "False".to_owned(),
            Doc::Number(n) => n.to_string(),
            Doc::String(s) => s.as_str().to_owned(),
            // Not reached for scalars; Python would print the repr.
            Doc::Array(_) | Doc::Object(_) => String::new(),
        })
    }

    /// A JMESPath result, its objects' members put back in the order of the response (or of
    /// the query's multi-select hash), as Python's dicts keep them.
    fn from_var(v: &Variable, order: &KeyOrder) -> Doc {
        match v {
            Variable::Null | Variable::Expref(_) => Doc::Null,
            Variable::Bool(b) => Doc::Bool(*b),
            Variable::Number(n) => Doc::Number(n.clone()),
            Variable::String(s) => Doc::String(Zeroizing::new(s.clone())),
            Variable::Array(a) => Doc::Array(a.iter().map(|x| Doc::from_var(x, order)).collect()),
            Variable::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                order.sort(&mut keys);
                Doc::Object(
                    keys.into_iter()
                        .filter_map(|k| {
                            m.get(k)
                                .map(|x| (Zeroizing::new(k.clone()), Doc::from_var(x, order)))
                        })
                        .collect(),
                )
            }
        }
    }
}

/// The order members of a query's result are printed in: a multi-select hash's keys in the
/// order written, else the order of the first object of the response that has the key.
struct KeyOrder {
    hashes: Vec<Vec<String>>,
    rank: HashMap<String, usize>,
}

impl KeyOrder {
    fn new(doc: &Doc, ast: &jmespath::ast::Ast) -> KeyOrder {
        let mut order = KeyOrder {
            hashes: Vec::new(),
            rank: HashMap::new(),
        };
        order.visit_doc(doc);
        order.visit_ast(ast);
        order
    }

    fn visit_doc(&mut self, doc: &Doc) {
        match doc {
            Doc::Array(a) => a.iter().for_each(|x| self.visit_doc(x)),
            Doc::Object(m) => {
                for (k, v) in m {
                    let next = self.rank.len();
                    self.rank.entry(k.as_str().to_owned()).or_insert(next);
                    self.visit_doc(v);
                }
            }
            _ => {}
        }
    }

    fn visit_ast(&mut self, ast: &jmespath::ast::Ast) {
        use jmespath::ast::Ast;
        match ast {
            Ast::MultiHash { elements, .. } => {
                self.hashes
                    .push(elements.iter().map(|kv| kv.key.clone()).collect());
                elements.iter().for_each(|kv| self.visit_ast(&kv.value));
            }
            Ast::Comparison { lhs, rhs, .. }
            | Ast::Projection { lhs, rhs, .. }
            | Ast::And { lhs, rhs, .. }
            | Ast::Or { lhs, rhs, .. }
            | Ast::Subexpr { lhs, rhs, .. } => {
                self.visit_ast(lhs);
                self.visit_ast(rhs);
            }
            Ast::Condition {
                predicate, then, ..
            } => {
                self.visit_ast(predicate);
                self.visit_ast(then);
            }
            Ast::Expref { ast, .. } => self.visit_ast(ast),
            Ast::Flatten { node, .. } | Ast::Not { node, .. } | Ast::ObjectValues { node, .. } => {
                self.visit_ast(node)
            }
            Ast::Function { args, .. } => args.iter().for_each(|a| self.visit_ast(a)),
            Ast::MultiList { elements, .. } => elements.iter().for_each(|a| self.visit_ast(a)),
            Ast::Identity { .. }
            | Ast::Field { .. }
            | Ast::Index { .. }
            | Ast::Literal { .. }
            | Ast::Slice { .. } => {}
        }
    }

    fn sort(&self, keys: &mut Vec<&String>) {
        let hash = self
            .hashes
            .iter()
            .find(|h| h.len() == keys.len() && h.iter().all(|k| keys.contains(&k)));
        if let Some(h) = hash {
            keys.sort_by_key(|k| h.iter().position(|x| x == *k));
            return;
        }
        // Keys the response does not have (from functions) come last, in name order (the
        // map is already sorted by name, and the sort is stable).
        keys.sort_by_key(|k| self.rank.get(k.as_str()).copied().unwrap_or(usize::MAX));
    }
}

/// Takes a JMESPath value apart and wipes its strings where this is the last reference.
fn scrub(v: Rcvar) {
    if let Ok(var) = std::rc::Rc::try_unwrap(v) {
        match var {
            Variable::String(mut s) => s.zeroize(),
            Variable::Array(a) => a.into_iter().for_each(scrub),
            Variable::Object(m) => {
                for (mut k, x) in m {
                    k.zeroize();
                    scrub(x);
                }
            }
            Variable::Null | Variable::Bool(_) | Variable::Number(_) | Variable::Expref(_) => {}
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Doc, E> {
                Ok(Doc::Null)
            }
            fn visit_none<E>(self) -> Result<Doc, E> {
                Ok(Doc::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Doc, E> {
                Ok(Doc::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Doc, E> {
                Ok(Doc::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Doc, E> {
                Ok(Doc::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Doc, E> {
                Ok(serde_json::Number::from_f64(n).map_or(Doc::Null, Doc::Number))
            }
            fn visit_str<E>(self, s: &str) -> Result<Doc, E> {
                Ok(Doc::String(Zeroizing::new(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Doc, E> {
                Ok(Doc::String(Zeroizing::new(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(Doc::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = map.next_entry::<String, Doc>()? {
                    v.push((Zeroizing::new(k), x));
                }
                Ok(Doc::Object(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => s.serialize_unit(),
            Doc::Bool(b) => s.serialize_bool(*b),
            Doc::Number(n) => n.serialize(s),
            Doc::String(x) => s.serialize_str(x),
            Doc::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Doc::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k.as_str(), v)?;
                }
                map.end()
            }
        }
    }
}

// ---- text: awscli/text.py ----

fn text(doc: &Doc, out: &mut String, identifier: Option<&str>, scalar_keys: Option<&[String]>) {
    match doc {
        Doc::Object(_) => text_object(doc, out, identifier, scalar_keys),
        Doc::Array(items) => text_list(items, out, identifier),
        scalar => {
            out.push_str(&scalar.py_str());
            out.push('\n');
        }
    }
}

fn text_list(items: &[Doc], out: &mut String, identifier: Option<&str>) {
    if items.is_empty() {
        return;
    }
    if items.iter().any(|x| matches!(x, Doc::Object(_))) {
        let mut keys: Vec<String> = Vec::new();
        for item in items {
            if let Doc::Object(m) = item {
                for (k, v) in m {
                    if v.is_scalar() && !keys.iter().any(|x| x == k.as_str()) {
                        keys.push(k.as_str().to_owned());
                    }
                }
            }
        }
        keys.sort();
        for item in items {
            text(item, out, identifier, Some(&keys));
        }
    } else if items.iter().any(|x| matches!(x, Doc::Array(_))) {
        let scalars: Vec<&Doc> = items.iter().filter(|x| x.is_scalar()).collect();
        if !scalars.is_empty() {
            text_scalars(&scalars, out, identifier);
        }
        for item in items.iter().filter(|x| !x.is_scalar()) {
            text(item, out, identifier, None);
        }
    } else {
        let scalars: Vec<&Doc> = items.iter().collect();
        text_scalars(&scalars, out, identifier);
    }
}

fn text_scalars(items: &[&Doc], out: &mut String, identifier: Option<&str>) {
    match identifier {
        Some(id) => {
            for item in items {
                out.push_str(&id.to_uppercase());
                out.push('\t');
                out.push_str(&item.py_str());
                out.push('\n');
            }
        }
        None => {
            let strs: Vec<Zeroizing<String>> = items.iter().map(|x| x.py_str()).collect();
            for (i, s) in strs.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                out.push_str(s);
            }
            out.push('\n');
        }
    }
}

fn text_object(doc: &Doc, out: &mut String, identifier: Option<&str>, keys: Option<&[String]>) {
    let Doc::Object(m) = doc else { return };
    let mut scalars: Vec<Zeroizing<String>> = Vec::new();
    let mut rest: Vec<(&str, &Doc)> = Vec::new();
    match keys {
        None => {
            let mut sorted: Vec<&(Zeroizing<String>, Doc)> = m.iter().collect();
            sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            for (k, v) in sorted {
                if v.is_scalar() {
                    scalars.push(v.py_str());
                } else {
                    rest.push((k.as_str(), v));
                }
            }
        }
        Some(keys) => {
            for k in keys {
                scalars.push(
                    doc.get(k)
                        .map_or_else(|| Zeroizing::new(String::new()), Doc::py_str),
                );
            }
            let mut others: Vec<&(Zeroizing<String>, Doc)> = m
                .iter()
                .filter(|(k, _)| !keys.iter().any(|x| x == k.as_str()))
                .collect();
            others.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            rest.extend(others.into_iter().map(|(k, v)| (k.as_str(), v)));
        }
    }
    if !scalars.is_empty() {
        if let Some(id) = identifier {
            out.push_str(&id.to_uppercase());
            out.push('\t');
        }
        for (i, s) in scalars.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            out.push_str(s);
        }
        out.push('\n');
    }
    for (k, v) in rest {
        text(v, out, Some(k), None);
    }
}

// ---- table: awscli/formatter.py (TableFormatter) and awscli/table.py ----

#[derive(Default)]
struct Section {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<Zeroizing<String>>>,
    indent: usize,
    max_widths: Vec<usize>,
}

impl Section {
    fn update_widths(&mut self, row: &[&str]) {
        if self.max_widths.is_empty() {
            self.max_widths = row.iter().map(|x| width(x)).collect();
        } else {
            for (w, x) in self.max_widths.iter_mut().zip(row) {
                *w = (*w).max(width(x));
            }
        }
    }

    fn add_header(&mut self, headers: Vec<String>) {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        self.update_widths(&refs);
        self.headers = headers;
    }

    fn add_row(&mut self, row: Vec<Zeroizing<String>>) {
        let refs: Vec<&str> = row.iter().map(|x| x.as_str()).collect();
        self.update_widths(&refs);
        self.rows.push(row);
    }

    /// Column widths padded, scaled to `max_width` as awscli does (Python's round: half to
    /// even).
    fn column_widths(&self, padding: usize, max_width: Option<usize>) -> Vec<usize> {
        let unscaled: Vec<usize> = self.max_widths.iter().map(|w| w + padding).collect();
        let Some(max) = max_width else {
            return unscaled;
        };
        if unscaled.is_empty() {
            return unscaled;
        }
        let total: usize = unscaled.iter().sum();
        #[allow(clippy::cast_precision_loss)]
        let factor = max as f64 / total as f64;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let mut scaled: Vec<i64> = unscaled
            .iter()
            .map(|w| (factor * *w as f64).round_ties_even() as i64)
            .collect();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let mut off_by: i64 = scaled.iter().sum::<i64>() - max;
        while off_by != 0 {
            let order: Vec<usize> = if off_by < 0 {
                (0..scaled.len()).rev().collect()
            } else {
                (0..scaled.len()).collect()
            };
            for i in order {
                if off_by > 0 {
                    scaled[i] -= 1;
                    off_by -= 1;
                } else {
                    scaled[i] += 1;
                    off_by += 1;
                }
                if off_by == 0 {
                    break;
                }
            }
        }
        scaled
            .into_iter()
            .map(|w| usize::try_from(w).unwrap_or(0))
            .collect()
    }

    fn total_width(&self, padding: usize, outer: usize) -> usize {
        let total: usize = self
            .column_widths(0, None)
            .iter()
            .map(|w| w + padding)
            .sum::<usize>()
            + 2
            + 2 * outer;
        total.max(width(&self.title) + 2 + 2 * outer)
    }
}

/// Display width. awscli counts East Asian wide characters twice; Lockbox's responses are
/// ASCII but for descriptions and tags, which are counted one column a character.
fn width(s: &str) -> usize {
    s.chars().count()
}

struct Tables {
    sections: Vec<Section>,
}

impl Tables {
    fn current(&mut self) -> &mut Section {
        if self.sections.is_empty() {
            self.sections.push(Section::default());
        }
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    fn new_section(&mut self, title: &str, indent: usize) {
        self.sections.push(Section {
            title: title.to_owned(),
            indent,
            ..Section::default()
        });
    }

    fn build(&mut self, title: Option<&str>, current: &Doc, indent: usize) -> bool {
        let empty = match current {
            Doc::Null => true,
            Doc::Bool(b) => !b,
            Doc::Number(n) => n.as_f64() == Some(0.0),
            Doc::String(s) => s.is_empty(),
            Doc::Array(a) => a.is_empty(),
            Doc::Object(m) => m.is_empty(),
        };
        if empty {
            return false;
        }
        if let Some(t) = title {
            self.new_section(t, indent);
        }
        match current {
            Doc::Array(items) => {
                if matches!(items.first(), Some(Doc::Object(_))) {
                    self.sub_table_from_list(items, indent, title);
                } else {
                    for item in items {
                        if item.is_scalar() {
                            self.current().add_row(vec![item.py_str()]);
                        } else if let Doc::Array(inner) = item {
                            if inner.iter().all(Doc::is_scalar) {
                                self.current()
                                    .add_row(inner.iter().map(Doc::py_str).collect());
                            } else {
                                self.build(None, item, 0);
                            }
                        } else {
                            self.build(None, item, 0);
                        }
                    }
                }
            }
            Doc::Object(_) => self.sub_table_from_dict(current, indent),
            // A bare scalar makes an empty section, as awscli's does.
            _ => {}
        }
        true
    }

    fn sub_table_from_dict(&mut self, current: &Doc, indent: usize) {
        let (headers, more) = group_keys(current);
        if headers.len() == 1 {
            let value = current
                .get(&headers[0])
                .map(Doc::py_str)
                .unwrap_or_default();
            self.current()
                .add_row(vec![Zeroizing::new(headers[0].clone()), value]);
        } else if !headers.is_empty() {
            let row = headers
                .iter()
                .map(|h| current.get(h).map(Doc::py_str).unwrap_or_default())
                .collect();
            self.current().add_header(headers);
            self.current().add_row(row);
        }
        for k in more {
            if let Some(v) = current.get(&k) {
                self.build(Some(&k), v, indent + 1);
            }
        }
    }

    fn sub_table_from_list(&mut self, items: &[Doc], indent: usize, title: Option<&str>) {
        let mut headers: Vec<String> = Vec::new();
        let mut more: Vec<String> = Vec::new();
        for item in items {
            let (h, m) = group_keys(item);
            for x in h {
                if !headers.contains(&x) {
                    headers.push(x);
                }
            }
            for x in m {
                if !more.contains(&x) {
                    more.push(x);
                }
            }
        }
        headers.sort();
        more.sort();
        self.current().add_header(headers.clone());
        for (i, item) in items.iter().enumerate() {
            if i > 0 && !more.is_empty() {
                self.new_section(title.unwrap_or(""), indent);
                self.current().add_header(headers.clone());
            }
            let row = headers
                .iter()
                .map(|h| item.get(h).map(Doc::py_str).unwrap_or_default())
                .collect();
            self.current().add_row(row);
            for k in &more {
                if let Some(v) = item.get(k) {
                    self.build(Some(k), v, indent + 1);
                }
            }
        }
    }
}

/// An object's keys: those with scalar values, and the others, each sorted.
fn group_keys(doc: &Doc) -> (Vec<String>, Vec<String>) {
    let mut headers = Vec::new();
    let mut more = Vec::new();
    if let Doc::Object(m) = doc {
        for (k, v) in m {
            if v.is_scalar() {
                headers.push(k.as_str().to_owned());
            } else {
                more.push(k.as_str().to_owned());
            }
        }
    }
    headers.sort();
    more.sort();
    (headers, more)
}

/// awscli's terminal width when standard output is not a terminal.
const TABLE_WIDTH: usize = 80;

fn table(doc: &Doc, operation: &str, out: &mut String) {
    let mut t = Tables {
        sections: Vec::new(),
    };
    if !t.build(Some(operation), doc, 0) {
        return;
    }
    let mut sections = t.sections;
    let max_width = |s: &[Section]| {
        s.iter()
            .map(|x| x.total_width(4, x.indent))
            .max()
            .unwrap_or(0)
    };
    let mut max = max_width(&sections);
    if max > TABLE_WIDTH {
        // Too wide: one-row sections become two-column (header, value) ones.
        for s in &mut sections {
            if s.rows.len() == 1 && !s.headers.is_empty() {
                let mut vertical = Section {
                    title: std::mem::take(&mut s.title),
                    indent: s.indent,
                    ..Section::default()
                };
                let headers = std::mem::take(&mut s.headers);
                let row = std::mem::take(&mut s.rows[0]);
                for (h, v) in headers.into_iter().zip(row) {
                    vertical.add_row(vec![Zeroizing::new(h), v]);
                }
                *s = vertical;
            }
        }
        max = max_width(&sections);
    }
    out.push_str(&"-".repeat(max));
    out.push('\n');
    for s in &sections {
        render_section(s, max, out);
    }
}

fn center(text: &str, length: usize, left: &str, right: &str) -> String {
    let tl = width(text);
    let start = (length / 2).saturating_sub(tl / 2).saturating_sub(1);
    let so_far = width(left) + start + tl;
    let right_spaces = length.saturating_sub(width(right)).saturating_sub(so_far);
    format!(
        "{left}{}{text}{}{right}",
        " ".repeat(start),
        " ".repeat(right_spaces)
    )
}

fn align_left(text: &str, length: usize, left: &str, right: &str) -> String {
    let tl = width(text);
    let computed = tl + 2 + width(left) + width(right);
    let padding = if length >= computed { 2 } else { 0 };
    let so_far = left.len() + padding + tl;
    format!(
        "{left}{}{text}{}{right}",
        " ".repeat(padding),
        " ".repeat(length.saturating_sub(so_far).saturating_sub(right.len()))
    )
}

/// Writes one line of a section, inside its indentation bars.
fn line(out: &mut String, indent: usize, text: &str) {
    out.push_str(&"|".repeat(indent));
    out.push_str(text);
    out.push_str(&"|".repeat(indent));
    out.push('\n');
}

fn line_break(widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, w) in widths.iter().enumerate() {
        if i == 0 {
            let _ = write!(s, "+{}+", "-".repeat(w.saturating_sub(2)));
        } else {
            let _ = write!(s, "{}+", "-".repeat(w.saturating_sub(1)));
        }
    }
    s
}

fn render_section(s: &Section, max_width: usize, out: &mut String) {
    let max = max_width.saturating_sub(s.indent * 2);
    if !s.title.is_empty() {
        line(out, s.indent, &center(&s.title, max, "|", "|"));
        if s.headers.is_empty() && s.rows.is_empty() {
            line(
                out,
                s.indent,
                &format!("+{}+", "-".repeat(max.saturating_sub(2))),
            );
        }
    }
    let widths = s.column_widths(4, Some(max));
    if !s.headers.is_empty() {
        let mut current = String::new();
        for (i, (w, h)) in widths.iter().zip(&s.headers).enumerate() {
            current.push_str(&center(h, *w, if i == 0 { "|" } else { "" }, "|"));
        }
        line(out, s.indent, &line_break(&widths));
        line(out, s.indent, &current);
    }
    if s.rows.is_empty() || widths.is_empty() {
        return;
    }
    line(out, s.indent, &line_break(&widths));
    for row in &s.rows {
        let mut current = Zeroizing::new(String::new());
        for (i, (w, x)) in widths.iter().zip(row).enumerate() {
            current.push_str(&align_left(x, *w, if i == 0 { "|" } else { "" }, "|"));
        }
        line(out, s.indent, &current);
    }
    line(out, s.indent, &line_break(&widths));
}

// ---- yaml: as AWS CLI v2 prints it (block style, members in response order) ----

fn yaml(doc: &Doc, out: &mut String) {
    match doc {
        Doc::Object(m) if !m.is_empty() => yaml_object(m, out, 0),
        Doc::Array(a) if !a.is_empty() => yaml_array(a, out, 0),
        Doc::Object(_) => out.push_str("{}\n"),
        Doc::Array(_) => out.push_str("[]\n"),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_object(m: &[(Zeroizing<String>, Doc)], out: &mut String, indent: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_str(k));
        out.push(':');
        yaml_value(v, out, indent, true);
    }
}

fn yaml_array(a: &[Doc], out: &mut String, indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Doc::Object(m) if !m.is_empty() => {
                // The first member on the dash's line, the others under it.
                out.push(' ');
                let mut first = true;
                for (k, x) in m {
                    if !first {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    first = false;
                    out.push_str(&yaml_str(k));
                    out.push(':');
                    yaml_value(x, out, indent + 2, true);
                }
            }
            other => yaml_value(other, out, indent, false),
        }
    }
}

/// The value after `key:` or `-`: a scalar on the same line, a collection below it (a
/// mapping's sequence at the mapping's indentation, as PyYAML and ruamel print it).
fn yaml_value(v: &Doc, out: &mut String, indent: usize, in_mapping: bool) {
    match v {
        Doc::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_object(m, out, indent + 2);
        }
        Doc::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_array(a, out, if in_mapping { indent } else { indent + 2 });
        }
        Doc::Object(_) => out.push_str(" {}\n"),
        Doc::Array(_) => out.push_str(" []\n"),
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &Doc) -> Zeroizing<String> {
    Zeroizing::new(match v {
        Doc::Null => "null".to_owned(),
        Doc::Bool(b) => b.to_string(),
        Doc::Number(n) => n.to_string(),
        Doc::String(s) => yaml_str(s),
        Doc::Array(_) | Doc::Object(_) => String::new(),
    })
}

/// A string plain when YAML reads it back as the same string, else single-quoted (double
/// quoted when it holds a control character).
fn yaml_str(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if yaml_plain_ok(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn yaml_plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let reserved = [
        "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
        "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
    ];
    if reserved.contains(&s) {
        return false;
    }
    // Anything that reads as a number (or a date) stays a string only quoted.
    let numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.:_eE".contains(c))
        && s.chars().any(|c| c.is_ascii_digit());
    // YAML reads `2026-01-02` and `2026-01-02T03:04:05...` as timestamps.
    let b = s.as_bytes();
    let date_like = b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5].is_ascii_digit();
    if numeric || date_like || s.starts_with(".inf") || s.starts_with(".nan") || s.starts_with("0x")
    {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') || s.contains(": ") || s.contains(" #") {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE: &str = r#"{"KeyMetadata": {"AWSAccountId": "111122223333", "KeyId": "k1", "Enabled": true, "Description": "", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": false}}"#;

    fn r(json: &str, q: Option<&str>, f: Format) -> String {
        render_with(json.as_bytes(), q, f, "DescribeKey")
            .ok()
            .unwrap()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn query_keeps_the_response_order() {
        assert_eq!(r(DESCRIBE, Some("KeyMetadata.KeyId"), Format::Text), "k1\n");
        assert_eq!(
            r(DESCRIBE, Some("KeyMetadata.KeyId"), Format::Json),
            "\"k1\"\n"
        );
        assert_eq!(
            r(
                DESCRIBE,
                Some("{Z: KeyMetadata.KeyId, A: KeyMetadata.Enabled}"),
                Format::Json
            ),
            "{\n    \"Z\": \"k1\",\n    \"A\": true\n}\n"
        );
        let out = r(DESCRIBE, Some("KeyMetadata"), Format::Json);
        assert!(
            out.starts_with("{\n    \"AWSAccountId\": \"111122223333\",\n    \"KeyId\""),
            "{out}"
        );
    }

    #[test]
    fn text_sorts_keys_and_prints_python_scalars() {
        assert_eq!(
            r(DESCRIBE, None, Format::Text),
            "KEYMETADATA\t111122223333\t\tTrue\tk1\tFalse\nENCRYPTIONALGORITHMS\tSYMMETRIC_DEFAULT\n"
        );
        assert_eq!(
            r(DESCRIBE, Some("KeyMetadata.Nope"), Format::Text),
            "None\n"
        );
    }

    #[test]
    fn debug_dumps_hide_secrets() {
        let body = br#"{"KeyId":"k","Plaintext":"ZGIgcGFzc3dvcmQ=","Nested":[{"PrivateKeyPlaintext":"AAAA","SharedSecret":"BB==","Signature":"CC=="}]}"#;
        assert_eq!(
            redacted(body),
            r#"{"KeyId":"k","Plaintext":"<redacted: 16 characters>","Nested":[{"PrivateKeyPlaintext":"<redacted: 4 characters>","SharedSecret":"<redacted: 4 characters>","Signature":"<redacted: 4 characters>"}]}"#
        );
        assert_eq!(redacted(b""), "(empty)");
        assert_eq!(redacted(b"<html>"), "(6 bytes, not JSON)");
    }

    #[test]
    fn bad_queries_are_parameter_errors() {
        let e = render_with(DESCRIBE.as_bytes(), Some("Keys["), Format::Json, "X")
            .err()
            .unwrap();
        assert_eq!(e.exit_code(), 252);
        assert!(e.to_string().contains("--query"), "{e}");
    }

    #[test]
    fn yaml_quotes_what_would_read_back_otherwise() {
        assert_eq!(
            r(DESCRIBE, None, Format::Yaml),
            "KeyMetadata:\n  AWSAccountId: '111122223333'\n  KeyId: k1\n  Enabled: true\n  Description: ''\n  EncryptionAlgorithms:\n  - SYMMETRIC_DEFAULT\n  MultiRegion: false\n"
        );
    }
}
