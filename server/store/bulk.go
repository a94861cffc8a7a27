package store

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Bulk writes shared by the import, the sync engine and the change log.

// exec runs a raw statement with ? placeholders on the transaction's
// connection, bypassing gorm's statement building for bulk work.
func (tx *Tx) exec(q string, args ...any) (sql.Result, error) {
	return tx.Statement.ConnPool.ExecContext(tx.Statement.Context, tx.db.rebind(q), args...)
}

// insertBatched writes n rows. cols name the columns with their SQL types
// ("line int", "id_number_enc bytea", ...); row fills the values of row i in
// cols order, nil for NULL. On Postgres the rows travel as one typed array
// per column through unnest, 20,000 rows a statement, which binds and plans
// far faster than long VALUES lists; on SQLite they go in multi-row INSERT
// statements under its bind-parameter limit.
func (tx *Tx) insertBatched(table string, cols []string, n int, row func(i int, vals []any)) error {
	if n == 0 {
		return nil
	}
	names, types := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], types[i], _ = strings.Cut(c, " ")
	}
	if tx.db.dialect == Postgres {
		return tx.insertUnnest(table, names, types, n, row)
	}
	per := max(1, tx.db.paramBudget()/len(cols))
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES "
	vals := make([]any, len(cols))
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		var b strings.Builder
		b.Grow(len(head) + (end-start)*(len(one)+1))
		b.WriteString(head)
		args := make([]any, 0, (end-start)*len(cols))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(one)
			row(i, vals)
			args = append(args, vals...)
		}
		if _, err := tx.exec(b.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

const unnestRows = 20000

func (tx *Tx) insertUnnest(table string, names, types []string, n int, row func(i int, vals []any)) error {
	casts := make([]string, len(names))
	for i, t := range types {
		casts[i] = fmt.Sprintf("CAST(? AS %s[])", t)
	}
	q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") SELECT * FROM unnest(" + strings.Join(casts, ", ") + ")"
	vals := make([]any, len(names))
	for start := 0; start < n; start += unnestRows {
		end := min(n, start+unnestRows)
		cols := make([]any, len(names))
		for c, t := range types {
			switch t {
			case "text", "jsonb":
				cols[c] = make([]*string, 0, end-start)
			case "int", "bigint":
				cols[c] = make([]*int64, 0, end-start)
			case "boolean":
				cols[c] = make([]bool, 0, end-start)
			case "bytea":
				cols[c] = make([][]byte, 0, end-start)
			case "timestamptz":
				cols[c] = make([]*time.Time, 0, end-start)
			default:
				return fmt.Errorf("insert into %s: column type %q", table, t)
			}
		}
		for i := start; i < end; i++ {
			clear(vals)
			row(i, vals)
			for c, v := range vals {
				switch col := cols[c].(type) {
				case []*string:
					var p *string
					switch x := v.(type) {
					case string:
						p = &x
					case *string:
						p = x
					}
					cols[c] = append(col, p)
				case []*int64:
					var p *int64
					switch x := v.(type) {
					case int:
						y := int64(x)
						p = &y
					case int64:
						p = &x
					}
					cols[c] = append(col, p)
				case []bool:
					b, _ := v.(bool)
					cols[c] = append(col, b)
				case [][]byte:
					b, _ := v.([]byte)
					cols[c] = append(col, b)
				case []*time.Time:
					var p *time.Time
					if x, ok := v.(time.Time); ok {
						p = &x
					}
					cols[c] = append(col, p)
				}
			}
		}
		if _, err := tx.exec(q, cols...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
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
