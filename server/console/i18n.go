package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Simplified Chinese is the default; English is a switch (?lang=en), kept in
// a cookie.
const (
	langZH     = "zh"
	langEN     = "en"
	langCookie = "doorstep_lang"
)

type message struct{ zh, en string }

// lang translates for one request.
type lang struct{ code string }

// Code is "zh" or "en", for the html lang attribute.
func (l lang) Code() string {
	if l.code == langEN {
		return "en"
	}
	return "zh-CN"
}

// EN reports whether the page is in English.
func (l lang) EN() bool { return l.code == langEN }

// T looks a key up in the catalog; a missing key shows itself, which a test
// over every template catches.
func (l lang) T(key string) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	return l.pick(m)
}

// F is T with fmt arguments.
func (l lang) F(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

func (l lang) pick(m message) string {
	if l.code == langEN && m.en != "" {
		return m.en
	}
	return m.zh
}

func (cs *Console) lang(c *gin.Context) lang {
	switch q := c.Query("lang"); q {
	case langZH, langEN:
		http.SetCookie(c.Writer, &http.Cookie{
			Name: langCookie, Value: q, Path: Base, MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: cs.secure(c), SameSite: http.SameSiteLaxMode,
		})
		return lang{q}
	}
	if v, err := c.Cookie(langCookie); err == nil && v == langEN {
		return lang{langEN}
	}
	return lang{langZH}
}

// Messages shown on their own, outside the catalog of page labels.
var (
	msgCSRF         = message{"页面已过期或来源不明，请刷新页面后重试", "This form has expired or did not come from this console; reload the page and try again"}
	msgTooLarge     = message{"提交的内容过大", "The submitted content is too large"}
	msgLoginMissing = message{"请输入用户名和密码", "Enter your username and password"}
	msgOfficer      = message{"您好！客户经理请使用手机上的“入户走访”应用办理业务，管理台仅供网点主管、分行经理和管理员使用。", "Hello! Loan officers work in the phone app; this console is for supervisors, branch managers and administrators."}
	msgDisabled     = message{"账号已停用，请联系管理员", "This account is disabled; contact your administrator"}
	msgNotFound     = message{"记录不存在或不在您的权限范围内", "Not found, or outside your scope"}
	msgForbidden    = message{"您无权执行此操作", "You are not allowed to do this"}
	msgInternal     = message{"服务器内部错误，请稍后重试", "Internal error; try again later"}
	msgBadVersion   = message{"版本号应为正整数", "The version must be a positive integer"}
	msgNoFile       = message{"请选择要上传的名单文件（CSV 或 XLSX）", "Choose the list file to upload (CSV or XLSX)"}
	msgUnavailable  = message{"此功能尚未开通", "This function is not available yet"}
)

// catalog holds the labels of the pages.
var catalog = map[string]message{
	"app.name":            {"入户走访管理台", "Doorstep console"},
	"app.skip":            {"跳到正文", "Skip to content"},
	"lang.switch":         {"English", "中文"},
	"nav.overview":        {"本月概览", "Overview"},
	"nav.coverage":        {"走访台账", "Coverage"},
	"nav.reviews":         {"走访核查", "Visit review"},
	"nav.conflicts":       {"冲突与拒收", "Conflicts"},
	"nav.households":      {"监测户", "Households"},
	"nav.imports":         {"名单导入", "Imports"},
	"nav.assignments":     {"分配", "Assignments"},
	"nav.reports":         {"月报", "Monthly reports"},
	"nav.devices":         {"设备", "Devices"},
	"nav.audit":           {"审计日志", "Audit log"},
	"nav.logout":          {"退出登录", "Sign out"},
	"nav.menu":            {"菜单", "Menu"},
	"role.officer":        {"客户经理", "Loan officer"},
	"role.supervisor":     {"网点主管", "Supervisor"},
	"role.branch_manager": {"分行经理", "Branch manager"},
	"role.admin":          {"系统管理员", "Administrator"},

	"login.title":    {"登录", "Sign in"},
	"login.username": {"用户名", "Username"},
	"login.password": {"密码", "Password"},
	"login.submit":   {"登录", "Sign in"},
	"login.hint":     {"供网点主管、分行经理和管理员使用。客户经理请使用手机应用。", "For supervisors, branch managers and administrators. Loan officers use the phone app."},
	"login.bye":      {"您已退出登录。", "You have signed out."},

	"error.title": {"出错了", "Something went wrong"},
	"error.back":  {"返回", "Back"},
	"error.home":  {"回到概览", "Back to the overview"},

	"list.search":      {"搜索", "Search"},
	"list.search.hint": {"户编号或户主姓名", "Household number or head's name"},
	"list.empty":       {"没有记录", "Nothing to show"},
	"list.prev":        {"上一页", "Previous"},
	"list.next":        {"下一页", "Next"},
	"list.page":        {"第 %d 页，共 %d 页（%d 条）", "Page %d of %d (%d rows)"},
	"list.sort":        {"排序", "Sort"},
	"list.apply":       {"查询", "Apply"},

	"hh.title":         {"监测户", "Households"},
	"hh.no":            {"户编号", "Household no."},
	"hh.head":          {"户主", "Head of household"},
	"hh.id":            {"身份证号", "ID number"},
	"hh.phone":         {"联系电话", "Phone"},
	"hh.village":       {"村", "Village"},
	"hh.township":      {"乡镇", "Township"},
	"hh.county":        {"区县", "County"},
	"hh.outlet":        {"网点", "Outlet"},
	"hh.officer":       {"客户经理", "Officer"},
	"hh.due":           {"走访期限", "Visit due"},
	"hh.size":          {"家庭人口", "Family size"},
	"hh.category":      {"监测类型", "Category"},
	"hh.risk":          {"风险类型", "Risk"},
	"hh.labor":         {"有劳动力", "Has labour"},
	"hh.eliminated":    {"风险已消除", "Risk eliminated"},
	"hh.notes":         {"情况说明", "Situation"},
	"hh.status":        {"名单状态", "List status"},
	"hh.removed":       {"已移出名单", "Removed from the list"},
	"hh.active":        {"在册", "On the list"},
	"hh.lastvisit":     {"最近走访", "Last visit"},
	"hh.archive":       {"走访档案", "Visit archive"},
	"hh.reveal":        {"查看完整号码", "Reveal full numbers"},
	"hh.reveal.reason": {"查看原因（必填）", "Why you need them (required)"},
	"hh.months":        {"各月走访结果", "Month by month"},
	"tl.assigned":      {"分配", "Assigned"},
	"tl.ended":         {"结束于", "Ended"},
	"tl.late":          {"关账后到达", "Arrived after the close"},
	"tl.deleted":       {"已删除", "Deleted"},
	"hh.reveal.note":   {"查看将记入审计日志。", "Every reveal is recorded in the audit log."},
	"hh.revealed":      {"完整号码（已记录审计）", "Full numbers (audited)"},
	"hh.unassigned":    {"未分配", "Unassigned"},
	"hh.yes":           {"是", "Yes"},
	"hh.no.word":       {"否", "No"},

	"tl.visit":           {"走访", "Visit"},
	"tl.need":            {"融资需求", "Financing need"},
	"tl.loan":            {"贷款申请", "Loan application"},
	"tl.empty":           {"尚无走访记录", "No visits yet"},
	"tl.outcome":         {"结果", "Outcome"},
	"tl.review":          {"核查", "Review"},
	"tl.amount":          {"金额", "Amount"},
	"tl.term":            {"期限（月）", "Term (months)"},
	"tl.purpose":         {"用途", "Purpose"},
	"tl.status":          {"状态", "Status"},
	"tl.note":            {"备注", "Note"},
	"tl.suspect":         {"设备时间可疑", "Device clock suspect"},
	"outcome.visited":    {"已走访", "Visited"},
	"outcome.refused":    {"拒绝", "Refused"},
	"outcome.absent":     {"不在家", "Absent"},
	"outcome.moved":      {"已搬迁", "Moved"},
	"vstatus.recorded":   {"待核查", "Recorded"},
	"vstatus.confirmed":  {"已确认", "Confirmed"},
	"vstatus.has_issues": {"有问题", "Has issues"},
	"need.recorded":      {"已登记", "Recorded"},
	"need.referred":      {"已推荐", "Referred"},
	"need.fulfilled":     {"已满足", "Fulfilled"},
	"need.declined":      {"已放弃", "Declined"},
	"loan.draft":         {"草稿", "Draft"},
	"loan.submitted":     {"已提交", "Submitted"},
	"loan.under_review":  {"审批中", "Under review"},
	"loan.approved":      {"已批准", "Approved"},
	"loan.rejected":      {"已拒绝", "Rejected"},
	"loan.disbursed":     {"已放款", "Disbursed"},
	"loan.withdrawn":     {"已撤回", "Withdrawn"},

	"dev.title":          {"设备", "Devices"},
	"dev.user":           {"使用人", "User"},
	"dev.search.hint":    {"用户名、姓名或设备名称", "Username, name or device name"},
	"dev.unit":           {"所属机构", "Org unit"},
	"dev.name":           {"设备名称", "Device"},
	"dev.app":            {"应用版本", "App version"},
	"dev.lastsync":       {"最近同步", "Last sync"},
	"dev.lastseen":       {"最近在线", "Last seen"},
	"dev.pending":        {"未同步记录", "Unsynced work"},
	"dev.offset":         {"时钟偏差", "Clock offset"},
	"dev.status":         {"状态", "Status"},
	"dev.active":         {"正常", "Active"},
	"dev.revoked":        {"已停用", "Revoked"},
	"dev.revoke":         {"停用（手机丢失）", "Revoke (lost phone)"},
	"dev.revoke.confirm": {"停用后该手机须重新登录，未同步的记录将无法上传。", "The phone must sign in again; unsynced work on it cannot be uploaded."},
	"dev.never":          {"从未", "Never"},
	"dev.filter.all":     {"全部", "All"},
	"dev.ok.revoked":     {"设备已停用。", "The device has been revoked."},
	"dev.ok.already":     {"该设备此前已停用。", "The device was already revoked."},

	"audit.title":       {"审计日志", "Audit log"},
	"audit.time":        {"时间", "Time"},
	"audit.actor":       {"操作人", "Actor"},
	"audit.role":        {"角色", "Role"},
	"audit.action":      {"操作", "Action"},
	"audit.target":      {"对象", "Target"},
	"audit.details":     {"详情", "Details"},
	"audit.search.hint": {"操作、对象编号或操作人", "Action, target id or actor"},
}

// Or is T for a key built from data (an outcome, a flag code, an evidence
// field): a key the catalog lacks shows the raw code rather than the key.
func (l lang) Or(prefix, code string) string {
	if m, ok := catalog[prefix+code]; ok {
		return l.pick(m)
	}
	return code
}

// Dur shows how long a visit lasted, from its start to its end.
func (l lang) Dur(start time.Time, end *time.Time) string {
	if end == nil {
		return "—"
	}
	return l.span(end.Sub(start))
}

// Offset shows how far the device clock was off: the corrected time minus
// the device's own.
func (l lang) Offset(device, corrected time.Time) string {
	d := corrected.Sub(device)
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	return sign + l.span(d)
}

func (l lang) span(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if l.EN() {
		switch {
		case h > 0:
			return fmt.Sprintf("%d h %d min", h, m)
		case m > 0:
			return fmt.Sprintf("%d min %d s", m, s)
		}
		return fmt.Sprintf("%d s", s)
	}
	switch {
	case h > 0:
		return fmt.Sprintf("%d小时%d分", h, m)
	case m > 0:
		return fmt.Sprintf("%d分%d秒", m, s)
	}
	return fmt.Sprintf("%d秒", s)
}

func init() {
	for k, v := range pageCatalog {
		catalog[k] = v
	}
}

// pageCatalog holds the labels of the coverage, review and report pages.
var pageCatalog = map[string]message{
	"scope.month":    {"月份", "Month"},
	"scope.org":      {"机构", "Org unit"},
	"scope.apply":    {"查看", "Show"},
	"scope.readonly": {"系统管理员只能查看；签字确认、免访和核查由网点主管或分行经理办理。", "Administrators can look but not act; sign-offs, exemptions and reviews are for supervisors and branch managers."},

	"ov.chart":         {"各网点走访覆盖率", "Coverage by outlet"},
	"ov.chart.desc":    {"已有最终结果的户数 ÷（在册户数 − 免访户数）", "households with a final outcome ÷ (households − exempted)"},
	"ov.rate":          {"覆盖率", "Coverage"},
	"ov.households":    {"在册户数", "Households"},
	"ov.covered":       {"已覆盖", "Covered"},
	"ov.missing":       {"未走访", "Missing"},
	"ov.exempted":      {"免访", "Exempted"},
	"ov.stale":         {"同步滞后或有未同步记录的客户经理", "Officers not synced recently or holding unsynced work"},
	"ov.stale.days":    {"未同步天数", "Days without sync"},
	"ov.never":         {"从未同步", "Never synced"},
	"ov.flagged":       {"待核查的异常走访", "Flagged visits waiting"},
	"ov.flagged.all":   {"查看全部待核查走访", "See the whole review queue"},
	"ov.stale.all":     {"查看全部滞后设备", "See every lagging phone"},
	"ov.overdue.all":   {"在月报中查看全部逾期", "See every overdue assignment in the monthly report"},
	"ov.more":          {"（另有 %d 条未列出）", "(%d more not shown)"},
	"ov.overdue":       {"逾期未走访的分配", "Overdue assignments"},
	"ov.overdue.n":     {"共 %g 户已过走访期限仍未走访（按月报口径）", "%g households are past their deadline and not yet visited (as the monthly report counts them)"},
	"ov.overdue.count": {"逾期户数", "Overdue"},
	"ov.none":          {"暂无", "None"},
	"ov.ledger":        {"打开走访台账", "Open the coverage ledger"},

	"cov.summary":         {"本月汇总", "The month's figures"},
	"cov.officers":        {"按客户经理", "By officer"},
	"cov.officer":         {"客户经理", "Officer"},
	"cov.nobody":          {"（未分配）", "(unassigned)"},
	"cov.show.missing":    {"未走访", "Missing"},
	"cov.show.exempted":   {"免访", "Exempted"},
	"cov.show.all":        {"全部", "All"},
	"cov.outcome":         {"本月结果", "Outcome"},
	"cov.visits":          {"走访次数", "Visits"},
	"cov.attempts":        {"未遇次数", "Absent attempts"},
	"cov.exempt":          {"免访", "Exempt"},
	"cov.reason":          {"免访原因", "Reason"},
	"cov.exemptions":      {"免访记录及原因", "Exemptions and their reasons"},
	"cov.signoff":         {"网点签字确认", "Outlet sign-off"},
	"cov.signoff.figures": {"签字确认的数字如下，签字后不可更改：", "You are attesting these figures; a sign-off cannot be changed afterwards:"},
	"cov.signoff.blocked": {"还有 %d 户既没有最终结果也没有免访原因，暂不能签字确认。", "%d households have neither a final outcome nor an exemption; the month cannot be signed off yet."},
	"cov.signoff.pick":    {"签字确认按网点办理：请在上方选择一个网点。", "Sign-offs are per outlet: choose an outlet above."},
	"cov.signoff.note":    {"备注（可选）", "Note (optional)"},
	"cov.signoff.submit":  {"签字确认本月走访", "Sign off the month"},
	"cov.signoff.correct": {"更正签字（取代当前签字）", "Sign a correction (supersedes the current sign-off)"},
	"cov.signoffs":        {"签字记录", "Sign-offs"},
	"cov.signed.by":       {"签字人", "Signed by"},
	"cov.outlet":          {"网点", "Outlet"},
	"cov.signoffs.hint":   {"网点或签字人", "Outlet or signer"},
	"cov.officers.hint":   {"客户经理姓名或用户名", "Officer's name or username"},
	"cov.signed.at":       {"签字时间", "Signed at"},
	"cov.current":         {"当前有效", "Current"},
	"cov.superseded":      {"已被更正", "Superseded"},
	"cov.ok.exempted":     {"已记录免访。", "The exemption has been recorded."},
	"cov.ok.signed":       {"已签字确认。", "The month has been signed off."},
	"cov.rate.officer":    {"覆盖率", "Rate"},

	"lo.visited_with_need": {"已走访（有融资需求）", "Visited, with a need"},
	"lo.visited":           {"已走访", "Visited"},
	"lo.refused":           {"拒访", "Refused"},
	"lo.moved":             {"已搬迁", "Moved"},
	"lo.absent":            {"多次未遇", "Absent"},
	"lo.risk_eliminated":   {"风险已消除", "Risk eliminated"},
	"lo.missing":           {"未走访", "Missing"},

	"rev.status.flagged":    {"有异常", "Flagged"},
	"rev.status.recorded":   {"待核查", "Awaiting review"},
	"rev.status.corrected":  {"已整改待核查", "Corrected"},
	"rev.status.has_issues": {"有问题", "Has issues"},
	"rev.status.confirmed":  {"已确认", "Confirmed"},
	"rev.status.all":        {"全部", "All"},
	"rev.queue":             {"核查队列", "Queue"},
	"rev.spot":              {"抽查样本", "Spot checks"},
	"rev.visited":           {"走访时间", "Visited at"},
	"rev.household":         {"监测户", "Household"},
	"rev.officer":           {"客户经理", "Officer"},
	"rev.outcome":           {"结果", "Outcome"},
	"rev.evidence":          {"核查依据", "Evidence"},
	"rev.duration":          {"走访时长", "Duration"},
	"rev.offset":            {"设备时钟偏差", "Clock offset"},
	"rev.accuracy":          {"定位精度", "GPS accuracy"},
	"rev.flags":             {"异常", "Flags"},
	"rev.noflags":           {"无自动异常", "No automatic flags"},
	"rev.confirm":           {"确认无误", "Confirm"},
	"rev.note":              {"备注（可选）", "Note (optional)"},
	"rev.issues":            {"有问题", "Has issues"},
	"rev.kind":              {"处理方式", "Action"},
	"rev.kind.revisit":      {"重新走访", "Revisit"},
	"rev.kind.correct":      {"更正记录", "Correct the record"},
	"rev.reason":            {"问题说明（必填）", "What is wrong (required)"},
	"rev.truncated":         {"队列过长，只显示前 5000 条，请按月份或机构筛选。", "The queue is long; only the first 5,000 are shown. Filter by month or org unit."},
	"rev.population":        {"本月走访 %d 次，抽取 %d 次", "%d visits this month, %d sampled"},
	"rev.population.sort":   {"本月走访次数", "Visits this month"},
	"rev.spot.hint":         {"客户经理姓名、户编号或户主姓名", "Officer's name, household number or head's name"},
	"rev.ok.confirmed":      {"已确认该次走访。", "The visit has been confirmed."},
	"rev.ok.already":        {"该次走访此前已确认。", "The visit was already confirmed."},
	"rev.ok.issues":         {"已标记为有问题，并向客户经理派发整改任务。", "Marked as having issues; the officer has been sent a task."},
	"rev.reviewed":          {"核查结果", "Review"},

	"flag.gps_missing":               {"无定位", "No GPS"},
	"flag.gps_low_accuracy":          {"定位精度低", "Low GPS accuracy"},
	"flag.too_far":                   {"距离户址过远", "Far from the household"},
	"flag.impossible_travel":         {"移动速度异常", "Impossible travel"},
	"flag.too_short":                 {"走访时间过短", "Too short"},
	"flag.clock_off":                 {"设备时钟异常", "Device clock off"},
	"flag.outside_assignment_window": {"不在分配期内", "Outside the assignment"},
	"flag.duplicate_same_day":        {"同日重复走访", "Same-day duplicate"},
	"flag.unregistered_device":       {"非本人设备", "Unregistered device"},

	"cf.all":        {"全部", "All"},
	"cf.conflict":   {"字段冲突", "Conflicts"},
	"cf.rejection":  {"拒收", "Rejections"},
	"cf.kind":       {"类型", "Kind"},
	"cf.record":     {"记录", "Record"},
	"cf.rule":       {"规则", "Rule"},
	"cf.device":     {"设备上的值", "Device value"},
	"cf.server":     {"服务器上的值", "Server value"},
	"cf.winner":     {"采用", "Winner"},
	"cf.win.server": {"服务器", "Server"},
	"cf.win.device": {"设备", "Device"},

	"rep.status":           {"状态", "Status"},
	"rep.open":             {"未关账（数字随同步更新）", "Open (figures follow the sync)"},
	"rep.closed":           {"已关账", "Closed"},
	"rep.latest":           {"最新版本", "Latest version"},
	"rep.pending":          {"有迟到数据，待出更正版", "Late data arrived; a restatement is pending"},
	"rep.updated":          {"数字更新于", "Figures updated"},
	"rep.lines":            {"报表", "Figures"},
	"rep.unit":             {"机构/客户经理", "Unit / officer"},
	"rep.versions":         {"各月冻结版本", "Frozen versions of every month"},
	"rep.version":          {"版本", "Version"},
	"rep.kind.close":       {"关账", "Close"},
	"rep.kind.restatement": {"更正", "Restatement"},
	"rep.by":               {"操作人", "By"},
	"rep.schedule":         {"定时任务", "Schedule"},
	"rep.late":             {"迟到记录", "Late records"},
	"rep.files":            {"下载", "Downloads"},
	"rep.diff":             {"更正版与上一版的差异", "What the restatement changed"},
	"rep.diff.link":        {"查看差异", "Differences"},
	"rep.close":            {"关账：冻结本月报表为第 1 版", "Close the month: freeze its report as version 1"},
	"rep.close.hint":       {"关账后迟到的数据会生成更正版，原版本不变。", "Data arriving after the close produces a restatement; the closed version never changes."},
	"rep.close.notyet":     {"本月尚未结束，不能关账。", "The month is not over; it cannot be closed yet."},
	"rep.close.branch":     {"关账按分行办理：请选择分行。", "A month is closed for a branch: choose the branch."},
	"rep.ok.closed":        {"已关账，报表文件已生成。", "The month is closed and its files are ready."},
	"rep.no.versions":      {"没有冻结的版本", "No frozen versions"},
	"rep.late.hint":        {"户编号、客户经理或记录类型", "Household number, officer or kind of record"},
	"rep.versions.hint":    {"月份（如 2026-03）或操作人用户名", "Month (e.g. 2026-03) or the maker's username"},
	"rep.before":           {"原值", "Before"},
	"rep.after":            {"新值", "After"},
	"rep.delta":            {"变化", "Change"},
	"rep.change":           {"变动", "Change"},
	"rep.change.changed":   {"修改", "Changed"},
	"rep.change.added":     {"新增", "Added"},
	"rep.change.removed":   {"删除", "Removed"},
	"rep.arrived":          {"到达时间", "Arrived"},
	"rep.entity":           {"记录类型", "Record"},
	"rep.level.branch":     {"分行", "Branch"},
	"rep.level.county":     {"支行", "County"},
	"rep.level.outlet":     {"网点", "Outlet"},
	"rep.level.officer":    {"客户经理", "Officer"},

	"imp.upload":               {"上传监测名单", "Upload a monitoring list"},
	"imp.file":                 {"名单文件（CSV 或 XLSX）", "List file (CSV or XLSX)"},
	"imp.branch":               {"分行", "Branch"},
	"imp.preview.btn":          {"上传并预览", "Upload and preview"},
	"imp.hint":                 {"上传后先生成预览，确认无误后再提交；提交前名单不会有任何变化。", "An upload makes a preview; nothing changes until you commit it."},
	"imp.list":                 {"导入记录", "Imports"},
	"imp.search.hint":          {"文件名", "File name"},
	"imp.problems.hint":        {"行号、列名或说明", "Row number, column or message"},
	"imp.file.name":            {"文件", "File"},
	"imp.status":               {"状态", "Status"},
	"imp.status.previewed":     {"待提交", "Preview"},
	"imp.status.committed":     {"已提交", "Committed"},
	"imp.status.discarded":     {"已放弃", "Discarded"},
	"imp.version":              {"名单版本", "List version"},
	"imp.created":              {"上传时间", "Uploaded"},
	"imp.rows":                 {"数据行", "Rows"},
	"imp.errors":               {"错误", "Errors"},
	"imp.warnings":             {"提示", "Warnings"},
	"imp.preview":              {"名单导入预览", "Import preview"},
	"imp.summary":              {"预览汇总", "Summary"},
	"imp.new":                  {"新增", "New"},
	"imp.changed":              {"信息变更", "Changed"},
	"imp.risk_eliminated":      {"风险消除", "Risk eliminated"},
	"imp.returned":             {"重新纳入", "Returned"},
	"imp.removed":              {"移出名单", "Removed"},
	"imp.unchanged":            {"无变化", "Unchanged"},
	"imp.nooutlet":             {"无对应网点", "No outlet"},
	"imp.other":                {"非本行服务区县的行", "Rows of counties not served"},
	"imp.kind.added":           {"新增", "New"},
	"imp.kind.changed":         {"变更", "Changed"},
	"imp.kind.risk_eliminated": {"风险消除", "Risk eliminated"},
	"imp.kind.returned":        {"重新纳入", "Returned"},
	"imp.kind.removed":         {"移出", "Removed"},
	"imp.row":                  {"行号", "Row"},
	"imp.fields":               {"变更内容", "Changes"},
	"imp.problems":             {"逐行检查结果", "Row-level findings"},
	"imp.column":               {"列", "Column"},
	"imp.message":              {"说明", "Message"},
	"imp.severity.error":       {"错误", "Error"},
	"imp.severity.warning":     {"提示", "Warning"},
	"imp.commit":               {"提交导入", "Commit the import"},
	"imp.discard":              {"放弃", "Discard"},
	"imp.blocked":              {"文件有错误，修正后重新上传；有错误的文件整份都不能导入。", "The file has errors; fix them and upload again. A file with errors cannot be imported at all."},
	"imp.ok.committed":         {"已提交，名单已更新。", "Committed: the list has been updated."},
	"imp.ok.nochange":          {"名单与当前版本相同，无需更新。", "The list is the same as the current one; nothing changed."},
	"imp.ok.discarded":         {"已放弃该预览。", "The preview has been discarded."},

	"asg.filter.outlet":   {"网点", "Outlet"},
	"asg.filter.officer":  {"客户经理", "Officer"},
	"asg.filter.all":      {"全部", "All"},
	"asg.only.unassigned": {"只看未分配", "Unassigned only"},
	"asg.assign":          {"分配勾选的农户", "Assign the ticked households"},
	"asg.to":              {"分配给", "To"},
	"asg.due":             {"走访期限", "Visit by"},
	"asg.due.keep":        {"留空则沿用网点期限", "Leave empty to keep the outlet's deadline"},
	"asg.pick":            {"选择", "Pick"},
	"asg.deadline":        {"设置网点期限", "Set an outlet's deadline"},
	"asg.deadline.btn":    {"设置", "Set"},
	"asg.ok.assigned":     {"已分配。", "Assigned."},
	"asg.ok.deadline":     {"网点期限已更新。", "The outlet's deadline has been set."},

	"ev.distance_m":          {"距离（米）", "Distance (m)"},
	"ev.threshold_m":         {"阈值（米）", "Threshold (m)"},
	"ev.speed_kmh":           {"速度（公里/小时）", "Speed (km/h)"},
	"ev.max_speed_kmh":       {"速度上限", "Speed limit (km/h)"},
	"ev.distance_km":         {"距离（公里）", "Distance (km)"},
	"ev.minutes":             {"间隔（分钟）", "Interval (min)"},
	"ev.duration_s":          {"时长（秒）", "Duration (s)"},
	"ev.min_duration_s":      {"最短时长（秒）", "Minimum (s)"},
	"ev.offset_s":            {"偏差（秒）", "Offset (s)"},
	"ev.max_offset_s":        {"允许偏差（秒）", "Allowed (s)"},
	"ev.reason":              {"情形", "Reason"},
	"ev.day":                 {"日期", "Day"},
	"ev.due_on":              {"走访期限", "Due"},
	"ev.assigned_at":         {"分配时间", "Assigned"},
	"ev.ended_at":            {"分配结束", "Assignment ended"},
	"ev.visited_at":          {"走访时间", "Visited"},
	"ev.earlier_visited_at":  {"前次走访", "Earlier visit"},
	"ev.earlier_outcome":     {"前次结果", "Earlier outcome"},
	"ev.previous_visited_at": {"上一户走访", "Previous visit"},
	"ev.clock_suspect":       {"时钟可疑", "Clock suspect"},
	"ev.location_source":     {"户址来源", "Location from"},
	"ev.accuracy_m":          {"精度（米）", "Accuracy (m)"},
}
