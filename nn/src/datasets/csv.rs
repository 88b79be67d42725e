//! Loading a numeric CSV file into a [`TensorDataset`].

use std::path::Path;

use wengert_autodiff::{Float, Tensor};

use super::error::LoadError;
use crate::data::{Targets, TensorDataset};

/// Which column holds the targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetColumn {
    /// The column with this header name (needs `has_header`).
    Name(String),
    /// The column at this 0-based index.
    Index(usize),
    /// The last column.
    Last,
}

/// How the target column is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// Class labels: non-negative integers -> [`Targets::Labels`].
    Class,
    /// Real values -> [`Targets::Values`] of shape `[n]`.
    Value,
}

/// CSV reading settings. Defaults: a header line, `,` as delimiter, the last column holds class
/// labels (the layout of the bundled `digits.csv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvConfig {
    /// Whether the first non-empty line is a header of column names. Default `true`.
    pub has_header: bool,
    /// Field delimiter. Default `,`.
    pub delimiter: char,
    /// The target column. Default [`TargetColumn::Last`].
    pub target: TargetColumn,
    /// How targets are read. Default [`TargetKind::Class`].
    pub kind: TargetKind,
}

impl Default for CsvConfig {
    fn default() -> Self {
        CsvConfig { has_header: true, delimiter: ',', target: TargetColumn::Last, kind: TargetKind::Class }
    }
}

/// Reads the CSV file at `path`: every column except the target becomes a feature (`[n, d]`).
/// Empty lines are skipped; fields are trimmed and one pair of surrounding double quotes is
/// removed (`"sepal length"`); quoted fields containing the delimiter are not supported
/// (numeric data only). A UTF-8 byte-order mark at the start is ignored.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read, otherwise as [`parse_csv`].
pub fn load_csv<T: Float>(path: impl AsRef<Path>, config: &CsvConfig) -> Result<TensorDataset<T>, LoadError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { file: file.clone(), source })?;
    parse_csv(&text, &file, config)
}

/// Parses CSV `text`; `source` names it in errors.
///
/// # Errors
/// [`LoadError::Parse`] (with 1-based line and column) for a non-numeric field or a label that
/// is not a non-negative integer, [`LoadError::RaggedRow`] for a row of the wrong width,
/// [`LoadError::NoSuchColumn`] for a target column that does not exist, [`LoadError::Empty`]
/// if there are no data rows.
pub fn parse_csv<T: Float>(text: &str, source: &str, config: &CsvConfig) -> Result<TensorDataset<T>, LoadError> {
    let file = source.to_string();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header: Option<Vec<String>> = if config.has_header {
        match lines.next() {
            Some((_, l)) => Some(l.split(config.delimiter).map(|s| unquote(s).to_string()).collect()),
            None => return Err(LoadError::Empty { file }),
        }
    } else {
        None
    };
    let mut width = header.as_ref().map(|h| h.len());
    let mut target_col: Option<usize> = None;
    let mut features: Vec<T> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    let mut values: Vec<T> = Vec::new();
    let mut rows = 0;
    for (ln, line) in lines {
        let fields: Vec<&str> = line.split(config.delimiter).map(unquote).collect();
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(LoadError::RaggedRow { file, line: ln + 1, expected: w, found: fields.len() });
        }
        let t = match target_col {
            Some(t) => t,
            None => *target_col.insert(resolve_target(&file, &config.target, header.as_deref(), w)?),
        };
        for (c, f) in fields.iter().enumerate() {
            let bad = || LoadError::Parse { file: file.clone(), line: ln + 1, column: c + 1, field: f.to_string() };
            if c == t {
                match config.kind {
                    TargetKind::Class => labels.push(f.parse::<usize>().map_err(|_| bad())?),
                    TargetKind::Value => values.push(T::from_f64(f.parse::<f64>().map_err(|_| bad())?)),
                }
            } else {
                features.push(T::from_f64(f.parse::<f64>().map_err(|_| bad())?));
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(LoadError::Empty { file });
    }
    let d = width.unwrap_or(1) - 1;
    let targets = match config.kind {
        TargetKind::Class => Targets::Labels(labels),
        TargetKind::Value => Targets::Values(Tensor::from_vec(values, &[rows])),
    };
    Ok(TensorDataset::new(Tensor::from_vec(features, &[rows, d]), targets))
}

/// The field trimmed, without one pair of surrounding double quotes.
fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"').and_then(|g| g.strip_suffix('"')).map_or(f, str::trim)
}

fn resolve_target(
    file: &str,
    target: &TargetColumn,
    header: Option<&[String]>,
    width: usize,
) -> Result<usize, LoadError> {
    let available = || match header {
        Some(h) => h.join(", "),
        None => format!("indices 0..{width}"),
    };
    let missing = |c: String| LoadError::NoSuchColumn { file: file.to_string(), column: c, available: available() };
    match target {
        TargetColumn::Last => Ok(width - 1),
        TargetColumn::Index(i) if *i < width => Ok(*i),
        TargetColumn::Index(i) => Err(missing(format!("index {i}"))),
        TargetColumn::Name(n) => {
            header.and_then(|h| h.iter().position(|c| c == n)).ok_or_else(|| missing(format!("{n:?}")))
        }
    }
}
