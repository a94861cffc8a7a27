package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

func TestDeviceHelp(t *testing.T) {
	for _, args := range [][]string{
		{"device", "--help"}, {"device"}, {"device", "login", "--help"}, {"device", "households", "--help"},
		{"device", "visit", "--help"}, {"device", "observe", "--help"}, {"device", "need", "--help"},
		{"device", "loan", "--help"}, {"device", "pending", "--help"}, {"device", "rejections", "--help"},
		{"device", "sync", "--help"}, {"device", "status", "--help"}, {"device", "logout", "--help"},
		{"sim", "--help"},
	} {
		out, _, err := runCmd(t, "", args...)
		if err != nil && !errors.Is(err, flag.ErrHelp) && !(len(args) == 1 && strings.Contains(err.Error(), "no subcommand")) {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out, "Usage: doorstep") {
			t.Errorf("%v printed no usage:\n%s", args, out)
		}
	}
	out, _, _ := runCmd(t, "", "device", "--help")
	for _, sub := range []string{"login", "households", "visit", "need", "loan", "pending", "sync"} {
		if !strings.Contains(out, "  "+sub) {
			t.Errorf("device --help does not list %s", sub)
		}
	}
	if _, _, err := runCmd(t, "", "device", "--home", t.TempDir(), "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown subcommand") {
		t.Errorf("unknown subcommand: %v", err)
	}
}

func TestParseYuan(t *testing.T) {
	good := map[string]int64{"0": 0, "1": 100, "10000": 1_000_000, "50000": 5_000_000, "12.5": 1250, "12.05": 1205, " 7 ": 700}
	for in, want := range good {
		got, err := parseYuan(in)
		if err != nil || got != want {
			t.Errorf("parseYuan(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.234", "1.", ".5", "1e3", "abc", "1,000", "99999999999999999999"} {
		if _, err := parseYuan(in); err == nil {
			t.Errorf("parseYuan(%q) accepted", in)
		}
	}
}

// The newcomer's walk: sign in, sync, record visits while the server is
// stopped, start it again, sync.
func TestDeviceOfflineThenSync(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		env := testenv.New(t, db, noReportSchedule)
		if _, err := db.CreateSimHouseholds(ctx, testenv.Officer1, "CLI", 3); err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(t.TempDir(), "phone")
		dev := func(stdin string, args ...string) (string, error) {
			t.Helper()
			start := time.Now()
			out, errOut, err := runCmd(t, stdin, append([]string{"device", "--home", home}, args...)...)
			t.Logf("device %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
			return out + errOut, err
		}
		if out, err := dev("", "visit", "--household", "CLI-0001", "--outcome", "visited"); err == nil {
			t.Fatalf("visit before any sync succeeded: %s", out)
		}
		if out, err := dev("wrong-password\n", "login", "--server", env.URL, "--user", testenv.Officer1); err == nil {
			t.Fatalf("login with a wrong password succeeded: %s", out)
		}
		out, err := dev(testenv.Password+"\n", "login", "--server", env.URL, "--user", testenv.Officer1)
		if err != nil || !strings.Contains(out, "officer1") {
			t.Fatalf("login: %v\n%s", err, out)
		}
		if strings.Contains(out, testenv.Password) {
			t.Fatal("login printed the password")
		}
		if out, err = dev("", "sync"); err != nil || !strings.Contains(out, "同步完成") {
			t.Fatalf("first sync: %v\n%s", err, out)
		}
		out, err = dev("", "households")
		if err != nil || !strings.Contains(out, "CLI-0001") || !strings.Contains(out, "共 3 户") {
			t.Fatalf("households: %v\n%s", err, out)
		}

		// The server stops.
		addr := env.Server.Listener.Addr().String()
		env.Server.Close()
		out, err = dev("", "visit", "--household", "CLI-0001", "--outcome", "visited", "--lat", "28.45", "--lng", "108.99",
			"--accuracy", "8", "--notes", "家中养猪 20 头", "--situation", "稳定")
		if err != nil || !strings.Contains(out, "已保存在本机") {
			t.Fatalf("offline visit: %v\n%s", err, out)
		}
		if out, err = dev("", "need", "--household", "CLI-0002", "--purpose", "购买仔猪", "--amount-yuan", "10000"); err != nil {
			t.Fatalf("offline need: %v\n%s", err, out)
		}
		if out, err = dev("", "loan", "--household", "CLI-0002", "--amount-yuan", "30000", "--term-months", "24", "--product", "FPXD", "--submit"); err != nil {
			t.Fatalf("offline loan: %v\n%s", err, out)
		}
		if out, err = dev("", "loan", "--household", "CLI-0002", "--amount-yuan", "60000", "--term-months", "24", "--product", "FPXD"); err == nil ||
			!strings.Contains(err.Error(), "上限") {
			t.Fatalf("a loan beyond the product limit was accepted offline: %v\n%s", err, out)
		}
		if out, err = dev("", "visit", "--household", "CLI-0003", "--outcome", "partied"); err == nil {
			t.Fatalf("a bad outcome was accepted: %s", out)
		}
		out, err = dev("", "pending")
		if err != nil || !strings.Contains(out, "共 4 条待上传") {
			t.Fatalf("pending: %v\n%s", err, out)
		}
		out, err = dev("", "sync")
		if err == nil || !strings.Contains(err.Error(), "仍保存在本机") {
			t.Fatalf("sync with the server down: %v\n%s", err, out)
		}

		// The server comes back on the same address.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s again: %v", addr, err)
		}
		a, err := app.Build(env.Config, db, env.Secrets, env.App.Log)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(a.HTTP.Handler())
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		defer srv.Close()
		out, err = dev("", "--lang", "en", "sync", "--digest")
		if err != nil {
			t.Fatalf("sync after restart: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`Pushed 4: \d+ accepted, \d+ merged, 0 rejected`).MatchString(out) || !strings.Contains(out, "in step with the server") {
			t.Fatalf("sync summary:\n%s", out)
		}
		if n := countVisits(t, db); n != 1 {
			t.Fatalf("server holds %d visits, want 1", n)
		}
		out, err = dev("", "pending")
		if err != nil || !strings.Contains(out, "没有待上传的修改") {
			t.Fatalf("pending after sync: %v\n%s", err, out)
		}
		out, err = dev("", "--lang", "en", "status")
		if err != nil || !strings.Contains(out, "officer1") || !regexp.MustCompile(`Pending:\s+0\n`).MatchString(out) {
			t.Fatalf("status: %v\n%s", err, out)
		}
		if out, err = dev("", "logout"); err != nil || strings.Contains(out, "未能通知服务器") {
			t.Fatalf("logout: %v\n%s", err, out)
		}
		if out, err = dev("", "sync"); err == nil || !strings.Contains(err.Error(), "登录") {
			t.Fatalf("sync after logout: %v\n%s", err, out)
		}
	})
}

// noReportSchedule keeps the monthly report closing out of these tests.
var noReportSchedule = testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" })

func countVisits(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm(context.Background()).Table("visits").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTableAlignsChinese(t *testing.T) {
	var b strings.Builder
	tw := newTable(&b)
	tw.Write([]byte("户号\t户主\tX\n"))
	tw.Write([]byte("H1\t张三丰\tY\n"))
	tw.Flush()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q", lines)
	}
	// The last column starts at the same display column on every line.
	col := func(l string) int { return displayWidth(l[:strings.LastIndex(l, " ")+1]) }
	if col(lines[0]) != col(lines[1]) {
		t.Fatalf("columns do not line up:\n%s", b.String())
	}
}
