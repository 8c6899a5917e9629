//! Spreadsheet files at the edge of the system: reading an uploaded .xlsx safely, writing .xlsx, and
//! writing one sheet as CSV with a UTF-8 byte-order mark (so that Excel shows Chinese correctly).
//!
//! An upload is hostile until proven otherwise. Before calamine parses anything, the zip container is
//! checked here: the upload size, the number of entries, the sizes the central directory declares,
//! and then the real decompressed size of every entry (a zip bomb may lie in its directory), each
//! against a limit. Cells are read one at a time and counted, so a huge sheet is refused before it
//! fills memory. Everything is text: a cell is read as the string a person sees, and written as a
//! string, so that codes such as `01` survive a round trip.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use calamine::{DataRef, Reader, Xlsx};
use std::io::{Cursor, Read};
use thiserror::Error;

/// Limits applied to an uploaded workbook.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest upload accepted, in bytes.
    pub max_upload: usize,
    /// Most bytes all entries may decompress to together.
    pub max_uncompressed: u64,
    /// Most entries (files) in the zip container.
    pub max_entries: usize,
    /// Most non-empty cells over all sheets read.
    pub max_cells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A 5,000-service implementation list with its materials is about 2 MB as .xlsx and 20 MB
        // unpacked; these leave room for that and refuse anything far beyond.
        Self {
            max_upload: 16 * 1024 * 1024,
            max_uncompressed: 128 * 1024 * 1024,
            max_entries: 2_000,
            max_cells: 2_000_000,
        }
    }
}

/// Why a workbook could not be read or written. Each variant has a stable code and a 简体 message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WorkbookError {
    #[error("文件过大（{size} 字节），上限为 {limit} 字节")]
    TooLarge { size: usize, limit: usize },
    #[error("文件不是有效的 Excel 工作簿（.xlsx）")]
    NotAWorkbook,
    #[error("工作簿包含的文件过多（{count} 个），上限为 {limit} 个")]
    TooManyEntries { count: usize, limit: usize },
    #[error("工作簿解压后过大（超过 {limit} 字节），可能是压缩炸弹，已拒绝")]
    Unpacks { limit: u64 },
    #[error("工作簿的单元格过多（超过 {limit} 个），请拆分后再导入")]
    TooManyCells { limit: usize },
    #[error("工作簿中没有名为“{0}”的工作表")]
    MissingSheet(String),
    #[error("无法读取工作簿：{0}")]
    Unreadable(String),
    #[error("无法生成工作簿：{0}")]
    Write(String),
}

impl WorkbookError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "upload_too_large",
            Self::NotAWorkbook => "not_a_workbook",
            Self::TooManyEntries { .. } => "workbook_too_many_entries",
            Self::Unpacks { .. } => "workbook_unpacks_too_large",
            Self::TooManyCells { .. } => "workbook_too_many_cells",
            Self::MissingSheet(_) => "sheet_missing",
            Self::Unreadable(_) => "workbook_unreadable",
            Self::Write(_) => "workbook_write_failed",
        }
    }

    /// Whether the refusal is about size (HTTP 413) rather than content (422).
    pub fn is_size(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. } | Self::TooManyEntries { .. } | Self::Unpacks { .. } | Self::TooManyCells { .. }
        )
    }
}

/// One sheet as rows of text cells. Trailing empty cells and rows are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<String>>,
}

/// Checks the zip container against `limits` without trusting its directory: the declared sizes
/// first (cheap), then the real decompressed bytes of every entry, stopping as soon as the total
/// passes the limit.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<(), WorkbookError> {
    if bytes.len() > limits.max_upload {
        return Err(WorkbookError::TooLarge {
            size: bytes.len(),
            limit: limits.max_upload,
        });
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(WorkbookError::NotAWorkbook);
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| WorkbookError::NotAWorkbook)?;
    if zip.len() > limits.max_entries {
        return Err(WorkbookError::TooManyEntries {
            count: zip.len(),
            limit: limits.max_entries,
        });
    }
    let unpacks = WorkbookError::Unpacks {
        limit: limits.max_uncompressed,
    };
    let mut declared: u64 = 0;
    let mut has_workbook = false;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|_| WorkbookError::NotAWorkbook)?;
        has_workbook |= entry.name().is_ok_and(|n| n == "xl/workbook.xml");
        declared = declared.saturating_add(entry.size());
        if declared > limits.max_uncompressed {
            return Err(unpacks);
        }
    }
    if !has_workbook {
        return Err(WorkbookError::NotAWorkbook);
    }
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|_| WorkbookError::NotAWorkbook)?;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
            if n == 0 {
                break;
            }
            total = total.saturating_add(n as u64);
            if total > limits.max_uncompressed {
                return Err(unpacks);
            }
        }
    }
    Ok(())
}

/// Reads the named sheets of an uploaded workbook (after [`inspect`]), in the order asked. A sheet
/// that is absent is an error only if `required`.
pub fn read_xlsx(bytes: &[u8], wanted: &[(&str, bool)], limits: &Limits) -> Result<Vec<Sheet>, WorkbookError> {
    inspect(bytes, limits)?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    let names = book.sheet_names();
    let mut out = Vec::new();
    let mut cells_left = limits.max_cells;
    for (name, required) in wanted {
        if !names.iter().any(|n| n == name) {
            if *required {
                return Err(WorkbookError::MissingSheet((*name).to_owned()));
            }
            out.push(Sheet {
                name: (*name).to_owned(),
                rows: Vec::new(),
            });
            continue;
        }
        let mut reader = book
            .worksheet_cells_reader(name)
            .map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        while let Some(cell) = reader
            .next_cell()
            .map_err(|e| WorkbookError::Unreadable(e.to_string()))?
        {
            let text = cell_text(cell.get_value());
            if text.is_empty() {
                continue;
            }
            if cells_left == 0 {
                return Err(WorkbookError::TooManyCells {
                    limit: limits.max_cells,
                });
            }
            cells_left -= 1;
            let (r, c) = cell.get_position();
            let (r, c) = (r as usize, c as usize);
            // Positions come from the file: a lone cell at row 1,000,000 must not allocate a
            // million rows, so sparse far-away cells are bounded by the cell budget too.
            if r >= rows.len() {
                if r - rows.len() > cells_left.max(1) * 4 + 1_000 {
                    return Err(WorkbookError::TooManyCells {
                        limit: limits.max_cells,
                    });
                }
                rows.resize_with(r + 1, Vec::new);
            }
            if c > 16_384 {
                return Err(WorkbookError::Unreadable(format!("列号 {c} 超出 Excel 范围")));
            }
            let row = &mut rows[r];
            if c >= row.len() {
                row.resize(c + 1, String::new());
            }
            row[c] = text;
        }
        while rows.last().is_some_and(|r| r.iter().all(String::is_empty)) {
            rows.pop();
        }
        out.push(Sheet {
            name: (*name).to_owned(),
            rows,
        });
    }
    Ok(out)
}

/// The text a person sees in a cell. Whole numbers lose the `.0` Excel stores them with.
fn cell_text(v: &DataRef<'_>) -> String {
    match v {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.trim().to_owned(),
        DataRef::SharedString(s) => s.trim().to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        DataRef::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        DataRef::DateTime(d) => d.as_f64().to_string(),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

/// Writes sheets as an .xlsx workbook. Every cell is written as text, the first row bold and frozen.
pub fn write_xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, WorkbookError> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| WorkbookError::Write(e.to_string());
    let mut book = Workbook::new();
    let header = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    for sheet in sheets {
        let ws = book.add_worksheet();
        ws.set_name(&sheet.name).map_err(err)?;
        for (r, row) in sheet.rows.iter().enumerate() {
            let r = u32::try_from(r).map_err(|_| WorkbookError::Write("行数过多".into()))?;
            for (c, value) in row.iter().enumerate() {
                let c = u16::try_from(c).map_err(|_| WorkbookError::Write("列数过多".into()))?;
                if value.is_empty() {
                    continue;
                }
                let format = if r == 0 { &header } else { &text };
                ws.write_string_with_format(r, c, value, format).map_err(err)?;
            }
        }
        if !sheet.rows.is_empty() {
            ws.set_freeze_panes(1, 0).map_err(err)?;
        }
        if let Some(head) = sheet.rows.first() {
            for (c, h) in head.iter().enumerate() {
                let width = (h.chars().count() as f64 * 2.2 + 2.0).clamp(8.0, 40.0);
                let c = u16::try_from(c).map_err(|_| WorkbookError::Write("列数过多".into()))?;
                ws.set_column_width(c, width).map_err(err)?;
            }
        }
    }
    book.save_to_buffer().map_err(err)
}

/// One sheet as CSV (RFC 4180, CRLF line ends) beginning with a UTF-8 BOM, so that Excel opens the
/// Chinese text correctly. Fields that Excel would take for a formula are prefixed with `'`.
pub fn to_csv(sheet: &Sheet) -> Vec<u8> {
    let mut out = String::from("\u{FEFF}");
    for row in &sheet.rows {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn csv_field(f: &str) -> String {
    // CSV injection: a cell starting with = + - @ is run as a formula by spreadsheet programs.
    let guarded = if f.starts_with(['=', '+', '-', '@']) {
        format!("'{f}")
    } else {
        f.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sheet(name: &str, rows: &[&[&str]]) -> Sheet {
        Sheet {
            name: name.into(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        }
    }

    #[test]
    fn writes_and_reads_back_text_unchanged() {
        let a = sheet(
            "事项",
            &[
                &["事项名称", "基本编码", "承诺时限"],
                &["食品经营许可", "000172007000", "01"],
                &["x", "", "5"],
            ],
        );
        let b = sheet(
            "材料",
            &[&["基本编码", "材料名称"], &["000172007000", "营业执照（副本）"]],
        );
        let bytes = write_xlsx(&[a.clone(), b.clone()]).unwrap();
        let back = read_xlsx(&bytes, &[("事项", true), ("材料", true)], &Limits::default()).unwrap();
        assert_eq!(back, vec![a, b]);
        let missing = read_xlsx(&bytes, &[("其他", true)], &Limits::default()).unwrap_err();
        assert_eq!(missing.code(), "sheet_missing");
    }

    #[test]
    fn refuses_non_workbooks_and_oversize_uploads() {
        let limits = Limits::default();
        assert_eq!(inspect(b"hello", &limits), Err(WorkbookError::NotAWorkbook));
        assert_eq!(inspect(b"PK\x03\x04garbage", &limits), Err(WorkbookError::NotAWorkbook));
        let small = Limits {
            max_upload: 10,
            ..limits
        };
        assert_eq!(inspect(&[0u8; 11], &small).unwrap_err().code(), "upload_too_large");
        // A zip that is not an xlsx.
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            w.start_file("a.txt", zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(b"hi").unwrap();
            w.finish().unwrap();
        }
        assert_eq!(inspect(buf.get_ref(), &limits), Err(WorkbookError::NotAWorkbook));
    }

    #[test]
    fn csv_has_bom_quotes_and_guards_formulas() {
        let s = sheet("事项", &[&["名称", "说明"], &["a,b", "=1+1"], &["引号\"", "x"]]);
        let csv = to_csv(&s);
        assert!(csv.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8(csv).unwrap();
        assert!(text.contains("\"a,b\",'=1+1\r\n"));
        assert!(text.contains("\"引号\"\"\",x"));
    }

    #[test]
    fn too_many_cells_is_refused() {
        let rows: Vec<Vec<String>> = (0..50).map(|i| vec![i.to_string(), "x".into()]).collect();
        let bytes = write_xlsx(&[Sheet {
            name: "事项".into(),
            rows,
        }])
        .unwrap();
        let limits = Limits {
            max_cells: 20,
            ..Limits::default()
        };
        let e = read_xlsx(&bytes, &[("事项", true)], &limits).unwrap_err();
        assert_eq!(e.code(), "workbook_too_many_cells");
        assert!(e.is_size());
    }
}
