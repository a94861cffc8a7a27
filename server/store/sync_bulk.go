package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Bulk writes for the sync engine. On Postgres a batch of rows is sent as
// one array per column and inserted with INSERT … SELECT FROM unnest(…): a
// handful of parameters whatever the number of rows, so binding and planning
// cost nothing per row. On SQLite the rows go as multi-row VALUES, as many
// per statement as SQLite's parameter ceiling (32,766) allows.

const (
	maxParamsSQLite = 32000
	maxRowsPerStmt  = 1000  // VALUES rows per statement (SQLite)
	maxRowsUnnest   = 20000 // rows per unnest statement (Postgres)
)

// syncColumn is one column of a bulk statement and its Postgres type.
type syncColumn struct {
	name   string
	pgType string // text, float8, timestamptz, bool, int8, int4, bytea, jsonb
}

// bulkStmt is INSERT INTO table (cols) … tail, where tail is empty or an ON
// CONFLICT clause.
type bulkStmt struct {
	table string
	cols  []syncColumn
	tail  string
}

func (st bulkStmt) names() []string {
	out := make([]string, len(st.cols))
	for i, c := range st.cols {
		out[i] = c.name
	}
	return out
}

// bulkExec writes rows and returns the number of rows the database reports
// as affected. It goes straight to the transaction's connection: for
// hundreds of rows the per-row work gorm does (reflection, callbacks) costs
// more than the insert.
func (tx *Tx) bulkExec(st bulkStmt, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	per := maxRowsUnnest
	if tx.Dialect() != Postgres {
		per = min(maxRowsPerStmt, maxParamsSQLite/len(st.cols))
	}
	var total int64
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var q string
		var args []any
		if tx.Dialect() == Postgres {
			q, args = buildUnnest(st, chunk)
		} else {
			q, args = buildValues(st, chunk)
		}
		res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, q, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func buildValues(st bulkStmt, rows [][]any) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO " + st.table + " (" + strings.Join(st.names(), ", ") + ") VALUES ")
	args := make([]any, 0, len(rows)*len(st.cols))
	for i, r := range rows {
		if len(r) != len(st.cols) {
			panic(fmt.Sprintf("bulk row has %d values, want %d", len(r), len(st.cols)))
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		b.WriteString(strings.Repeat("?,", len(r)-1))
		b.WriteString("?)")
		args = append(args, r...)
	}
	b.WriteString(st.tail)
	return b.String(), args
}

// buildUnnest transposes rows into one typed array per column. A column
// holding the same value in every row (the branch, the officer, the device,
// the receive time, a new row's version and review fields) goes as one
// scalar parameter instead: pgx encodes and Postgres decodes one value, not
// one per row.
func buildUnnest(st bulkStmt, rows [][]any) (string, []any) {
	var sel, from, aliases strings.Builder
	args := make([]any, 0, len(st.cols))
	for j, c := range st.cols {
		if j > 0 {
			sel.WriteString(", ")
		}
		arrType := c.pgType
		if arrType == "jsonb" {
			arrType = "text" // sent as text, cast per value below
		}
		if v, ok := sameInColumn(rows, j); ok {
			args = append(args, v)
			sel.WriteString("$" + strconv.Itoa(len(args)) + "::" + c.pgType)
			continue
		}
		args = append(args, columnArray(c.pgType, rows, j))
		n := strconv.Itoa(len(args))
		if from.Len() > 0 {
			from.WriteString(", ")
			aliases.WriteString(", ")
		}
		from.WriteString("$" + n + "::" + arrType + "[]")
		aliases.WriteString("c" + n)
		sel.WriteString("c" + n)
		if c.pgType == "jsonb" {
			sel.WriteString("::jsonb")
		}
	}
	if from.Len() == 0 { // every column constant: unnest still sets the row count
		args = append(args, make([]bool, len(rows)))
		from.WriteString("$" + strconv.Itoa(len(args)) + "::bool[]")
		aliases.WriteString("unused")
	}
	q := "INSERT INTO " + st.table + " (" + strings.Join(st.names(), ", ") + ") SELECT " + sel.String() +
		" FROM unnest(" + from.String() + ") AS u(" + aliases.String() + ")" + st.tail
	return q, args
}

// foldFrom is the fewest rows for which constant columns are folded. Each
// set of folded columns is its own statement text, prepared once per
// connection; for a few rows the arrays cost less than more statements.
const foldFrom = 32

// sameInColumn reports whether column j holds one value in every row, and
// that value, for the scalar types bulk rows carry (nil pointers count as
// one NULL).
func sameInColumn(rows [][]any, j int) (any, bool) {
	if len(rows) < foldFrom {
		return nil, false
	}
	first := rows[0][j]
	for _, r := range rows[1:] {
		if !sameValue(first, r[j]) {
			return nil, false
		}
	}
	return first, true
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case int:
		y, ok := b.(int)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *string:
		y, ok := b.(*string)
		return ok && (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *float64:
		y, ok := b.(*float64)
		return ok && (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *time.Time:
		y, ok := b.(*time.Time)
		return ok && (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
	}
	return false
}

// columnArray collects column j of rows into a slice pgx encodes as an
// array of the column's type, NULLs included. Nullable columns go as
// pgtype.FlatArray of pointers: pgx encodes those element by element
// without reflection, which for a plain []*string costs an allocation per
// value.
func columnArray(pgType string, rows [][]any, j int) any {
	switch pgType {
	case "text", "jsonb":
		out := make(pgtype.FlatArray[*string], len(rows))
		for i, r := range rows {
			switch v := r[j].(type) {
			case string:
				out[i] = &v
			case *string:
				out[i] = v
			case nil:
			default:
				panic(fmt.Sprintf("column %d: %T for %s", j, v, pgType))
			}
		}
		return out
	case "float8":
		out := make(pgtype.FlatArray[*float64], len(rows))
		for i, r := range rows {
			switch v := r[j].(type) {
			case float64:
				out[i] = &v
			case *float64:
				out[i] = v
			case nil:
			default:
				panic(fmt.Sprintf("column %d: %T for %s", j, v, pgType))
			}
		}
		return out
	case "timestamptz":
		out := make(pgtype.FlatArray[*time.Time], len(rows))
		for i, r := range rows {
			switch v := r[j].(type) {
			case time.Time:
				out[i] = &v
			case *time.Time:
				out[i] = v
			case nil:
			default:
				panic(fmt.Sprintf("column %d: %T for %s", j, v, pgType))
			}
		}
		return out
	case "bool":
		out := make([]bool, len(rows))
		for i, r := range rows {
			out[i], _ = r[j].(bool) // nil: false, as the columns are NOT NULL DEFAULT FALSE
		}
		return out
	case "int8":
		out := make([]int64, len(rows))
		for i, r := range rows {
			switch v := r[j].(type) {
			case int64:
				out[i] = v
			case int:
				out[i] = int64(v)
			default:
				panic(fmt.Sprintf("column %d: %T for %s", j, v, pgType))
			}
		}
		return out
	case "int4":
		out := make([]int32, len(rows))
		for i, r := range rows {
			out[i] = int32(r[j].(int))
		}
		return out
	case "bytea":
		out := make([][]byte, len(rows))
		for i, r := range rows {
			if b, ok := r[j].([]byte); ok {
				out[i] = b
			}
		}
		return out
	}
	panic("bulk column type " + pgType)
}

// syncCols parses "name type, name type, …".
func syncCols(spec string) []syncColumn {
	var out []syncColumn
	for _, part := range strings.Split(spec, ",") {
		f := strings.Fields(part)
		out = append(out, syncColumn{name: f[0], pgType: f[1]})
	}
	return out
}

// upsertStmt builds INSERT … ON CONFLICT (branch_id, id) DO UPDATE for a
// versioned table. The update applies only when the stored version is the
// one the caller read (excluded.version - 1), so a row changed by someone
// else since it was read is left alone and shows up as a short row count.
func upsertStmt(table string, cs []syncColumn, update []string) bulkStmt {
	var set strings.Builder
	for i, c := range update {
		if i > 0 {
			set.WriteString(", ")
		}
		set.WriteString(c + " = excluded." + c)
	}
	return bulkStmt{table: table, cols: cs,
		tail: " ON CONFLICT (branch_id, id) DO UPDATE SET " + set.String() + " WHERE " + table + ".version = excluded.version - 1"}
}

func insertStmt(table string, cs []syncColumn) bulkStmt { return bulkStmt{table: table, cols: cs} }
