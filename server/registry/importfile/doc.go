// Package importfile reads the government monitoring list (防返贫监测对象名单)
// that county rural-revitalisation offices send to the bank, and turns it into
// normalised household rows plus a row-by-row problem report.
//
// It is pure: no database, no HTTP. Parse takes the uploaded bytes as CSV
// (UTF-8 with or without BOM, or GB18030/GBK as older Excel saves it) or XLSX,
// finds the header row among the first rows of the first sheet that has one,
// maps the column names different counties use onto the canonical ones, and
// validates every row: ID check digits, dates, phones, categories, duplicate
// household numbers and the damage Excel does to long numbers. A row with any
// problem is reported and left out, so that the layer above can show a
// preview and apply all clean rows or nothing.
//
// Input is bounded throughout: total bytes, rows, bytes per cell and columns
// per row are capped while streaming, so a hostile or broken upload costs
// at most MaxBytes of memory and a linear scan.
//
// WriteReportCSV and WriteReportXLSX render the problems for the user to
// download, in Chinese by default or English.
package importfile
