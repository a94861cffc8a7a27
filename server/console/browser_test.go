package console_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// chromium finds Debian's chromium. Without it the browser test skips
// loudly, or fails when DOORSTEP_TEST_REQUIRE_BROWSER=1 (as in CI).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DOORSTEP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "\n!!! chromium is not installed: the console's browser test is NOT running.\n" +
		"!!! Install it (apt-get install -y chromium), or set DOORSTEP_TEST_REQUIRE_BROWSER=1 to make this fatal.\n"
	if os.Getenv("DOORSTEP_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	fmt.Fprint(os.Stderr, msg)
	t.Skip(msg)
	return ""
}

// artifacts is where screenshots and downloads are kept: under
// DOORSTEP_TEST_ARTIFACTS when set (CI keeps that directory), else in the
// test's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	base := os.Getenv("DOORSTEP_TEST_ARTIFACTS")
	if base == "" {
		base = t.TempDir()
	}
	dir := filepath.Join(base, "console", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console test artifacts (screenshots, downloads): %s", dir)
	return dir
}

// tab is one headless chromium tab and what the test needs around it.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	shot int

	mu      sync.Mutex
	console []string // security and error messages the browser logged
}

func newTab(t *testing.T, env *testenv.Env) *tab {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	// A guard against a wedged browser, not a timed assertion: every step
	// below waits for a condition.
	base, cancelBase := context.WithTimeout(context.Background(), 5*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
	})
	tb := &tab{t: t, ctx: ctx, base: env.URL, dir: artifacts(t)}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	if _, err := chromedp.Call(ctx, cdplog.Enable, struct{}{}); err != nil {
		t.Fatalf("enable the browser log: %v", err)
	}
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if e := ev.Entry; e != nil && (e.Level == cdplog.EntryLevelError || e.Source == cdplog.EntrySourceSecurity) {
				tb.mu.Lock()
				tb.console = append(tb.console, string(e.Source)+": "+e.Text+" "+e.URL)
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates and waits for the page to answer 200.
func (tb *tab) open(path string) {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.base+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != 200 {
		tb.t.Fatalf("open %s: status %d", path, resp.Status)
	}
}

// submit clicks a button that posts a form and waits for the page it leads
// to, which must answer 200.
func (tb *tab) submit(what, selector string) {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != 200 {
		tb.t.Fatalf("%s: the page after it answered %d", what, resp.Status)
	}
}

func (tb *tab) text(selector string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		tb.t.Fatalf("read %s: %v", selector, err)
	}
	return s
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	tb.shot++
	path := filepath.Join(tb.dir, fmt.Sprintf("%02d-%s.png", tb.shot, name))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// signIn fills the sign-in form as a person would.
func (tb *tab) signIn(username string) {
	tb.t.Helper()
	tb.open("/console/login")
	tb.do("fill the sign-in form",
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), testenv.Password),
	)
	tb.submit("sign in as "+username, "#login-submit")
	tb.do("wait for the console", chromedp.WaitVisible(chromedp.ID("me")))
}

func (tb *tab) securityMessages() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console...)
}

// TestBrowserSupervisorMonth is the supervisor's month end in a real
// browser: sign in, find the missing households, confirm one flagged visit
// and mark another "has issues", exempt what is left and sign the outlet
// off; then a branch manager closes the month and downloads its XLSX.
func TestBrowserSupervisorMonth(t *testing.T) {
	exe := chromium(t)
	_ = exe
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		loc := env.Config.Location()
		now := time.Now().In(loc)
		first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, loc)
		visitedAt := first.AddDate(0, 0, -3).UTC().Truncate(time.Microsecond) // in the month before this one
		month := visitedAt.In(loc).Format("2006-01")
		bk := newBankAt(t, env, visitedAt)

		tb := newTab(t, env)

		// 1. The supervisor signs in.
		tb.signIn(testenv.Supervisor1)
		if me := tb.text("#me"); !strings.Contains(me, "网点主管") {
			t.Fatalf("signed-in header shows %q", me)
		}
		tb.do("wait for the chart", chromedp.WaitVisible(chromedp.ID("coverage-chart")))
		tb.screenshot("overview")

		// 2. She finds the month's missing households.
		tb.open("/console/coverage?month=" + month)
		tb.do("wait for the ledger", chromedp.WaitVisible(chromedp.ID("ledger")))
		ledger := tb.text("#ledger")
		if !strings.Contains(ledger, bk.own3.No) || strings.Contains(ledger, bk.own1.No) {
			t.Fatalf("missing households: want %s and not %s in %q", bk.own3.No, bk.own1.No, ledger)
		}
		if blocked := tb.text("#signoff-blocked"); !strings.Contains(blocked, "1 户") {
			t.Fatalf("sign-off panel says %q", blocked)
		}
		tb.screenshot("coverage-missing")

		// 3. She confirms one flagged visit and marks another "has issues".
		tb.open("/console/reviews")
		tb.do("wait for the queue", chromedp.WaitVisible(chromedp.ID("visit-"+bk.visit1)))
		tb.screenshot("review-queue")
		tb.submit("confirm", "#confirm-"+bk.visit1)
		if f := tb.text("#flash"); !strings.Contains(f, "已确认") {
			t.Fatalf("after confirming: %q", f)
		}
		tb.do("say what is wrong",
			chromedp.SetValue(chromedp.ID("kind-"+bk.visit2), "revisit"),
			chromedp.SendKeys(chromedp.ID("reason-"+bk.visit2), "定位与户址相差太远，请重新走访"),
		)
		tb.submit("has issues", "#issues-"+bk.visit2)
		if f := tb.text("#flash"); !strings.Contains(f, "已标记为有问题") {
			t.Fatalf("after has-issues: %q", f)
		}
		if v := visitRow(t, env.DB, bk.visit1); v.Status != "confirmed" {
			t.Fatalf("visit 1 is %s", v.Status)
		}
		if v := visitRow(t, env.DB, bk.visit2); v.Status != "has_issues" {
			t.Fatalf("visit 2 is %s", v.Status)
		}

		// 4. She exempts the households still missing and signs the outlet off.
		tb.open("/console/coverage?month=" + month)
		for _, f := range []fixture{bk.own2, bk.own3} {
			tb.do("give a reason for "+f.No, chromedp.SendKeys(chromedp.ID("exempt-reason-"+f.ID), "户主长期外出务工，已电话联系"))
			tb.submit("exempt "+f.No, "#exempt-"+f.ID)
		}
		tb.do("wait for the sign-off form", chromedp.WaitVisible(chromedp.ID("signoff-form")))
		tb.screenshot("signoff-figures")
		tb.do("note", chromedp.SendKeys(chromedp.CSS("#signoff-form input[name=note]"), "一户不漏"))
		tb.submit("sign off", "#signoff-submit")
		if s := tb.text("#signoffs"); !strings.Contains(s, "当前有效") || !strings.Contains(s, "一户不漏") {
			t.Fatalf("sign-offs after signing: %q", s)
		}
		tb.screenshot("signed-off")
		var n int64
		env.DB.Gorm(context.Background()).Model(&store.CoverageSignoff{}).Where("month = ?", month).Count(&n)
		if n != 1 {
			t.Fatalf("%d sign-offs stored for %s", n, month)
		}

		// The layout holds on a tablet held upright.
		tb.do("tablet", chromedp.EmulateViewport(820, 1180, chromedp.EmulateMobile, chromedp.EmulateTouch))
		tb.open("/console/coverage?month=" + month)
		tb.screenshot("tablet-coverage")
		tb.do("laptop", chromedp.EmulateViewport(1280, 900))
		tb.submit("sign out", "#logout")

		// 5. A branch manager closes the month and downloads its XLSX.
		tb.signIn(testenv.Manager1)
		tb.open("/console/reports?month=" + month)
		tb.submit("close the month", "#close-month")
		if s := tb.text("#report-status"); !strings.Contains(s, "已关账") {
			t.Fatalf("report status after closing: %q", s)
		}
		tb.screenshot("reports")
		downloads := filepath.Join(tb.dir, "downloads")
		if err := os.MkdirAll(downloads, 0o755); err != nil {
			t.Fatal(err)
		}
		progress := chromedp.Events(tb.ctx, cdpbrowser.DownloadProgress)
		_, err := chromedp.Call(tb.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true),
		})
		if err != nil {
			t.Fatalf("allow downloads: %v", err)
		}
		tb.do("download the XLSX", chromedp.Click(chromedp.ID("file-"+month+"-1-xlsx-zh")))
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("waiting for the download: %v", err)
			}
			if ev.State == cdpbrowser.DownloadProgressStateCanceled {
				t.Fatal("the download was cancelled")
			}
			if ev.State == cdpbrowser.DownloadProgressStateCompleted {
				file = filepath.Join(downloads, ev.GUID)
				break
			}
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("downloaded file: %v", err)
		}
		xl, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the download is not an XLSX workbook: %v", err)
		}
		defer xl.Close()
		found := false
		for _, sheet := range xl.GetSheetList() {
			rows, _ := xl.GetRows(sheet)
			for _, r := range rows {
				found = found || strings.Contains(strings.Join(r, " "), "秀山中和网点")
			}
		}
		if !found {
			t.Fatalf("the workbook (sheets %v) does not mention the outlet", xl.GetSheetList())
		}
		if err := os.Rename(file, filepath.Join(downloads, "report-"+month+".xlsx")); err != nil {
			t.Fatal(err)
		}

		if msgs := tb.securityMessages(); len(msgs) > 0 {
			t.Fatalf("the browser reported problems (CSP or errors): %q", msgs)
		}
	})
}

func ptr[T any](v T) *T { return &v }
