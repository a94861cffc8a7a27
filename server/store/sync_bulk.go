package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Bind-parameter ceilings per statement. Postgres counts parameters in an
// int16 (65,535); SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32,766. The
// bulk writers stay a little under both.
const (
	maxParamsPostgres = 65000
	maxParamsSQLite   = 32000
	maxRowsPerStmt    = 1000
)

// bulkStmt is a multi-row statement: head ends with "VALUES", tail (ON
// CONFLICT ..., RETURNING ...) follows the value tuples.
type bulkStmt struct {
	head string
	cols int
	tail string
}

// rowsPerStatement is how many rows of cols columns fit in one statement.
func (tx *Tx) rowsPerStatement(cols int) int {
	limit := maxParamsSQLite
	if tx.Dialect() == Postgres {
		limit = maxParamsPostgres
	}
	n := limit / cols
	if n > maxRowsPerStmt {
		n = maxRowsPerStmt
	}
	return n
}

// bulkExec writes rows with as few statements as the parameter ceiling
// allows and returns the number of rows the database reports as affected.
// It goes straight to the transaction's connection: for hundreds of rows the
// per-row work gorm does (reflection, callbacks) costs more than the insert.
func (tx *Tx) bulkExec(st bulkStmt, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	per := tx.rowsPerStatement(st.cols)
	var total int64
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		chunk := rows[start:end]
		q, args := tx.buildBulk(st, chunk)
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

func (tx *Tx) buildBulk(st bulkStmt, rows [][]any) (string, []any) {
	var b strings.Builder
	b.Grow(len(st.head) + len(st.tail) + len(rows)*st.cols*6)
	b.WriteString(st.head)
	args := make([]any, 0, len(rows)*st.cols)
	pg := tx.Dialect() == Postgres
	n := 0
	for i, r := range rows {
		if len(r) != st.cols {
			panic(fmt.Sprintf("bulk row has %d values, want %d", len(r), st.cols))
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			n++
			if pg {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
		args = append(args, r...)
	}
	b.WriteString(st.tail)
	return b.String(), args
}

// upsertStmt builds INSERT ... ON CONFLICT (branch_id, id) DO UPDATE for a
// versioned table. The update applies only when the stored version is the
// one the caller read (excluded.version - 1), so a row changed by someone
// else since it was read is left alone and shows up as a short row count.
func upsertStmt(table string, cols []string, update []string) bulkStmt {
	var set strings.Builder
	for i, c := range update {
		if i > 0 {
			set.WriteString(", ")
		}
		set.WriteString(c + " = excluded." + c)
	}
	return bulkStmt{
		head: "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ",
		cols: len(cols),
		tail: " ON CONFLICT (branch_id, id) DO UPDATE SET " + set.String() +
			" WHERE " + table + ".version = excluded.version - 1",
	}
}

func insertStmt(table string, cols []string) bulkStmt {
	return bulkStmt{head: "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ", cols: len(cols)}
}
