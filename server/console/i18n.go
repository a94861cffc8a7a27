package console

import (
	"fmt"
	"net/http"

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
	msgBadLogin     = message{"用户名或密码错误", "Wrong username or password"}
	msgOfficer      = message{"您好！客户经理请使用手机上的“入户走访”应用办理业务，管理台仅供网点主管、分行经理和管理员使用。", "Hello! Loan officers work in the phone app; this console is for supervisors, branch managers and administrators."}
	msgDisabled     = message{"账号已停用，请联系管理员", "This account is disabled; contact your administrator"}
	msgNotFound     = message{"记录不存在或不在您的权限范围内", "Not found, or outside your scope"}
	msgForbidden    = message{"您无权执行此操作", "You are not allowed to do this"}
	msgInternal     = message{"服务器内部错误，请稍后重试", "Internal error; try again later"}
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

	"missing.service": {"此页所需的服务尚未上线：", "This page needs a service that is not available yet: "},

	"hh.title":       {"监测户", "Households"},
	"hh.no":          {"户编号", "Household no."},
	"hh.head":        {"户主", "Head of household"},
	"hh.id":          {"身份证号", "ID number"},
	"hh.phone":       {"联系电话", "Phone"},
	"hh.village":     {"村", "Village"},
	"hh.township":    {"乡镇", "Township"},
	"hh.county":      {"区县", "County"},
	"hh.outlet":      {"网点", "Outlet"},
	"hh.officer":     {"客户经理", "Officer"},
	"hh.due":         {"走访期限", "Visit due"},
	"hh.size":        {"家庭人口", "Family size"},
	"hh.category":    {"监测类型", "Category"},
	"hh.risk":        {"风险类型", "Risk"},
	"hh.labor":       {"有劳动力", "Has labour"},
	"hh.eliminated":  {"风险已消除", "Risk eliminated"},
	"hh.notes":       {"情况说明", "Situation"},
	"hh.status":      {"名单状态", "List status"},
	"hh.removed":     {"已移出名单", "Removed from the list"},
	"hh.active":      {"在册", "On the list"},
	"hh.lastvisit":   {"最近走访", "Last visit"},
	"hh.archive":     {"走访档案", "Visit archive"},
	"hh.reveal":      {"查看完整号码", "Reveal full numbers"},
	"hh.reveal.note": {"查看将记入审计日志。", "Every reveal is recorded in the audit log."},
	"hh.revealed":    {"完整号码（已记录审计）", "Full numbers (audited)"},
	"hh.unassigned":  {"未分配", "Unassigned"},
	"hh.yes":         {"是", "Yes"},
	"hh.no.word":     {"否", "No"},

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
