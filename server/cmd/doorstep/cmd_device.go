package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
	"golang.org/x/text/width"

	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// doorstep device is a field device on the command line, built on the
// reference client: the same local store, outbox and sync a phone runs.

const deviceSynopsis = "device [--home DIR] [--lang zh|en] <subcommand> [flags]"

type deviceSub struct {
	summary string
	run     func(ctx context.Context, d *deviceCtx, args []string) error
}

func deviceSubs() map[string]deviceSub {
	return map[string]deviceSub{
		"login":      {"sign in: --server URL --user NAME (password from a prompt or stdin)", deviceLogin},
		"logout":     {"sign out; unsynced edits stay on the device", deviceLogout},
		"status":     {"who is signed in, pending edits, last sync", deviceStatus},
		"households": {"list my households", deviceHouseholds},
		"visit":      {"record a visit: --household --outcome visited|refused|absent|moved [--lat --lng --accuracy --notes --situation]", deviceVisit},
		"observe":    {"update what you observed of a household: --household [--phone --has-labor --lat --lng --notes]", deviceObserve},
		"need":       {"add a financing need: --household --purpose --amount-yuan", deviceNeed},
		"loan":       {"start a loan application: --household --amount-yuan --term-months --product CODE [--submit]", deviceLoan},
		"pending":    {"show edits waiting to be synced", devicePending},
		"rejections": {"show edits the server refused", deviceRejections},
		"sync":       {"send pending edits and fetch changes; prints a summary", deviceSync},
	}
}

type deviceCtx struct {
	env  *cmdEnv
	home string
	lang string
	name string // subcommand
}

// t picks the message for the chosen language.
func (d *deviceCtx) t(zh, en string) string {
	if d.lang == "en" {
		return en
	}
	return zh
}

func defaultDeviceHome() string {
	if h := os.Getenv("DOORSTEP_DEVICE_HOME"); h != "" {
		return h
	}
	return "./doorstep-device"
}

func runDevice(ctx context.Context, env *cmdEnv, args []string) error {
	subs := deviceSubs()
	fs := newFlags(env, "device", deviceSynopsis)
	home := fs.String("home", defaultDeviceHome(), "directory of this device's local database (DOORSTEP_DEVICE_HOME)")
	lang := fs.String("lang", "zh", "language of messages: zh or en")
	fs.Usage = func() {
		w := env.stdout
		fmt.Fprintf(w, "Usage: doorstep %s\n\n", deviceSynopsis)
		fmt.Fprintln(w, "A command-line field device: record visits offline, sync when the server is reachable.")
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "\nSubcommands:")
		for _, n := range names {
			fmt.Fprintf(w, "  %-11s %s\n", n, subs[n].summary)
		}
		fmt.Fprintln(w, "\nExample:\n  doorstep device --home ./phone1 login --server http://127.0.0.1:8080 --user officer1")
		fmt.Fprintln(w, "  doorstep device --home ./phone1 sync\n  doorstep device --home ./phone1 households")
		fmt.Fprintln(w, "  doorstep device --home ./phone1 visit --household H001 --outcome visited --notes '...'")
		fmt.Fprintln(w, "  doorstep device --home ./phone1 sync")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fs.Usage()
		if len(rest) == 0 {
			return errors.New("device: no subcommand given")
		}
		return nil
	}
	if *lang != "zh" && *lang != "en" {
		return fmt.Errorf("device: --lang %q: want zh or en", *lang)
	}
	sub, ok := subs[rest[0]]
	if !ok {
		return fmt.Errorf("device: unknown subcommand %q (try doorstep device --help)", rest[0])
	}
	d := &deviceCtx{env: env, home: *home, lang: *lang, name: rest[0]}
	return sub.run(ctx, d, rest[1:])
}

// flags makes the subcommand's flag set; --home and --lang may also follow
// the subcommand.
func (d *deviceCtx) flags(synopsis string) *flag.FlagSet {
	fs := newFlags(d.env, "device "+d.name, "device [--home DIR] "+d.name+" "+synopsis)
	fs.StringVar(&d.home, "home", d.home, "directory of this device's local database")
	fs.StringVar(&d.lang, "lang", d.lang, "language of messages: zh or en")
	return fs
}

func (d *deviceCtx) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("device %s: unexpected argument %q", d.name, fs.Arg(0))
	}
	if d.lang != "zh" && d.lang != "en" {
		return fmt.Errorf("device: --lang %q: want zh or en", d.lang)
	}
	return nil
}

func (d *deviceCtx) open(ctx context.Context, server string) (*client.Client, error) {
	return client.Open(ctx, d.home, client.Options{
		BaseURL:     server,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		AppVersion:  "doorstep-device-cli",
		Language:    d.lang,
		MaxAttempts: 4,
		BackoffBase: 300 * time.Millisecond,
		BackoffMax:  3 * time.Second,
	})
}

// explain turns client errors into something an officer can act on.
func (d *deviceCtx) explain(err error) error {
	var ee *client.EditError
	var so *client.SignedOutError
	var apiErr *client.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		msg := d.t(ee.Message, ee.MessageEN)
		if ee.Field != "" {
			return fmt.Errorf("%s (%s)", msg, ee.Field)
		}
		return errors.New(msg)
	case errors.As(err, &so):
		reason := map[string][2]string{
			syncproto.CodeDeviceRevoked:   {"本设备已被停用", "this device was revoked"},
			syncproto.CodeRefreshReused:   {"登录凭据被重复使用，已失效", "the sign-in was used twice and has been ended"},
			syncproto.CodeAccountDisabled: {"账号已停用", "the account is disabled"},
		}[so.Code]
		if reason[0] == "" {
			reason = [2]string{"登录已失效", "the sign-in has ended"}
		}
		return errors.New(d.t(reason[0]+"，请重新登录（doorstep device login）。未同步的修改仍保存在本机。",
			reason[1]+"; sign in again (doorstep device login). Unsynced edits are kept on this device."))
	case errors.Is(err, client.ErrNotSignedIn):
		return errors.New(d.t("尚未登录，请先运行 doorstep device login", "not signed in; run doorstep device login first"))
	case errors.Is(err, client.ErrOtherUserPending):
		return fmt.Errorf("%s: %w", d.t("本机还有另一位客户经理未同步的修改，请先用该账号同步", "another officer's edits are still waiting on this device; sync them with that account first"), err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%s [%s]", apiErr.Message, apiErr.Code)
	case errors.Is(err, context.Canceled):
		return err
	}
	return err
}

// --- login / logout / status -------------------------------------------------

func deviceLogin(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("--server URL --user NAME [--name DEVICE_NAME] [--password-stdin]")
	server := fs.String("server", "", "server URL, e.g. http://127.0.0.1:8080 (remembered)")
	user := fs.String("user", "", "username, e.g. officer1")
	name := fs.String("name", "", "a name for this device shown to supervisors (default: host name)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("device login: --user is required")
	}
	c, err := d.open(ctx, *server)
	if err != nil {
		return err
	}
	defer c.Close()
	if s, _ := c.Session(ctx); s.ServerURL == "" {
		return errors.New("device login: --server is required the first time")
	}
	pw, err := promptPassword(d, *fromStdin)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _ = os.Hostname()
		*name = "cli " + *name
	}
	s, err := c.Login(ctx, *user, pw, *name)
	if err != nil {
		return d.explain(err)
	}
	fmt.Fprintf(d.env.stdout, d.t("已登录：%s（%s），服务器 %s\n下一步：doorstep device --home %s sync\n",
		"Signed in as %s (%s) at %s\nNext: doorstep device --home %s sync\n"), s.Username, s.Role, s.ServerURL, d.home)
	return nil
}

// promptPassword reads the password without echo on a terminal, or one line
// from stdin. Never from argv.
func promptPassword(d *deviceCtx, fromStdin bool) (string, error) {
	if f, ok := d.env.stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(d.env.stderr, d.t("密码: ", "Password: "))
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(d.env.stderr)
		return string(p), err
	}
	line, err := bufio.NewReader(d.env.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("device login: no password on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func deviceLogout(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	n, _ := c.PendingCount(ctx)
	err = c.Logout(ctx)
	fmt.Fprintln(d.env.stdout, d.t("已退出登录。", "Signed out."))
	if n > 0 {
		fmt.Fprintf(d.env.stdout, d.t("本机仍有 %d 条未同步的修改，重新登录后同步即可上传。\n", "%d unsynced edits stay on this device; sign in again and sync to send them.\n"), n)
	}
	if err != nil {
		fmt.Fprintln(d.env.stderr, d.t("提示：未能通知服务器：", "note: the server was not told: ")+err.Error())
	}
	return nil
}

func deviceStatus(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.Session(ctx)
	if err != nil {
		return err
	}
	n, _ := c.PendingCount(ctx)
	hs, _ := c.Households(ctx)
	rj, _ := c.Rejections(ctx)
	w := d.env.stdout
	fmt.Fprintf(w, "%s %s\n", d.t("本机目录:", "Device home:"), d.home)
	fmt.Fprintf(w, "%s %s\n", d.t("设备编号:", "Device id:  "), s.DeviceID)
	fmt.Fprintf(w, "%s %s\n", d.t("服务器:  ", "Server:     "), orDash(s.ServerURL))
	if s.SignedIn {
		fmt.Fprintf(w, "%s %s (%s)\n", d.t("已登录:  ", "Signed in:  "), s.Username, s.Role)
	} else {
		fmt.Fprintf(w, "%s %s\n", d.t("已登录:  ", "Signed in:  "), d.t("否", "no"))
	}
	last := "-"
	if !s.LastSyncAt.IsZero() {
		last = s.LastSyncAt.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(w, "%s %s\n", d.t("上次同步:", "Last sync:  "), last)
	fmt.Fprintf(w, "%s %d\n", d.t("名下农户:", "Households: "), len(hs))
	fmt.Fprintf(w, "%s %d\n", d.t("待上传:  ", "Pending:    "), n)
	fmt.Fprintf(w, "%s %d\n", d.t("被驳回:  ", "Rejected:   "), len(rj))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- households --------------------------------------------------------------

func deviceHouseholds(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	hs, err := c.Households(ctx)
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		fmt.Fprintln(d.env.stdout, d.t("本机还没有农户。登录后运行 doorstep device sync 下载名下农户。",
			"No households on this device yet. Sign in and run doorstep device sync to download yours."))
		return nil
	}
	visits, err := c.Visits(ctx, "")
	if err != nil {
		return err
	}
	count := map[string]int{}
	lastVisit := map[string]time.Time{}
	for _, v := range visits {
		count[v.HouseholdID]++
		if v.StartedAt.After(lastVisit[v.HouseholdID]) {
			lastVisit[v.HouseholdID] = v.StartedAt
		}
	}
	tw := newTable(d.env.stdout)
	fmt.Fprintln(tw, d.t("户号\t户主\t村\t类别\t走访次数\t最近走访\t截止日期\t编号", "NO.\tHEAD\tVILLAGE\tCATEGORY\tVISITS\tLAST VISIT\tDUE\tID"))
	for _, h := range hs {
		last := "-"
		if t, ok := lastVisit[h.ID]; ok {
			last = t.Local().Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", h.HouseholdNo, h.HeadName, orDash(h.Township+h.Village), orDash(h.Category),
			count[h.ID], last, orDash(h.DueOn), h.ID)
	}
	tw.Flush()
	fmt.Fprintf(d.env.stdout, d.t("共 %d 户\n", "%d households\n"), len(hs))
	return nil
}

// resolveHousehold accepts a household id or its household number.
func resolveHousehold(ctx context.Context, d *deviceCtx, c *client.Client, ref string) (string, error) {
	if ref == "" {
		return "", errors.New(d.t("请用 --household 指定农户（户号或编号）", "--household is required (household number or id)"))
	}
	if _, ok, err := c.Household(ctx, ref); err != nil || ok {
		return ref, err
	}
	hs, err := c.Households(ctx)
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if h.HouseholdNo == ref {
			return h.ID, nil
		}
	}
	return "", fmt.Errorf(d.t("本机没有户号或编号为 %q 的农户（运行 doorstep device households 查看）",
		"no household %q on this device (see doorstep device households)"), ref)
}

// optFloat is a float flag that knows whether it was set.
type optFloat struct{ v *float64 }

func (o *optFloat) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'f', -1, 64)
}

func (o *optFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a number")
	}
	o.v = &f
	return nil
}

// optString is a string flag that knows whether it was set.
type optString struct{ v *string }

func (o *optString) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}

func (o *optString) Set(s string) error { o.v = &s; return nil }

// --- visit / observe / need / loan ---------------------------------------------

func deviceVisit(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("--household NO|ID --outcome visited|refused|absent|moved [--lat --lng --accuracy] [--notes TEXT] [--situation TEXT]")
	hh := fs.String("household", "", "household number (户号) or id")
	outcome := fs.String("outcome", "", "visited, refused, absent or moved")
	var lat, lng, acc optFloat
	fs.Var(&lat, "lat", "GPS latitude")
	fs.Var(&lng, "lng", "GPS longitude")
	fs.Var(&acc, "accuracy", "GPS accuracy in metres")
	notes := fs.String("notes", "", "notes")
	situation := fs.String("situation", "", "the household's situation as observed")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := resolveHousehold(ctx, d, c, *hh)
	if err != nil {
		return err
	}
	vid, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: id, Outcome: *outcome, Notes: *notes, Situation: *situation, Lat: lat.v, Lng: lng.v, AccuracyM: acc.v})
	if err != nil {
		return d.explain(err)
	}
	return d.saved(ctx, c, d.t("走访已记录", "Visit recorded"), vid)
}

// saved confirms a local edit and says how many are waiting.
func (d *deviceCtx) saved(ctx context.Context, c *client.Client, what, id string) error {
	n, err := c.PendingCount(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.env.stdout, d.t("%s（编号 %s），已保存在本机。待上传 %d 条，联网后运行 doorstep device sync。\n",
		"%s (id %s), saved on this device. %d edits pending; run doorstep device sync when online.\n"), what, id, n)
	return nil
}

func deviceObserve(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("--household NO|ID [--phone N] [--has-labor true|false] [--lat --lng] [--notes TEXT]")
	hh := fs.String("household", "", "household number (户号) or id")
	var phone, labor, notes optString
	fs.Var(&phone, "phone", "contact phone number")
	fs.Var(&labor, "has-labor", "whether the household has labour capacity: true or false")
	fs.Var(&notes, "notes", "situation notes")
	var lat, lng optFloat
	fs.Var(&lat, "lat", "latitude of the house")
	fs.Var(&lng, "lng", "longitude of the house")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	p := client.HouseholdPatch{Phone: phone.v, SituationNotes: notes.v, Lat: lat.v, Lng: lng.v}
	if labor.v != nil {
		b, err := strconv.ParseBool(*labor.v)
		if err != nil {
			return errors.New("--has-labor: want true or false")
		}
		p.HasLabor = &b
	}
	if p.Phone == nil && p.SituationNotes == nil && p.Lat == nil && p.HasLabor == nil {
		return errors.New(d.t("没有要修改的内容", "nothing to change: give --phone, --has-labor, --lat/--lng or --notes"))
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := resolveHousehold(ctx, d, c, *hh)
	if err != nil {
		return err
	}
	if err := c.UpdateHousehold(ctx, id, p); err != nil {
		return d.explain(err)
	}
	return d.saved(ctx, c, d.t("农户信息已修改", "Household updated"), id)
}

// parseYuan turns "30000" or "12.5" into fen without going through floats.
func parseYuan(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && (len(frac) == 0 || len(frac) > 2)) {
		return 0, fmt.Errorf("amount %q: want yuan with at most two decimals, e.g. 10000 or 2500.50", s)
	}
	y, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || y < 0 || y > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("amount %q: want yuan with at most two decimals, e.g. 10000 or 2500.50", s)
	}
	var f int64
	if hasFrac {
		if len(frac) == 1 {
			frac += "0"
		}
		f, err = strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("amount %q: want yuan with at most two decimals", s)
		}
	}
	return y*100 + f, nil
}

func deviceNeed(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("--household NO|ID --purpose TEXT --amount-yuan N [--visit ID] [--notes TEXT]")
	hh := fs.String("household", "", "household number (户号) or id")
	purpose := fs.String("purpose", "", "what the money is for, e.g. 购买仔猪")
	amount := fs.String("amount-yuan", "", "amount in yuan, e.g. 10000")
	visit := fs.String("visit", "", "id of the visit where the need came up (optional)")
	notes := fs.String("notes", "", "notes")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	fen, err := parseYuan(*amount)
	if err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := resolveHousehold(ctx, d, c, *hh)
	if err != nil {
		return err
	}
	nid, err := c.CreateNeed(ctx, client.NeedInput{HouseholdID: id, VisitID: *visit, Purpose: *purpose, AmountFen: fen, Notes: *notes})
	if err != nil {
		return d.explain(err)
	}
	return d.saved(ctx, c, d.t("融资需求已记录", "Financing need recorded"), nid)
}

func deviceLoan(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("--household NO|ID --amount-yuan N --term-months N --product CODE [--purpose TEXT] [--need ID] [--submit]\n" +
		"       doorstep device loan --id ID --submit | --withdraw")
	hh := fs.String("household", "", "household number (户号) or id")
	amount := fs.String("amount-yuan", "", "amount in yuan")
	term := fs.Int("term-months", 0, "term in months")
	product := fs.String("product", "", "loan product code, e.g. FPXD (扶贫小额信贷)")
	purpose := fs.String("purpose", "", "purpose of the loan")
	need := fs.String("need", "", "id of the financing need it answers (optional)")
	id := fs.String("id", "", "an existing application, for --submit or --withdraw")
	submit := fs.Bool("submit", false, "submit the application (a new one right away, or the draft given by --id)")
	withdraw := fs.Bool("withdraw", false, "withdraw the application given by --id")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	if *id != "" {
		switch {
		case *withdraw && !*submit:
			err = c.WithdrawLoan(ctx, *id)
		case *submit && !*withdraw:
			err = c.SubmitLoan(ctx, *id)
		default:
			return errors.New("device loan --id: give exactly one of --submit or --withdraw")
		}
		if err != nil {
			return d.explain(err)
		}
		return d.saved(ctx, c, d.t("贷款申请状态已修改", "Loan application updated"), *id)
	}
	if *withdraw {
		return errors.New("device loan: --withdraw needs --id")
	}
	fen, err := parseYuan(*amount)
	if err != nil {
		return err
	}
	hid, err := resolveHousehold(ctx, d, c, *hh)
	if err != nil {
		return err
	}
	productID, err := resolveProduct(ctx, d, c, *product)
	if err != nil {
		return err
	}
	lid, err := c.CreateLoan(ctx, client.LoanInput{HouseholdID: hid, NeedID: *need, ProductID: productID, AmountFen: fen, TermMonths: *term, Purpose: *purpose})
	if err != nil {
		return d.explain(err)
	}
	what := d.t("贷款申请草稿已创建", "Draft loan application started")
	if *submit {
		if err := c.SubmitLoan(ctx, lid); err != nil {
			return d.explain(err)
		}
		what = d.t("贷款申请已提交", "Loan application submitted")
	}
	return d.saved(ctx, c, what, lid)
}

func resolveProduct(ctx context.Context, d *deviceCtx, c *client.Client, code string) (string, error) {
	ps, err := c.Products(ctx)
	if err != nil {
		return "", err
	}
	var codes []string
	for _, p := range ps {
		if p.Code == code || p.ID == code {
			if !p.Active {
				return "", fmt.Errorf(d.t("贷款产品 %s 已停用", "loan product %s is not active"), code)
			}
			return p.ID, nil
		}
		codes = append(codes, p.Code+" "+p.Name)
	}
	if len(codes) == 0 {
		return "", errors.New(d.t("本机还没有贷款产品，请先同步", "no loan products on this device yet; sync first"))
	}
	return "", fmt.Errorf(d.t("没有贷款产品 %q，可选：%s", "no loan product %q; choose one of: %s"), code, strings.Join(codes, ", "))
}

// --- pending / rejections / sync ---------------------------------------------

var entityNames = map[string][2]string{
	syncproto.EntityHousehold: {"农户", "household"},
	syncproto.EntityVisit:     {"走访", "visit"},
	syncproto.EntityVisitPlan: {"走访计划", "visit plan"},
	syncproto.EntityNeed:      {"融资需求", "financing need"},
	syncproto.EntityLoan:      {"贷款申请", "loan application"},
}

func (d *deviceCtx) entity(e string) string {
	if n, ok := entityNames[e]; ok {
		return d.t(n[0], n[1])
	}
	return e
}

var opNames = map[string][2]string{
	syncproto.OpCreate: {"新建", "create"},
	syncproto.OpUpdate: {"修改", "update"},
	syncproto.OpDelete: {"删除", "delete"},
}

func devicePending(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	ps, err := c.Pending(ctx)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintln(d.env.stdout, d.t("没有待上传的修改。", "Nothing pending."))
		return nil
	}
	tw := newTable(d.env.stdout)
	fmt.Fprintln(tw, d.t("序号\t时间\t类型\t操作\t记录编号\t字段", "SEQ\tTIME\tENTITY\tOP\tRECORD\tFIELDS"))
	for _, p := range ps {
		fields := make([]string, 0, len(p.Fields))
		for k := range p.Fields {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		op := opNames[p.Op]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.Seq, p.DeviceTime.Local().Format("01-02 15:04"), d.entity(p.Entity),
			d.t(op[0], op[1]), p.EntityID, strings.Join(fields, ","))
	}
	tw.Flush()
	fmt.Fprintf(d.env.stdout, d.t("共 %d 条待上传\n", "%d pending\n"), len(ps))
	return nil
}

// rejectionReasons explain rejection codes in both languages; the server's
// own message follows.
var rejectionReasons = map[string][2]string{
	syncproto.RejectInvalidField:    {"字段内容无效", "a field is invalid"},
	syncproto.RejectUnknownField:    {"设备不能修改该字段", "devices cannot set that field"},
	syncproto.RejectServerOwned:     {"该字段由银行维护", "that field is kept by the bank"},
	syncproto.RejectNotFound:        {"记录不存在", "the record does not exist"},
	syncproto.RejectOutOfScope:      {"该户已不在您的名下", "the household is no longer yours"},
	syncproto.RejectAlreadyExists:   {"记录已存在", "the record already exists"},
	syncproto.RejectConfirmed:       {"走访已由主管确认，不能再修改", "the visit was confirmed by a supervisor"},
	syncproto.RejectIllegalState:    {"状态变更不允许", "that status change is not allowed"},
	syncproto.RejectNotDraft:        {"只能修改草稿状态的贷款申请", "only draft applications can be edited"},
	syncproto.RejectProductLimit:    {"超出贷款产品的额度或期限", "beyond the product's amount or term"},
	syncproto.RejectDependency:      {"所依赖的修改已被驳回", "an edit it depends on was rejected"},
	syncproto.RejectDuplicateSeq:    {"序号重复", "duplicate sequence number"},
	syncproto.RejectUnsupported:     {"不支持的操作", "unsupported operation"},
	syncproto.RejectStatusBackwards: {"状态不能回退", "status cannot move backwards"},
	syncproto.RejectInvalidMutation: {"服务器无法处理这条修改", "the server could not process this edit"},
}

func (d *deviceCtx) printRejection(w io.Writer, r client.RejectionInfo) {
	reason := r.Code
	if t, ok := rejectionReasons[r.Code]; ok {
		reason = d.t(t[0], t[1])
	}
	field := ""
	if r.Field != "" {
		field = " [" + r.Field + "]"
	}
	msg := ""
	if r.Message != "" && r.Message != reason {
		msg = "：" + r.Message
		if d.lang == "en" {
			msg = ": " + r.Message
		}
	}
	fmt.Fprintf(w, "  - %s %s%s — %s%s (%s)\n", d.entity(r.Entity), r.EntityID, field, reason, msg, r.Code)
}

func deviceRejections(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	rj, err := c.Rejections(ctx)
	if err != nil {
		return err
	}
	if len(rj) == 0 {
		fmt.Fprintln(d.env.stdout, d.t("没有被驳回的修改。", "No rejected edits."))
		return nil
	}
	fmt.Fprintln(d.env.stdout, d.t("被驳回的修改：", "Rejected edits:"))
	for _, r := range rj {
		d.printRejection(d.env.stdout, r)
	}
	return nil
}

func deviceSync(ctx context.Context, d *deviceCtx, args []string) error {
	fs := d.flags("[--digest]")
	digest := fs.Bool("digest", false, "also check that this device holds exactly what the server has for it")
	if err := d.parse(fs, args); err != nil {
		return err
	}
	c, err := d.open(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	rep, err := c.SyncWith(ctx, client.SyncOptions{Digest: *digest})
	w := d.env.stdout
	if rep.Pushed > 0 {
		fmt.Fprintf(w, d.t("上传 %d 条：接受 %d，合并 %d，驳回 %d\n", "Pushed %d: %d accepted, %d merged, %d rejected\n"),
			rep.Pushed, rep.Accepted, rep.Merged, rep.Rejected)
	}
	if rep.Pages > 0 {
		fmt.Fprintf(w, d.t("下载 %d 条变更（%d 页）\n", "Pulled %d changes (%d pages)\n"), rep.Pulled, rep.Pages)
	}
	if rep.Removed > 0 {
		fmt.Fprintf(w, d.t("%d 户已移出您的名下\n", "%d households left your list\n"), rep.Removed)
	}
	if rep.Resynced {
		fmt.Fprintln(w, d.t("已从服务器重新下载全部数据", "Re-downloaded everything from the server"))
	}
	if rep.DigestSent && !rep.Diverged {
		fmt.Fprintln(w, d.t("数据校验一致", "Digest check: in step with the server"))
	}
	if rep.Conflicts > 0 {
		fmt.Fprintf(w, d.t("%d 个字段与他人修改冲突，已按规则合并\n", "%d fields conflicted with other edits and were merged by rule\n"), rep.Conflicts)
	}
	if len(rep.Rejections) > 0 {
		fmt.Fprintln(w, d.t("被驳回的修改：", "Rejected edits:"))
		for _, r := range rep.Rejections {
			d.printRejection(w, r)
		}
	}
	if rep.ClockOffset != 0 && (rep.ClockOffset > time.Minute || rep.ClockOffset < -time.Minute) {
		fmt.Fprintf(w, d.t("注意：本机时钟与服务器相差 %s\n", "Note: this device's clock is off by %s\n"), rep.ClockOffset.Round(time.Second))
	}
	if err != nil {
		if errors.Is(err, client.ErrSignedOut) || errors.Is(err, client.ErrNotSignedIn) || errors.Is(err, context.Canceled) {
			return d.explain(err)
		}
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			return fmt.Errorf(d.t("同步未完成：%s。%d 条修改仍保存在本机。", "sync incomplete: %s. %d edits are kept on this device."), d.explain(err), rep.Pending)
		}
		return fmt.Errorf(d.t("无法连接服务器（%v）。%d 条修改仍保存在本机，稍后再运行 doorstep device sync。",
			"cannot reach the server (%v). %d edits are kept on this device; run doorstep device sync again later."), err, rep.Pending)
	}
	fmt.Fprintf(w, d.t("同步完成。待上传 %d 条。\n", "Sync complete. %d pending.\n"), rep.Pending)
	return nil
}

// table lines up tab-separated cells in columns by display width, so that
// Chinese text (two columns a character on a terminal) stays aligned, which
// text/tabwriter, counting runes, does not.
type table struct {
	w    io.Writer
	rows [][]string
	buf  []byte
}

func newTable(w io.Writer) *table { return &table{w: w} }

func (t *table) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	for {
		i := strings.IndexByte(string(t.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		t.rows = append(t.rows, strings.Split(string(t.buf[:i]), "\t"))
		t.buf = t.buf[i+1:]
	}
}

func displayWidth(s string) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// Flush writes the rows, two spaces between columns.
func (t *table) Flush() error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	t.rows = nil
	_, err := io.WriteString(t.w, b.String())
	return err
}
