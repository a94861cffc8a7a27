package store

import (
	"database/sql"
	"fmt"
	"strings"
)

// Bulk writes shared by the import, the sync engine and the change log.

// exec runs a raw statement with ? placeholders on the transaction's
// connection, bypassing gorm's statement building for bulk work.
func (tx *Tx) exec(q string, args ...any) (sql.Result, error) {
	return tx.Statement.ConnPool.ExecContext(tx.Statement.Context, tx.db.rebind(q), args...)
}

// insertBatched writes n rows through bulkExec. cols name the columns with
// their SQL types ("line int", "id_number_enc bytea", ...); row fills the
// values of row i in cols order, nil for NULL.
func (tx *Tx) insertBatched(table string, cols []string, n int, row func(i int, vals []any)) error {
	if n == 0 {
		return nil
	}
	st := bulkStmt{table: table}
	for _, c := range cols {
		name, typ, _ := strings.Cut(c, " ")
		st.cols = append(st.cols, syncColumn{name: name, pgType: bulkType(typ)})
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = make([]any, len(cols))
		row(i, rows[i])
	}
	if _, err := tx.bulkExec(st, rows); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// bulkType maps an SQL column type to the array type bulkExec sends.
func bulkType(sqlType string) string {
	switch sqlType {
	case "int", "bigint":
		return "int8" // Postgres assigns int8 to an integer column
	case "boolean":
		return "bool"
	default: // text, jsonb, bytea, timestamptz
		return sqlType
	}
}

// chunks calls fn with successive slices of at most size ids.
func chunks(ids []string, size int, fn func(part []string) error) error {
	for start := 0; start < len(ids); start += size {
		if err := fn(ids[start:min(len(ids), start+size)]); err != nil {
			return err
		}
	}
	return nil
}
