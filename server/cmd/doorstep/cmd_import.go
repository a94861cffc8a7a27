package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
)

func runImport(ctx context.Context, env *cmdEnv, args []string) error {
	return subcommands(ctx, env, "import", args, map[string]command{
		"households": {"import the government monitoring list (dry run unless --commit)", importHouseholds},
		"rekey":      {"re-seal stored ID and phone numbers under the newest key and rebuild their indexes", importRekey},
	})
}

// importRekey re-seals the stored personal numbers after a key rotation: put
// the new data key first in the secrets file, run this, then drop the old
// key. It also rebuilds the blind indexes after a blind-index key change.
func importRekey(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, rest, err := dbFlags(env, "import rekey", "import rekey [flags]", args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("import rekey: unexpected arguments %q", rest)
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	sec, _, err := secrets.LoadOrCreate(cfg.SecretsFile)
	if err != nil {
		return err
	}
	svc := registry.New(db, sec, registry.Options{})
	op := store.Actor{Role: store.RoleAdmin, Username: "operator", RequestID: "cli-rekey"}
	res, err := svc.Rekey(ctx, op, func(done int) { fmt.Fprintf(env.stderr, "\r%d households", done) })
	fmt.Fprintln(env.stderr)
	if err != nil {
		return fmt.Errorf("import rekey: %w (the batches before this one are done; run it again)", err)
	}
	fmt.Fprintf(env.stdout, "Re-sealed %d of %d households under key %s; discarded %d pending previews.\n",
		res.Resealed, res.Households, sec.DataKeys[0].ID, res.Previews)
	return nil
}

// progressFrom is the file size from which a progress bar is drawn.
const progressFrom = 1 << 20

func importHouseholds(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "import households", "import households FILE [--branch CODE] [--report OUT.csv|OUT.xlsx] [--commit] [--lang en] [flags]")
	var cfg config.Config
	cfg.Register(fs)
	branch := fs.String("branch", "", "code of the branch whose list this is (needed when there are several branches)")
	report := fs.String("report", "", "write the row-level problems to this file: row,column,code,message (.csv, or .xlsx)")
	commit := fs.Bool("commit", false, "apply the file; without it nothing is written (dry run)")
	lang := fs.String("lang", "zh", "language of the summary and the report: zh or en")
	// Flags may come before or after FILE.
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 0 {
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1], fs.Args()...)
	}
	if len(rest) != 1 {
		fs.Usage()
		return errors.New("import households: name exactly one FILE")
	}
	if err := cfg.Finish(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	en := strings.HasPrefix(strings.ToLower(*lang), "en")
	path := rest[0]
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import households: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import households: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("import households: %s is a directory", path)
	}

	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	sec, _, err := secrets.LoadOrCreate(cfg.SecretsFile)
	if err != nil {
		return err
	}
	svc := registry.New(db, sec, registry.Options{})
	// The command line acts with an administrator's reach, as the operator.
	op := store.Actor{Role: store.RoleAdmin, Username: "operator", RequestID: "cli-import"}

	var bar *progressBar
	in := registry.ImportInput{Branch: *branch, FileName: filepath.Base(path), Data: f}
	if fi.Size() >= progressFrom {
		bar = newProgressBar(env.stderr, fi.Size(), en)
		in.Data = bar.reader(f)
		in.Progress = bar.phase
		defer bar.stop()
	}
	d, err := svc.Compute(ctx, op, in)
	if err != nil {
		bar.stop()
		return cliError(err, en)
	}
	if *report != "" {
		if err := writeReport(*report, d.Problems, *lang); err != nil {
			bar.stop()
			return err
		}
	}
	var (
		p       registry.Preview
		applied bool
	)
	if *commit && d.Committable() && d.HasChanges() {
		bar.phase("commit", 0, 0)
		p, applied, err = svc.Apply(ctx, op, d)
		if err != nil {
			bar.stop()
			return cliError(err, en)
		}
	}
	bar.stop()
	printSummary(env.stdout, d, en)
	if *report != "" {
		fmt.Fprintf(env.stdout, "%s %s\n", t(en, "问题报告已写入", "Problem report written to"), *report)
	}
	switch {
	case !*commit:
		if d.Committable() {
			fmt.Fprintln(env.stdout, t(en, "这是预览，没有写入任何数据。确认无误后加 --commit 导入。", "This was a dry run; nothing was written. Add --commit to apply the file."))
		} else {
			fmt.Fprintln(env.stdout, t(en, "文件有错误，不能导入；用 --report 导出错误报告，修正后重新运行。", "The file has errors and cannot be applied; export them with --report, fix the file and run again."))
		}
	case !d.Committable():
		return errors.New(t(en,
			fmt.Sprintf("文件有 %d 处错误，整份文件没有导入（一个文件要么全部导入，要么都不导入）；用 --report 导出错误报告", d.Summary.Errors),
			fmt.Sprintf("the file has %d errors; nothing was imported (a file is applied whole or not at all); export them with --report", d.Summary.Errors)))
	case !applied:
		fmt.Fprintln(env.stdout, t(en, "名单与当前版本相同，没有任何改动。", "The list is the same as the current one; nothing changed."))
	default:
		fmt.Fprintf(env.stdout, "%s %d\n", t(en, "已导入，名单版本", "Applied; list version"), p.Version)
	}
	return nil
}

func t(en bool, zh, english string) string {
	if en {
		return english
	}
	return zh
}

func cliError(err error, en bool) error {
	if e, ok := apperr.As(err); ok {
		msg := e.Message
		if en || msg == "" {
			msg = e.MessageEN
		}
		if b, ok := e.Details["branches"]; ok {
			msg += fmt.Sprintf(" (--branch: %v)", b)
		}
		return errors.New(msg)
	}
	return err
}

func writeReport(path string, problems []importfile.Problem, lang string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if strings.HasSuffix(strings.ToLower(path), ".xlsx") {
		err = importfile.WriteReportXLSX(f, problems, lang)
	} else {
		err = importfile.WriteReportCSV(f, problems, lang)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func printSummary(w io.Writer, d *registry.DryRun, en bool) {
	s := d.Summary
	fmt.Fprintf(w, "%s %s (%s, %s), %d %s\n", t(en, "文件", "File"), d.FileName(), s.Format, s.Encoding, s.DataRows, t(en, "行数据", "data rows"))
	fmt.Fprintf(w, "%s %s (%s), %s %d\n", t(en, "分行", "Branch"), d.Branch.Name, d.Branch.Code, t(en, "当前名单版本", "current list version"), s.BaseVersion)
	lines := []struct {
		zh, en string
		n      int
	}{
		{"新增", "new", s.New}, {"信息变更", "changed", s.Changed}, {"风险消除", "risk eliminated", s.RiskEliminated},
		{"重新纳入", "back on the list", s.Returned}, {"移出名单", "gone from the list", s.Removed}, {"无变化", "unchanged", s.Unchanged},
		{"未匹配网点（先归县支行）", "no outlet for the village (kept at the county)", s.NoOutlet},
		{"错误", "errors", s.Errors}, {"警告", "warnings", s.Warnings},
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %s: %d\n", t(en, l.zh, l.en), l.n)
	}
	if s.OtherCountyRows > 0 {
		counties := make([]string, 0, len(s.OtherCounties))
		for c, n := range s.OtherCounties {
			counties = append(counties, fmt.Sprintf("%s %d", c, n))
		}
		sort.Strings(counties)
		fmt.Fprintf(w, "  %s: %d (%s)\n", t(en, "非本分行服务县的行（未导入）", "rows of counties not served (skipped)"), s.OtherCountyRows, strings.Join(counties, ", "))
		if s.OtherCountyErrors > 0 {
			fmt.Fprintf(w, "  %s: %d\n", t(en, "其中有问题的（仅提示，不影响导入）", "of which with problems (reported, not blocking)"), s.OtherCountyErrors)
		}
	}
	shown := 0
	for i, p := range d.Problems {
		if shown == 10 {
			fmt.Fprintf(w, "  … %s\n", t(en, "更多问题见 --report", "more in the --report file"))
			break
		}
		if d.IsWarning(i) {
			continue
		}
		msg := p.Message
		if en {
			msg = p.MessageEN
		}
		fmt.Fprintf(w, "  %s: %s\n", t(en, fmt.Sprintf("第 %d 行", p.Line), fmt.Sprintf("row %d", p.Line)), msg)
		shown++
	}
}

// progressBar draws how much of the file has been read, then the phase the
// import is in, on one terminal line.
type progressBar struct {
	w     io.Writer
	size  int64
	read  atomic.Int64
	en    bool
	mu    sync.Mutex
	label string
	done  chan struct{}
	once  sync.Once
}

func newProgressBar(w io.Writer, size int64, en bool) *progressBar {
	b := &progressBar{w: w, size: size, en: en, label: t(en, "读取", "reading"), done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-b.done:
				return
			case <-tick.C:
				b.draw()
			}
		}
	}()
	return b
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (b *progressBar) reader(r io.Reader) io.Reader { return countingReader{r, &b.read} }

func (b *progressBar) phase(name string, done, total int) {
	if b == nil {
		return
	}
	labels := map[string][2]string{
		"read": {"读取", "reading"}, "compare": {"比对", "comparing"}, "save": {"保存预览", "saving"}, "commit": {"导入", "applying"},
	}
	l, ok := labels[name]
	if !ok {
		return
	}
	b.mu.Lock()
	b.label = t(b.en, l[0], l[1])
	b.mu.Unlock()
}

func (b *progressBar) draw() {
	b.mu.Lock()
	label := b.label
	b.mu.Unlock()
	frac := float64(b.read.Load()) / float64(b.size)
	frac = min(1, frac)
	const width = 30
	filled := int(frac * width)
	fmt.Fprintf(b.w, "\r%-8s [%s%s] %3.0f%% %5.1f/%.1f MB", label, strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		frac*100, float64(b.read.Load())/(1<<20), float64(b.size)/(1<<20))
}

func (b *progressBar) stop() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		close(b.done)
		b.draw()
		fmt.Fprintln(b.w)
	})
}
