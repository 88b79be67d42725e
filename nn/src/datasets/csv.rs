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

/// Labels of [`TargetKind::Class`] must be below this unless [`CsvConfig::max_classes`] says otherwise: far more
/// than any classification data set has (ImageNet-21k has 21,841 classes), small enough that a stray large
/// number in the label column is an error at load rather than a huge allocation in
/// [`TensorDataset::class_counts`] later.
pub const DEFAULT_MAX_CLASSES: usize = 1 << 20;

/// CSV reading settings. Defaults: a header line, `,` as delimiter, the last column holds class
/// labels (the layout of the bundled `digits.csv`), labels below [`DEFAULT_MAX_CLASSES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvConfig {
    /// Whether the first non-empty line is a header of column names. Default `true`.
    pub has_header: bool,
    /// Field delimiter, an ASCII character. Default `,`.
    pub delimiter: char,
    /// The target column. Default [`TargetColumn::Last`].
    pub target: TargetColumn,
    /// How targets are read. Default [`TargetKind::Class`].
    pub kind: TargetKind,
    /// Class labels must be `< max_classes`. Default [`DEFAULT_MAX_CLASSES`].
    pub max_classes: usize,
}

impl Default for CsvConfig {
    fn default() -> Self {
        CsvConfig {
            has_header: true,
            delimiter: ',',
            target: TargetColumn::Last,
            kind: TargetKind::Class,
            max_classes: DEFAULT_MAX_CLASSES,
        }
    }
}

/// Reads the CSV file at `path`: every column except the target becomes a feature (`[n, d]`).
/// Parsed by the [`csv`](https://docs.rs/csv) crate (RFC 4180): quoted fields may contain the delimiter,
/// quotes (`""`) and line breaks. Empty lines are skipped, fields are trimmed, a UTF-8 byte-order mark at
/// the start is ignored.
///
/// # Errors
/// [`LoadError::Io`] if the file cannot be read, otherwise as [`parse_csv`].
pub fn load_csv<T: Float>(path: impl AsRef<Path>, config: &CsvConfig) -> Result<TensorDataset<T>, LoadError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { file: file.clone(), source })?;
    parse_csv(&text, &file, config)
}

/// Parses CSV `text` (as [`load_csv`]); `source` names it in errors.
///
/// # Errors
/// [`LoadError::Parse`] (with 1-based line and column) for a field that is not a number,
/// [`LoadError::InvalidLabel`] for a class label that is negative, fractional or `>= max_classes`,
/// [`LoadError::RaggedRow`] for a row of the wrong width, [`LoadError::NoSuchColumn`] for a target column
/// that does not exist, [`LoadError::Empty`] if there are no data rows, [`LoadError::Unsupported`] for a
/// delimiter that is not ASCII or malformed quoting.
pub fn parse_csv<T: Float>(text: &str, source: &str, config: &CsvConfig) -> Result<TensorDataset<T>, LoadError> {
    let file = source.to_string();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delimiter = u8::try_from(config.delimiter).ok().filter(u8::is_ascii).ok_or_else(|| LoadError::Unsupported {
        file: file.clone(),
        what: format!("delimiter {:?} is not an ASCII character", config.delimiter),
    })?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut records = reader.records().filter(|r| r.as_ref().map_or(true, |r| !r.iter().all(str::is_empty)));
    let header: Option<Vec<String>> = if config.has_header {
        match records.next() {
            Some(r) => Some(record(r, &file)?.iter().map(|f| unquote(f).to_string()).collect()),
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
    for r in records {
        let rec = record(r, &file)?;
        let ln = rec.position().map_or(0, |p| p.line() as usize);
        let fields: Vec<&str> = rec.iter().map(unquote).collect();
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(LoadError::RaggedRow { file, line: ln, expected: w, found: fields.len() });
        }
        let t = match target_col {
            Some(t) => t,
            None => *target_col.insert(resolve_target(&file, &config.target, header.as_deref(), w)?),
        };
        for (c, f) in fields.iter().enumerate() {
            let bad = || LoadError::Parse { file: file.clone(), line: ln, column: c + 1, field: f.to_string() };
            if c == t {
                match config.kind {
                    TargetKind::Class => labels.push(label(f, config.max_classes).map_err(|reason| match reason {
                        None => bad(),
                        Some(reason) => LoadError::InvalidLabel {
                            file: file.clone(),
                            line: ln,
                            column: c + 1,
                            field: f.to_string(),
                            reason,
                        },
                    })?),
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

/// One pair of double quotes left around a field that did not start with one (`a, "b"`: the csv crate only
/// unquotes a field whose first character is the quote), trimmed again.
fn unquote(field: &str) -> &str {
    field.strip_prefix('"').and_then(|g| g.strip_suffix('"')).map_or(field, str::trim)
}

fn record(r: Result<::csv::StringRecord, ::csv::Error>, file: &str) -> Result<::csv::StringRecord, LoadError> {
    r.map_err(|e| LoadError::Unsupported { file: file.to_string(), what: e.to_string() })
}

/// A class label: a non-negative integer below `max_classes` (`2` or `2.0`, as pandas writes integer columns
/// holding a missing value). `Err(None)` if `f` is not a number at all, `Err(Some(reason))` if it is a number
/// but not a valid label.
fn label(f: &str, max_classes: usize) -> Result<usize, Option<String>> {
    let too_big = || Some(format!("labels must be below max_classes = {max_classes} (CsvConfig::max_classes)"));
    if let Ok(l) = f.parse::<usize>() {
        return if l < max_classes { Ok(l) } else { Err(too_big()) };
    }
    match f.parse::<f64>() {
        Ok(x) if x < 0.0 => Err(Some("negative labels are not allowed (labels are 0, 1, 2, ...)".into())),
        Ok(x) if x.fract() == 0.0 && x < max_classes as f64 => Ok(x as usize),
        Ok(x) if x.fract() == 0.0 || x.is_infinite() => Err(too_big()),
        Ok(_) => Err(Some("labels must be non-negative integers (use TargetKind::Value for real targets)".into())),
        Err(_) => Err(None),
    }
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
