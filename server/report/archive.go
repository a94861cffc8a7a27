package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Archive is a household's visit archive (走访档案): the household with its
// personal numbers masked, every period of responsibility, every visit,
// financing need and loan application, and the outcome of each month it was
// visited in, classified the way the coverage ledger classifies.
type Archive struct {
	Household   store.ReportArchiveHousehold    `json:"household"`
	Assignments []store.ReportArchiveAssignment `json:"assignments"`
	Visits      []store.ReportArchiveVisit      `json:"visits"`
	Needs       []store.ReportArchiveNeed       `json:"needs"`
	Loans       []store.ReportArchiveLoan       `json:"loans"`
	Outcomes    []MonthOutcome                  `json:"outcomes"`
	Officers    map[string]string               `json:"officers"` // officer id → username
	GeneratedAt time.Time                       `json:"generated_at"`
}

// MonthOutcome is how one month of the household stands.
type MonthOutcome struct {
	Month   string           `json:"month"`
	Outcome coverage.Outcome `json:"outcome"`
	Visits  int              `json:"visits"`
	Needs   int              `json:"needs"`
}

var errArchiveNotFound = apperr.New(syncproto.CodeNotFound, "农户不存在或不在您的管辖范围内", "no such household within your scope")

// HouseholdArchive exports a household's archive as json, xlsx or csv.
// The actor must reach the household (store.Actor.ScopeHouseholds).
func (s *Service) HouseholdArchive(ctx context.Context, a store.Actor, householdID, format, lang string) (body []byte, contentType, fileName string, err error) {
	if format == "" {
		format = "json"
	}
	if format != "json" && format != FormatXLSX && format != FormatCSV {
		return nil, "", "", apperr.Invalid("format", "格式应为 json、xlsx 或 csv", "format must be json, xlsx or csv").With("value", clip(format, 16))
	}
	if householdID == "" || len(householdID) > 64 {
		return nil, "", "", errArchiveNotFound
	}
	ar, err := s.archive(ctx, a, householdID)
	if err != nil {
		return nil, "", "", err
	}
	name := "doorstep-archive-" + ar.Household.HouseholdNo
	switch format {
	case FormatXLSX:
		b, err := ar.xlsx(lang)
		return b, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", name + ".xlsx", err
	case FormatCSV:
		b, err := ar.csv(lang)
		return b, "text/csv; charset=utf-8", name + ".csv", err
	}
	b, err := json.Marshal(ar)
	return b, "application/json; charset=utf-8", name + ".json", err
}

func (s *Service) archive(ctx context.Context, a store.Actor, id string) (Archive, error) {
	raw, err := s.db.ReportHouseholdArchive(ctx, a, id)
	if err == store.ErrNotFound {
		return Archive{}, errArchiveNotFound
	}
	if err != nil {
		return Archive{}, err
	}
	ar := Archive{Household: raw.Household, Assignments: raw.Assignments, Visits: raw.Visits, Needs: raw.Needs, Loans: raw.Loans,
		Officers: map[string]string{}, GeneratedAt: s.clock().Now}
	people, err := s.db.ReportPeople(ctx, raw.Household.BranchID)
	if err != nil {
		return Archive{}, err
	}
	note := func(id string) {
		if p, ok := people[id]; ok && id != "" {
			ar.Officers[id] = p.Username
		}
	}
	for _, as := range ar.Assignments {
		if as.OfficerID != nil {
			note(*as.OfficerID)
		}
	}
	for _, v := range ar.Visits {
		note(v.OfficerID)
	}
	for _, n := range ar.Needs {
		note(n.OfficerID)
	}
	for _, l := range ar.Loans {
		note(l.OfficerID)
	}
	attempts := coverage.DefaultAbsentAttempts
	if cs, err := s.db.CoverageSettingsOf(ctx, raw.Household.BranchID); err == nil && cs.AbsentAttempts > 0 {
		attempts = cs.AbsentAttempts
	}
	ar.Outcomes = s.outcomes(ar, attempts)
	if ar.Assignments == nil {
		ar.Assignments = []store.ReportArchiveAssignment{}
	}
	if ar.Visits == nil {
		ar.Visits = []store.ReportArchiveVisit{}
	}
	if ar.Needs == nil {
		ar.Needs = []store.ReportArchiveNeed{}
	}
	if ar.Loans == nil {
		ar.Loans = []store.ReportArchiveLoan{}
	}
	return ar, nil
}

// outcomes classifies each month with a visit or a need through the coverage
// ledger's one classification.
func (s *Service) outcomes(ar Archive, attempts int) []MonthOutcome {
	facts := map[string]*coverage.MonthFacts{}
	visits := map[string]int{}
	get := func(m string) *coverage.MonthFacts {
		if facts[m] == nil {
			facts[m] = &coverage.MonthFacts{RiskEliminated: ar.Household.RiskEliminated}
		}
		return facts[m]
	}
	visitMonth := map[string]string{}
	for _, v := range ar.Visits {
		m := store.ReportMonthOf(v.VisitedAt, s.loc)
		visitMonth[v.ID] = m
		if v.DeletedAt != nil {
			continue
		}
		visits[m]++
		f := get(m)
		if v.Status == syncproto.VisitHasIssues {
			continue // a visit a supervisor found wanting does not count
		}
		switch v.Outcome {
		case syncproto.OutcomeVisited:
			f.Visited++
		case syncproto.OutcomeRefused:
			f.Refused++
		case syncproto.OutcomeMoved:
			f.Moved++
		case syncproto.OutcomeAbsent:
			f.Absent++
		}
	}
	for _, n := range ar.Needs {
		if n.DeletedAt != nil {
			continue
		}
		m := store.ReportMonthOf(n.CreatedAt, s.loc)
		if n.VisitID != nil && visitMonth[*n.VisitID] != "" {
			m = visitMonth[*n.VisitID]
		}
		get(m).Needs++
	}
	out := make([]MonthOutcome, 0, len(facts))
	for m, f := range facts {
		out = append(out, MonthOutcome{Month: m, Outcome: coverage.Classify(*f, attempts), Visits: visits[m], Needs: f.Needs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Month < out[j].Month })
	return out
}

var archiveWords = map[string][2]string{
	"household": {"农户信息", "Household"}, "assignments": {"分配记录", "Assignments"}, "visits": {"走访记录", "Visits"},
	"needs": {"融资需求", "Financing needs"}, "loans": {"贷款申请", "Loan applications"}, "outcomes": {"月度结果", "Monthly outcomes"},
	"history": {"档案记录", "History"},
	"field":   {"项目", "Field"}, "value": {"内容", "Value"},
	"time": {"时间", "Time"}, "kind": {"类型", "Kind"}, "id": {"编号", "ID"}, "officer": {"客户经理", "Officer"},
	"state": {"结果/状态", "Outcome/status"}, "amount": {"金额（分）", "Amount (fen)"}, "text": {"说明", "Details"},
	"k_assignment": {"分配", "assignment"}, "k_visit": {"走访", "visit"}, "k_need": {"融资需求", "financing need"},
	"k_loan": {"贷款申请", "loan application"}, "deleted": {"（已删除）", "(deleted)"},
	"month": {"月份", "Month"}, "outcome": {"结果", "Outcome"}, "visitcount": {"走访次数", "Visits"}, "needcount": {"需求数", "Needs"},
	"hhno": {"户编号", "Household no."}, "head": {"户主姓名", "Head of household"}, "idmasked": {"身份证号（脱敏）", "ID number (masked)"},
	"phone": {"联系电话（脱敏）", "Phone (masked)"}, "address": {"地址", "Address"}, "family": {"家庭人口", "Family size"},
	"category": {"监测类别", "Category"}, "risk": {"风险类型", "Risk type"}, "eliminated": {"风险已消除", "Risk eliminated"},
	"list": {"名单状态", "List status"},
}

func aw(key, lang string) string {
	if lang == "en" {
		return archiveWords[key][1]
	}
	return archiveWords[key][0]
}

// event is one line of the archive's timeline.
type event struct {
	at                             time.Time
	kind, id, officer, state, text string
	amount                         string
}

func (ar Archive) timeline(lang string) []event {
	var out []event
	del := func(t *time.Time) string {
		if t != nil {
			return aw("deleted", lang)
		}
		return ""
	}
	for _, a := range ar.Assignments {
		off := ""
		if a.OfficerID != nil {
			off = ar.Officers[*a.OfficerID]
		}
		out = append(out, event{at: a.AssignedAt, kind: aw("k_assignment", lang), id: a.ID, officer: off, state: a.EndReason, text: a.OfficerDueOn})
	}
	for _, v := range ar.Visits {
		out = append(out, event{at: v.VisitedAt, kind: aw("k_visit", lang), id: v.ID, officer: ar.Officers[v.OfficerID],
			state: v.Outcome + "/" + v.Status + del(v.DeletedAt), text: v.Situation})
	}
	for _, n := range ar.Needs {
		out = append(out, event{at: n.CreatedAt, kind: aw("k_need", lang), id: n.ID, officer: ar.Officers[n.OfficerID],
			state: n.Status + del(n.DeletedAt), amount: strconv.FormatInt(n.AmountFen, 10), text: n.Purpose})
	}
	for _, l := range ar.Loans {
		out = append(out, event{at: l.CreatedAt, kind: aw("k_loan", lang), id: l.ID, officer: ar.Officers[l.OfficerID],
			state: l.Status + del(l.DeletedAt), amount: strconv.FormatInt(l.AmountFen, 10), text: l.Purpose})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

func (ar Archive) csv(lang string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	cw := csv.NewWriter(&buf)
	h := ar.Household
	cw.Write([]string{aw("hhno", lang), h.HouseholdNo, aw("head", lang), h.HeadName, aw("idmasked", lang), h.IDNumberMasked, aw("phone", lang), h.PhoneMasked})
	cw.Write([]string{aw("time", lang), aw("kind", lang), aw("id", lang), aw("officer", lang), aw("state", lang), aw("amount", lang), aw("text", lang)})
	for _, e := range ar.timeline(lang) {
		cw.Write([]string{e.at.UTC().Format(time.RFC3339), e.kind, e.id, e.officer, e.state, e.amount, e.text})
	}
	cw.Write([]string{})
	cw.Write([]string{aw("month", lang), aw("outcome", lang), aw("visitcount", lang), aw("needcount", lang)})
	for _, o := range ar.Outcomes {
		cw.Write([]string{o.Month, string(o.Outcome), strconv.Itoa(o.Visits), strconv.Itoa(o.Needs)})
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

func (ar Archive) xlsx(lang string) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	put := func(sheet string, rows [][]any) error {
		for i, r := range rows {
			c, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow(sheet, c, &r); err != nil {
				return err
			}
		}
		end, _ := excelize.CoordinatesToCellName(max(1, len(rows[0])), 1)
		return f.SetCellStyle(sheet, "A1", end, bold)
	}
	h := ar.Household
	first := aw("household", lang)
	if err := f.SetSheetName("Sheet1", first); err != nil {
		return nil, err
	}
	err = put(first, [][]any{
		{aw("field", lang), aw("value", lang)},
		{aw("hhno", lang), h.HouseholdNo}, {aw("head", lang), h.HeadName},
		{aw("idmasked", lang), h.IDNumberMasked}, {aw("phone", lang), h.PhoneMasked},
		{aw("address", lang), h.Province + h.City + h.County + h.Township + h.Village},
		{aw("family", lang), h.FamilySize}, {aw("category", lang), h.Category}, {aw("risk", lang), h.RiskType},
		{aw("eliminated", lang), h.RiskEliminated}, {aw("list", lang), h.ListStatus},
	})
	if err != nil {
		return nil, err
	}
	timeline := [][]any{{aw("time", lang), aw("kind", lang), aw("id", lang), aw("officer", lang), aw("state", lang), aw("amount", lang), aw("text", lang)}}
	for _, e := range ar.timeline(lang) {
		timeline = append(timeline, []any{e.at.UTC().Format(time.RFC3339), e.kind, e.id, e.officer, e.state, e.amount, e.text})
	}
	outcomes := [][]any{{aw("month", lang), aw("outcome", lang), aw("visitcount", lang), aw("needcount", lang)}}
	for _, o := range ar.Outcomes {
		outcomes = append(outcomes, []any{o.Month, string(o.Outcome), o.Visits, o.Needs})
	}
	for _, sh := range []struct {
		name string
		rows [][]any
	}{{aw("history", lang), timeline}, {aw("outcomes", lang), outcomes}} {
		if _, err := f.NewSheet(sh.name); err != nil {
			return nil, err
		}
		if err := put(sh.name, sh.rows); err != nil {
			return nil, fmt.Errorf("archive sheet: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
