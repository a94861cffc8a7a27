package store

import (
	"math"
	"strings"
)

// This file is the one definition of the monthly report figures: their codes,
// labels, meaning and the SQL that computes them. The report tables, the
// JSON API, the Excel and CSV files and docs/REPORTS.md all read this table.

// Figure units.
const (
	UnitHouseholds = "households"
	UnitVisits     = "visits"
	UnitLoans      = "applications"
	UnitFen        = "fen"
	UnitRate       = "rate" // a fraction between 0 and 1
	UnitDays       = "days"
	UnitSeconds    = "seconds"
	UnitCount      = "count"
)

// Where a stored figure is computed from. Each source is one SELECT in
// reportSources, one row per household, visit, need or loan application.
const (
	SourceHousehold = "household" // households the row answers for at the month's end
	SourceVisit     = "visit"     // visits the officer made in the month
	SourceNeed      = "need"      // financing needs of the row's households recorded in the month
	SourceLoan      = "loan"      // loan applications of the row's households with an event in the month
	SourceDerived   = "derived"   // computed from other figures when read, never stored
)

// ReportFigure defines one figure.
type ReportFigure struct {
	Code    string // JSON key, column name for stored figures
	LabelZH string
	LabelEN string
	Unit    string
	Source  string
	// SQL is the expression summed over the source's rows, in terms of the
	// source's columns (see reportSources). Empty for derived figures.
	SQL string
	// Basis marks figures stored only to derive others; they are not shown
	// in the Excel and CSV files.
	Basis bool
	// DefZH and DefEN say exactly what is counted.
	DefZH string
	DefEN string

	get    func(*ReportFigures) *int64
	derive func(ReportFigures) float64
}

// Value returns a stored figure's value, or a derived figure's computed value.
func (f ReportFigure) Value(r ReportFigures) float64 {
	if f.derive != nil {
		return f.derive(r)
	}
	return float64(*f.get(&r))
}

// Int returns a stored figure's value; 0 for derived figures.
func (f ReportFigure) Int(r ReportFigures) int64 {
	if f.get == nil {
		return 0
	}
	return *f.get(&r)
}

// Stored reports whether the figure is a column of the report tables.
func (f ReportFigure) Stored() bool { return f.get != nil }

// ReportFigureDefs lists every figure in report order.
var ReportFigureDefs = []ReportFigure{
	{
		Code: "households_in_list", LabelZH: "名单户数", LabelEN: "Households in the list", Unit: UnitHouseholds, Source: SourceHousehold,
		SQL:   "r.in_list",
		DefZH: "月末在监测名单上的户数：导入时间早于月末，且月末前未被移出名单。按月末时负责该户的网点和客户经理归属（月末无人负责的户计入所在支行或分行）。",
		DefEN: "Households on the monitoring list at the month's end: imported before the month ended and not removed before it. Counted for the outlet and officer responsible at the month's end (households nobody was responsible for count for their county sub-branch or the branch).",
		get:   func(r *ReportFigures) *int64 { return &r.HouseholdsInList },
	},
	{
		Code: "households_assigned", LabelZH: "已分配户数", LabelEN: "Households assigned", Unit: UnitHouseholds, Source: SourceHousehold,
		SQL:   "CASE WHEN r.in_list = 1 AND r.officer_id <> '' THEN 1 ELSE 0 END",
		DefZH: "名单户中月末已分配到客户经理的户数。",
		DefEN: "Households in the list that had a responsible loan officer at the month's end.",
		get:   func(r *ReportFigures) *int64 { return &r.HouseholdsAssigned },
	},
	{
		Code: "households_visited", LabelZH: "已走访户数", LabelEN: "Households visited", Unit: UnitHouseholds, Source: SourceHousehold,
		SQL:   "r.visited",
		DefZH: "名单户中本月至少有一次走访结果为“已走访”（入户见到农户）的户数，按校正后的走访时间计月；主管标记为“有问题”的走访和已删除的走访不计。",
		DefEN: "Households in the list with at least one visit this month whose outcome is visited (the officer met the household), by corrected visit time; visits a supervisor marked has_issues and deleted visits do not count.",
		get:   func(r *ReportFigures) *int64 { return &r.HouseholdsVisited },
	},
	{
		Code: "coverage_rate", LabelZH: "走访覆盖率", LabelEN: "Visit coverage rate", Unit: UnitRate, Source: SourceDerived,
		DefZH: "已走访户数 ÷ 名单户数，保留四位小数；名单户数为 0 时为 0。（主管核实台账的“覆盖率”另计拒访、搬迁、多次不在家、风险消除和豁免，口径不同。）",
		DefEN: "Households visited ÷ households in the list, to four places; 0 when the list is empty. (The supervisors' coverage ledger also counts refusals, moves, repeated absences, eliminated risks and exemptions, so its rate differs.)",
		derive: func(r ReportFigures) float64 {
			if r.HouseholdsInList == 0 {
				return 0
			}
			return math.Round(float64(r.HouseholdsVisited)/float64(r.HouseholdsInList)*10000) / 10000
		},
	},
	{
		Code: "visits_total", LabelZH: "走访次数", LabelEN: "Visits", Unit: UnitVisits, Source: SourceVisit,
		SQL:   "1",
		DefZH: "客户经理本月的全部走访记录（任何走访结果，含不在家），按校正后的走访时间计月，计入走访人及走访时所在网点；已删除的不计。",
		DefEN: "Every visit an officer recorded this month (any outcome, absences included), by corrected visit time, counted for the visiting officer and the outlet the visit was made for; deleted visits do not count.",
		get:   func(r *ReportFigures) *int64 { return &r.VisitsTotal },
	},
	{
		Code: "visits_first", LabelZH: "首次走访次数", LabelEN: "First visits", Unit: UnitVisits, Source: SourceVisit,
		SQL:   "v.is_first",
		DefZH: "走访次数中，该户有史以来第一次走访（按校正后的走访时间排序，同一时间按记录编号）的次数。",
		DefEN: "Visits that are the household's first visit ever (ordered by corrected visit time, then record id).",
		get:   func(r *ReportFigures) *int64 { return &r.VisitsFirst },
	},
	{
		Code: "visits_repeat", LabelZH: "回访次数", LabelEN: "Repeat visits", Unit: UnitVisits, Source: SourceVisit,
		SQL:   "1 - v.is_first",
		DefZH: "走访次数减去首次走访次数。",
		DefEN: "Visits minus first visits.",
		get:   func(r *ReportFigures) *int64 { return &r.VisitsRepeat },
	},
	{
		Code: "visits_confirmed", LabelZH: "已核实走访次数", LabelEN: "Visits confirmed", Unit: UnitVisits, Source: SourceVisit,
		SQL:   "CASE WHEN v.status = 'confirmed' THEN 1 ELSE 0 END",
		DefZH: "走访次数中，主管已核实确认的次数。",
		DefEN: "Visits a supervisor has confirmed.",
		get:   func(r *ReportFigures) *int64 { return &r.VisitsConfirmed },
	},
	{
		Code: "visits_flagged", LabelZH: "存疑走访次数", LabelEN: "Visits flagged", Unit: UnitVisits, Source: SourceVisit,
		SQL:   "CASE WHEN v.status = 'has_issues' OR v.flag_count > 0 THEN 1 ELSE 0 END",
		DefZH: "走访次数中，带有自动核查标记（如定位偏远、时长过短、时钟可疑）或被主管标记为“有问题”的次数。",
		DefEN: "Visits carrying an automatic check flag (location far off, too short, suspect clock, ...) or marked has_issues by a supervisor.",
		get:   func(r *ReportFigures) *int64 { return &r.VisitsFlagged },
	},
	{
		Code: "households_with_needs", LabelZH: "有融资需求户数", LabelEN: "Households with financing needs", Unit: UnitHouseholds, Source: SourceHousehold,
		SQL:   "r.has_need",
		DefZH: "本月登记了融资需求的户数。需求的月份取其关联走访的校正走访时间，无关联走访时取服务器收到的时间；任何状态均计，已删除的不计。",
		DefEN: "Households with a financing need recorded this month. A need's month is its linked visit's corrected time, or when the server received it if no visit is linked; any status counts, deleted needs do not.",
		get:   func(r *ReportFigures) *int64 { return &r.HouseholdsWithNeeds },
	},
	{
		Code: "needs_amount_fen", LabelZH: "融资需求金额（分）", LabelEN: "Amount needed (fen)", Unit: UnitFen, Source: SourceNeed,
		SQL:   "n.amount_fen",
		DefZH: "上述融资需求的金额合计，单位为分。",
		DefEN: "Sum of the amounts of those needs, in fen.",
		get:   func(r *ReportFigures) *int64 { return &r.NeedsAmountFen },
	},
	{
		Code: "loans_submitted", LabelZH: "贷款申请提交笔数", LabelEN: "Loan applications submitted", Unit: UnitLoans, Source: SourceLoan,
		SQL:   "l.submitted",
		DefZH: "提交时间在本月的贷款申请笔数（之后撤回或被拒的也计入）。",
		DefEN: "Loan applications submitted this month (including ones later withdrawn or rejected).",
		get:   func(r *ReportFigures) *int64 { return &r.LoansSubmitted },
	},
	{
		Code: "loans_submitted_fen", LabelZH: "贷款申请提交金额（分）", LabelEN: "Amount submitted (fen)", Unit: UnitFen, Source: SourceLoan,
		SQL:   "l.submitted * l.amount_fen",
		DefZH: "本月提交的贷款申请金额合计，单位为分。",
		DefEN: "Sum of the amounts of the applications submitted this month, in fen.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansSubmittedFen },
	},
	{
		Code: "loans_approved", LabelZH: "贷款审批通过笔数", LabelEN: "Loan applications approved", Unit: UnitLoans, Source: SourceLoan,
		SQL:   "l.approved",
		DefZH: "审批决定时间在本月、结果为通过（含之后已放款）的贷款申请笔数。",
		DefEN: "Applications decided this month and approved (including ones since disbursed).",
		get:   func(r *ReportFigures) *int64 { return &r.LoansApproved },
	},
	{
		Code: "loans_approved_fen", LabelZH: "贷款审批通过金额（分）", LabelEN: "Amount approved (fen)", Unit: UnitFen, Source: SourceLoan,
		SQL:   "l.approved * l.amount_fen",
		DefZH: "本月审批通过的贷款申请金额合计，单位为分。",
		DefEN: "Sum of the amounts approved this month, in fen.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansApprovedFen },
	},
	{
		Code: "loans_rejected", LabelZH: "贷款审批拒绝笔数", LabelEN: "Loan applications rejected", Unit: UnitLoans, Source: SourceLoan,
		SQL:   "l.rejected",
		DefZH: "审批决定时间在本月、结果为拒绝的贷款申请笔数。",
		DefEN: "Applications decided this month and rejected.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansRejected },
	},
	{
		Code: "loans_rejected_fen", LabelZH: "贷款审批拒绝金额（分）", LabelEN: "Amount rejected (fen)", Unit: UnitFen, Source: SourceLoan,
		SQL:   "l.rejected * l.amount_fen",
		DefZH: "本月被拒绝的贷款申请金额合计，单位为分。",
		DefEN: "Sum of the amounts rejected this month, in fen.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansRejectedFen },
	},
	{
		Code: "loans_disbursed", LabelZH: "贷款放款笔数", LabelEN: "Loans disbursed", Unit: UnitLoans, Source: SourceLoan,
		SQL:   "l.disbursed",
		DefZH: "放款时间在本月的贷款笔数。",
		DefEN: "Applications disbursed this month.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansDisbursed },
	},
	{
		Code: "loans_disbursed_fen", LabelZH: "贷款放款金额（分）", LabelEN: "Amount disbursed (fen)", Unit: UnitFen, Source: SourceLoan,
		SQL:   "l.disbursed * l.amount_fen",
		DefZH: "本月放款金额合计，单位为分。贷款申请按月末时负责该户的网点和客户经理归属。",
		DefEN: "Sum of the amounts disbursed this month, in fen. Loan applications count for the outlet and officer responsible for the household at the month's end.",
		get:   func(r *ReportFigures) *int64 { return &r.LoansDisbursedFen },
	},
	{
		Code: "assignments_overdue", LabelZH: "逾期未走访户数", LabelEN: "Overdue assignments", Unit: UnitHouseholds, Source: SourceHousehold,
		SQL:   "r.overdue",
		DefZH: "名单户中，月末负责的客户经理走访期限已过（当月为截至今天，期限当天不算逾期），而自分配以来到月末仍没有一次计入的“已走访”走访的户数。",
		DefEN: "Households in the list whose responsible officer's deadline had passed (for the current month: before today; the deadline day itself is not overdue) and that had no counted visit with outcome visited between the assignment and the month's end.",
		get:   func(r *ReportFigures) *int64 { return &r.AssignmentsOverdue },
	},
	{
		Code: "avg_days_to_first_visit", LabelZH: "分配至首次走访平均天数", LabelEN: "Average days from assignment to first visit", Unit: UnitDays, Source: SourceDerived,
		DefZH: "首次走访等待秒数合计 ÷ 首次走访户数 ÷ 86400，保留一位小数；无此类户时为 0。",
		DefEN: "First-visit wait seconds ÷ households first visited ÷ 86,400, to one decimal; 0 when there are none.",
		derive: func(r ReportFigures) float64 {
			if r.FirstVisitWaitCount == 0 {
				return 0
			}
			return math.Round(float64(r.FirstVisitWaitSeconds)/float64(r.FirstVisitWaitCount)/86400*10) / 10
		},
	},
	{
		Code: "first_visit_wait_seconds", LabelZH: "首次走访等待秒数", LabelEN: "First-visit wait (seconds)", Unit: UnitSeconds, Source: SourceHousehold, Basis: true,
		SQL:   "CASE WHEN r.first_visit_in_month = 1 THEN EPOCH_OF(r.first_visit_at) - EPOCH_OF(r.assigned_at) ELSE 0 END",
		DefZH: "月末负责的客户经理分配之后的第一次走访（任何结果）发生在本月的户，从分配到该次走访的秒数合计。",
		DefEN: "For households whose first visit (any outcome) after their assignment to the officer responsible at the month's end fell in this month: the seconds from the assignment to that visit, summed.",
		get:   func(r *ReportFigures) *int64 { return &r.FirstVisitWaitSeconds },
	},
	{
		Code: "first_visit_wait_count", LabelZH: "首次走访户数", LabelEN: "Households first visited", Unit: UnitHouseholds, Source: SourceHousehold, Basis: true,
		SQL:   "r.first_visit_in_month",
		DefZH: "上述户的户数。",
		DefEN: "The number of those households.",
		get:   func(r *ReportFigures) *int64 { return &r.FirstVisitWaitCount },
	},
}

// ReportFigureByCode finds a figure definition.
func ReportFigureByCode(code string) (ReportFigure, bool) {
	for _, f := range ReportFigureDefs {
		if f.Code == code {
			return f, true
		}
	}
	return ReportFigure{}, false
}

// reportStored lists the stored figures in column order.
func reportStored() []ReportFigure {
	var out []ReportFigure
	for _, f := range ReportFigureDefs {
		if f.Stored() {
			out = append(out, f)
		}
	}
	return out
}

// reportFigureColumns is the stored figure columns, comma-separated.
func reportFigureColumns(prefix string) string {
	var b strings.Builder
	for i, f := range reportStored() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + f.Code)
	}
	return b.String()
}

// AddFigures adds b's stored figures to a's.
func AddFigures(a *ReportFigures, b ReportFigures) {
	for _, f := range reportStored() {
		*f.get(a) += *f.get(&b)
	}
}

// Counted visit outcome and review states, shared by the figures and the list
// of households still missing.
const (
	reportVisitedOutcome = "visited"
	reportIssuesStatus   = "has_issues"
)

// reportSources are the SELECTs the stored figures sum over. Named
// parameters: @b branch, @s and @t the month's bounds (UTC), @asof the local
// date overdue is judged at. {{OFFICERS}} filters the officers recomputed.
//
// r: households the officer (or nobody, officer_id ”) answers for at the
// month's end, from the assignment covering that instant, with helper columns.
// v: the month's visits by the officers. n, l: needs and loan applications of
// the households in r.
const reportRespSQL = `
SELECT h.id AS household_id, COALESCE(o.parent_id, '') AS county_id, a.outlet_id AS outlet_id,
       COALESCE(a.officer_id, '') AS officer_id, a.assigned_at AS assigned_at, a.officer_due_on AS due_on,
       ` + reportInListSQL + ` AS in_list
FROM assignments a
JOIN households h ON h.branch_id = a.branch_id AND h.id = a.household_id
LEFT JOIN org_units o ON o.id = a.outlet_id
WHERE a.branch_id = @b AND {{ASSIGNED}} AND a.assigned_at < @t AND (a.ended_at IS NULL OR a.ended_at >= @t)
  AND h.created_at < @t
  AND NOT EXISTS (SELECT 1 FROM assignments a2 WHERE a2.branch_id = a.branch_id AND a2.household_id = a.household_id
      AND a2.assigned_at < @t AND (a2.ended_at IS NULL OR a2.ended_at >= @t)
      AND (a2.assigned_at > a.assigned_at OR (a2.assigned_at = a.assigned_at AND a2.id > a.id)))`

// Households nobody was assigned at the month's end count for their county.
const reportUnassignedSQL = `
SELECT h.id AS household_id, COALESCE(h.county_id, '') AS county_id, '' AS outlet_id, '' AS officer_id,
       NULL AS assigned_at, '' AS due_on, ` + reportInListSQL + ` AS in_list
FROM households h
WHERE h.branch_id = @b AND h.created_at < @t
  AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.branch_id = h.branch_id AND a.household_id = h.id
      AND a.assigned_at < @t AND (a.ended_at IS NULL OR a.ended_at >= @t))`

const reportInListSQL = `CASE WHEN (h.removed_at IS NULL OR h.removed_at >= @t)
            AND NOT (h.list_status = 'removed' AND h.removed_at IS NULL) THEN 1 ELSE 0 END`

// reportVisitCounted: a visit with outcome visited that a supervisor has not
// marked has_issues. x is the visits alias, r the household.
const reportVisitCounted = `x.branch_id = @b AND x.household_id = r.household_id AND x.deleted_at IS NULL
      AND x.outcome = '` + reportVisitedOutcome + `' AND x.status <> '` + reportIssuesStatus + `'`

// The sources are materialised common table expressions, each computed once
// and set-based: the visits of the households in r are aggregated per
// household with one join (not probed per row), and a visit's "first ever"
// is decided against its household's earliest visit.
//
// hv: per household of r, from its visits before the month's end: visited
// this month (counted), visited since the assignment (counted), and the
// first visit (any outcome) since the assignment.
const reportHouseholdVisitsSQL = `
SELECT r.household_id,
  MAX(CASE WHEN ` + reportCountedX + ` AND x.visited_at >= @s THEN 1 ELSE 0 END) AS visited,
  MAX(CASE WHEN ` + reportCountedX + ` AND x.visited_at >= r.assigned_at THEN 1 ELSE 0 END) AS visited_since,
  MIN(CASE WHEN x.visited_at >= r.assigned_at THEN x.visited_at END) AS first_visit_at
FROM resp r
JOIN visits x ON x.branch_id = @b AND x.household_id = r.household_id
WHERE x.deleted_at IS NULL AND x.visited_at < @t
GROUP BY r.household_id`

// reportCountedX: visit x has outcome visited and no supervisor marked it has_issues.
const reportCountedX = `(x.outcome = '` + reportVisitedOutcome + `' AND x.status <> '` + reportIssuesStatus + `')`

// nm: the needs of the households of r recorded in the month (a need's
// month is its linked visit's, else when it was received).
const reportNeedMonthSQL = `
SELECT r.household_id, r.county_id, r.outlet_id, r.officer_id, x.amount_fen AS amount_fen
FROM financing_needs x
JOIN resp r ON r.household_id = x.household_id
LEFT JOIN visits xv ON xv.branch_id = x.branch_id AND xv.id = x.visit_id
WHERE x.branch_id = @b AND x.deleted_at IS NULL
  AND COALESCE(xv.visited_at, x.created_at) >= @s AND COALESCE(xv.visited_at, x.created_at) < @t`

// hsrc, the household source.
const reportHouseholdSQL = `
SELECT q.*,
  CASE WHEN q.officer_id <> '' AND q.first_visit_at >= @s AND q.first_visit_at < @t THEN 1 ELSE 0 END AS first_visit_in_month
FROM (SELECT r.household_id, r.county_id, r.outlet_id, r.officer_id, r.assigned_at, r.in_list,
  CASE WHEN r.in_list = 1 AND COALESCE(hv.visited, 0) = 1 THEN 1 ELSE 0 END AS visited,
  CASE WHEN EXISTS (SELECT 1 FROM nm WHERE nm.household_id = r.household_id) THEN 1 ELSE 0 END AS has_need,
  CASE WHEN r.in_list = 1 AND r.officer_id <> '' AND r.due_on <> '' AND r.due_on < @asof
      AND COALESCE(hv.visited_since, 0) = 0 THEN 1 ELSE 0 END AS overdue,
  CASE WHEN r.officer_id <> '' THEN hv.first_visit_at END AS first_visit_at
FROM resp r LEFT JOIN hv ON hv.household_id = r.household_id) q`

// vm: the month's visits by the officers recomputed; fv: the earliest visit
// time of each of their households ({{FIRSTS}} narrows it to those
// households when a few officers are recomputed; a whole month scans once).
const reportMonthVisitsSQL = `
SELECT v.id, v.household_id, v.visited_at, COALESCE(o.parent_id, '') AS county_id, COALESCE(v.outlet_id, '') AS outlet_id,
  v.officer_id AS officer_id, v.status AS status, JSON_LEN(v.flags) AS flag_count
FROM visits v
LEFT JOIN org_units o ON o.id = v.outlet_id
WHERE v.branch_id = @b AND {{VISITORS}} AND v.deleted_at IS NULL AND v.visited_at >= @s AND v.visited_at < @t`

const reportFirstVisitsSQL = `
SELECT p.household_id, MIN(p.visited_at) AS first_at
FROM visits p
WHERE p.branch_id = @b AND p.deleted_at IS NULL AND {{FIRSTS}}
GROUP BY p.household_id`

// vsrc, the visit source. Two visits at the very same time: the smaller id is first.
const reportVisitSQL = `
SELECT vm.county_id, vm.outlet_id, vm.officer_id, vm.status, vm.flag_count,
  CASE WHEN vm.visited_at <> fv.first_at THEN 0
       WHEN EXISTS (SELECT 1 FROM visits p WHERE p.branch_id = @b AND p.household_id = vm.household_id
           AND p.deleted_at IS NULL AND p.visited_at = vm.visited_at AND p.id < vm.id) THEN 0
       ELSE 1 END AS is_first
FROM vm JOIN fv ON fv.household_id = vm.household_id`

// nsrc and lsrc, the need and loan sources.
const reportNeedSQL = `SELECT nm.county_id, nm.outlet_id, nm.officer_id, nm.amount_fen FROM nm`

const reportLoanSQL = `
SELECT r.county_id, r.outlet_id, r.officer_id, x.amount_fen AS amount_fen,
  CASE WHEN x.submitted_at >= @s AND x.submitted_at < @t THEN 1 ELSE 0 END AS submitted,
  CASE WHEN x.status IN ('approved', 'disbursed') AND x.decided_at >= @s AND x.decided_at < @t THEN 1 ELSE 0 END AS approved,
  CASE WHEN x.status = 'rejected' AND x.decided_at >= @s AND x.decided_at < @t THEN 1 ELSE 0 END AS rejected,
  CASE WHEN x.status = 'disbursed' AND x.disbursed_at >= @s AND x.disbursed_at < @t THEN 1 ELSE 0 END AS disbursed
FROM loan_applications x
JOIN resp r ON r.household_id = x.household_id
WHERE x.branch_id = @b AND x.deleted_at IS NULL
  AND ((x.submitted_at >= @s AND x.submitted_at < @t) OR (x.decided_at >= @s AND x.decided_at < @t)
       OR (x.disbursed_at >= @s AND x.disbursed_at < @t))`

// reportSourceSQL maps a source to its CTE and the alias the figures use.
var reportSourceSQL = []struct{ source, cte, alias string }{
	{SourceHousehold, "hsrc", "r"},
	{SourceVisit, "vsrc", "v"},
	{SourceNeed, "nsrc", "n"},
	{SourceLoan, "lsrc", "l"},
}

// reportComputeSQL builds the statement that recomputes officer rows: the
// figures of each source summed per (county, outlet, officer).
func reportComputeSQL(dialect string, withUnassigned bool) string {
	resp := reportRespSQL
	if withUnassigned {
		resp += "\nUNION ALL" + reportUnassignedSQL
	}
	ctes := []struct{ name, sql string }{
		{"resp", resp},
		{"hv", reportHouseholdVisitsSQL},
		{"nm", reportNeedMonthSQL},
		{"hsrc", reportHouseholdSQL},
		{"vm", reportMonthVisitsSQL},
		{"fv", reportFirstVisitsSQL},
		{"vsrc", reportVisitSQL},
		{"nsrc", reportNeedSQL},
		{"lsrc", reportLoanSQL},
	}
	var with []string
	for _, c := range ctes {
		with = append(with, c.name+" AS MATERIALIZED ("+c.sql+")")
	}
	var parts []string
	for _, src := range reportSourceSQL {
		var b strings.Builder
		a := src.alias
		b.WriteString("SELECT " + a + ".county_id, " + a + ".outlet_id, " + a + ".officer_id")
		n := 0
		for _, f := range reportStored() {
			if f.Source == src.source {
				b.WriteString(", SUM(" + f.SQL + ") AS " + f.Code)
				n++
			} else {
				b.WriteString(", 0 AS " + f.Code)
			}
		}
		if n == 0 {
			continue
		}
		b.WriteString(" FROM " + src.cte + " " + a + " GROUP BY " + a + ".county_id, " + a + ".outlet_id, " + a + ".officer_id")
		parts = append(parts, b.String())
	}
	var sums strings.Builder
	for _, f := range reportStored() {
		sums.WriteString(", SUM(p." + f.Code + ")")
	}
	q := "WITH " + strings.Join(with, ",\n") + "\n" +
		"INSERT INTO report_rows (branch_id, month, level, county_id, outlet_id, officer_id, " + reportFigureColumns("") + ", updated_at)\n" +
		"SELECT @b, @m, 'officer', p.county_id, p.outlet_id, p.officer_id" + sums.String() + ", @now FROM (\n" +
		strings.Join(parts, "\nUNION ALL\n") + "\n) p GROUP BY p.county_id, p.outlet_id, p.officer_id"
	return reportDialect(dialect, q)
}

// reportDialect rewrites the two non-portable expressions: EPOCH_OF(col),
// whole seconds since the epoch, and JSON_LEN(col), the length of a JSON
// array (0 for anything else).
func reportDialect(dialect, q string) string {
	if dialect == Postgres {
		q = reportRewrite(q, "EPOCH_OF(", func(col string) string { return "FLOOR(EXTRACT(EPOCH FROM " + col + "))::bigint" })
		return reportRewrite(q, "JSON_LEN(", func(col string) string {
			return "jsonb_array_length(CASE WHEN jsonb_typeof(" + col + ") = 'array' THEN " + col + " ELSE '[]'::jsonb END)"
		})
	}
	q = reportRewrite(q, "EPOCH_OF(", func(col string) string { return "unixepoch(" + col + ")" })
	return reportRewrite(q, "JSON_LEN(", func(col string) string {
		return "CASE WHEN json_valid(" + col + ") THEN json_array_length(" + col + ") ELSE 0 END"
	})
}

// reportRewrite replaces tok(col) with with(col); col holds no parentheses.
func reportRewrite(q, tok string, with func(string) string) string {
	for {
		i := strings.Index(q, tok)
		if i < 0 {
			return q
		}
		j := strings.IndexByte(q[i:], ')')
		q = q[:i] + with(q[i+len(tok):i+j]) + q[i+j+1:]
	}
}
