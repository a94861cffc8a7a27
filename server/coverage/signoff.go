package coverage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// ExemptionRequest is the body of POST /coverage/exemptions.
type ExemptionRequest struct {
	HouseholdID string `json:"household_id"`
	Month       string `json:"month"`
	Reason      string `json:"reason"`
}

// Exemption excuses one household from one month's visit.
type Exemption struct {
	ID          string    `json:"id"`
	HouseholdID string    `json:"household_id"`
	Month       string    `json:"month"`
	Reason      string    `json:"reason"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// text checks a free-text field: trimmed, required or not, at most max
// runes, valid UTF-8, no control characters but line breaks and tabs. It is
// stored verbatim otherwise: it only ever travels as a bound parameter.
func text(field, v string, required bool, max int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			return "", apperr.Invalid(field, "请填写"+fieldZH(field), field+" is required")
		}
		return "", nil
	}
	if !utf8.ValidString(v) {
		return "", apperr.Invalid(field, fieldZH(field)+"含有无效字符", field+" is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", apperr.Invalid(field, fmt.Sprintf("%s不能超过 %d 个字", fieldZH(field), max), fmt.Sprintf("%s is longer than %d characters", field, max)).With("max", max)
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f {
			return "", apperr.Invalid(field, fieldZH(field)+"含有控制字符", field+" contains control characters")
		}
	}
	return v, nil
}

func fieldZH(field string) string {
	switch field {
	case "reason":
		return "原因"
	case "note":
		return "备注"
	}
	return field
}

// Exempt records that a household needs no visit this month, with a reason.
func (s *Service) Exempt(ctx context.Context, a store.Actor, req ExemptionRequest) (Exemption, error) {
	if !MayReview(a) {
		return Exemption{}, apperr.Forbidden
	}
	if err := validID("household_id", req.HouseholdID, true); err != nil {
		return Exemption{}, err
	}
	if req.Month == "" {
		return Exemption{}, apperr.Invalid("month", "请填写月份（YYYY-MM）", "month is required (YYYY-MM)")
	}
	m, err := s.parseMonthParam(req.Month, false)
	if err != nil {
		return Exemption{}, err
	}
	reason, err := text("reason", req.Reason, true, MaxReasonRunes)
	if err != nil {
		return Exemption{}, err
	}
	var e store.CoverageExemption
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		e, err = tx.CreateCoverageExemption(a, req.HouseholdID, m.String(), reason)
		return err
	})
	if err != nil {
		if isConflict(err) {
			return Exemption{}, conflict("该户本月已有免访记录", "this household is already exempted for the month").With("month", m.String()).Wrap(err)
		}
		return Exemption{}, mapErr(err)
	}
	return Exemption{ID: e.ID, HouseholdID: e.HouseholdID, Month: e.Month, Reason: e.Reason, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt}, nil
}

// SignoffRequest is the body of POST /coverage/signoffs.
type SignoffRequest struct {
	OutletID     string `json:"outlet_id"`
	Month        string `json:"month"`
	Note         string `json:"note,omitempty"`
	SupersedesID string `json:"supersedes_id,omitempty"`
}

// Figures are what a sign-off certifies, frozen at the moment of signing.
type Figures struct {
	Month          string           `json:"month"`
	Outlet         ScopeInfo        `json:"outlet"`
	AbsentAttempts int              `json:"absent_attempts"`
	Summary        Summary          `json:"summary"`
	Officers       []OfficerFigures `json:"officers"`
	Households     []HouseholdMonth `json:"households"`
}

// OfficerFigures are one officer's figures in a sign-off.
type OfficerFigures struct {
	OfficerID string  `json:"officer_id"`
	Username  string  `json:"username,omitempty"`
	Summary   Summary `json:"summary"`
}

// HouseholdMonth is one household's outcome in a sign-off.
type HouseholdMonth struct {
	HouseholdID     string  `json:"household_id"`
	HouseholdNo     string  `json:"household_no"`
	OfficerID       string  `json:"officer_id,omitempty"`
	Outcome         Outcome `json:"outcome"`
	ExemptionReason string  `json:"exemption_reason,omitempty"`
}

// Signoff is a stored sign-off.
type Signoff struct {
	ID           string    `json:"id"`
	OutletID     string    `json:"outlet_id"`
	OutletCode   string    `json:"outlet_code,omitempty"`
	OutletName   string    `json:"outlet_name,omitempty"`
	Month        string    `json:"month"`
	SignedBy     string    `json:"signed_by"`
	SignerName   string    `json:"signer_name,omitempty"`
	SignedAt     time.Time `json:"signed_at"`
	Note         string    `json:"note,omitempty"`
	SupersedesID string    `json:"supersedes_id,omitempty"`
	SupersededBy string    `json:"superseded_by,omitempty"`
	Current      bool      `json:"current"`
	Figures      Figures   `json:"figures"`
}

func figuresOf(l Ledger) Figures {
	f := Figures{Month: l.Month, Outlet: l.Scope, AbsentAttempts: l.AbsentAttempts, Summary: l.Summary,
		Officers: make([]OfficerFigures, len(l.Officers)), Households: make([]HouseholdMonth, len(l.Households))}
	for i, o := range l.Officers {
		f.Officers[i] = OfficerFigures{OfficerID: o.OfficerID, Username: o.Username, Summary: o.Summary}
	}
	for i, h := range l.Households {
		f.Households[i] = HouseholdMonth{HouseholdID: h.HouseholdID, HouseholdNo: h.HouseholdNo, OfficerID: h.OfficerID, Outcome: h.Outcome, ExemptionReason: h.ExemptionReason}
	}
	return f
}

// maxListedMissing caps the household ids an incomplete-month error lists.
const maxListedMissing = 50

// SignOff certifies an outlet's month. Every household of the outlet must
// have a final outcome or an exemption; the ledger is computed and the
// sign-off stored in one transaction, so the figures signed are exactly
// those checked. A correction names the sign-off it supersedes.
func (s *Service) SignOff(ctx context.Context, a store.Actor, req SignoffRequest) (Signoff, error) {
	if !MayReview(a) {
		return Signoff{}, apperr.Forbidden
	}
	if err := validID("outlet_id", req.OutletID, true); err != nil {
		return Signoff{}, err
	}
	if err := validID("supersedes_id", req.SupersedesID, false); err != nil {
		return Signoff{}, err
	}
	if req.Month == "" {
		return Signoff{}, apperr.Invalid("month", "请填写月份（YYYY-MM）", "month is required (YYYY-MM)")
	}
	m, err := s.parseMonthParam(req.Month, false)
	if err != nil {
		return Signoff{}, err
	}
	note, err := text("note", req.Note, false, MaxNoteRunes)
	if err != nil {
		return Signoff{}, err
	}
	var (
		out    Signoff
		ledger Ledger
	)
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		sc, err := tx.ResolveCoverageScope(a, req.OutletID, "")
		if err != nil {
			return err
		}
		if sc.Kind != store.KindOutlet {
			return apperr.Invalid("outlet_id", "只能按网点签字确认", "a sign-off is for an outlet").With("kind", sc.Kind)
		}
		set, err := tx.CoverageSettingsOf(sc.BranchID)
		if err != nil {
			return err
		}
		from, to := m.Bounds(s.loc)
		facts, err := tx.CoverageLedger(a, sc, m.String(), from, to)
		if err != nil {
			return err
		}
		ledger = buildLedger(m, sc, set.AbsentAttempts, facts, nil, s.now())
		if !ledger.Complete() {
			var ids []string
			for _, r := range ledger.Households {
				if !r.Settled() && len(ids) < maxListedMissing {
					ids = append(ids, r.HouseholdID)
				}
			}
			return conflict(fmt.Sprintf("还有 %d 户既没有最终结果也没有免访原因，暂不能签字确认", ledger.Summary.Missing),
				fmt.Sprintf("%d households have neither a final outcome nor an exemption; the month cannot be signed off yet", ledger.Summary.Missing)).
				With("missing", ledger.Summary.Missing).With("household_ids", ids)
		}
		fig := figuresOf(ledger)
		body, err := json.Marshal(fig)
		if err != nil {
			return fmt.Errorf("encode figures: %w", err)
		}
		row := store.CoverageSignoff{OutletID: sc.ID, Month: m.String(), Note: note, Figures: string(body)}
		if req.SupersedesID != "" {
			row.SupersedesID = &req.SupersedesID
		}
		row, err = tx.CreateCoverageSignoff(a, row)
		if err != nil {
			return err
		}
		out = Signoff{ID: row.ID, OutletID: row.OutletID, OutletCode: sc.Code, OutletName: sc.Name, Month: row.Month, SignedBy: row.SignedBy,
			SignedAt: row.SignedAt, Note: row.Note, SupersedesID: req.SupersedesID, Current: true, Figures: fig}
		return nil
	})
	if errors.Is(err, store.ErrCoverageConflict) {
		return Signoff{}, conflict("该网点本月已有签字确认：更正须引用当前的签字记录（supersedes_id）",
			"the month is already signed off, or the correction does not reference the current sign-off (supersedes_id)").Wrap(err)
	}
	if err != nil {
		return Signoff{}, mapErr(err)
	}
	return out, nil
}

// isConflict reports a conflict, from the store or already as a client error.
func isConflict(err error) bool {
	if e, ok := apperr.As(err); ok {
		return e.Code == syncproto.CodeConflict
	}
	return errors.Is(err, store.ErrCoverageConflict)
}

// SignoffsRequest filters the sign-off list.
type SignoffsRequest struct {
	Month string
	OrgID string
}

// Signoffs lists the sign-offs of the scope's outlets, newest first; each
// says whether it is current or which sign-off superseded it.
func (s *Service) Signoffs(ctx context.Context, a store.Actor, req SignoffsRequest) ([]Signoff, error) {
	sc, month, err := s.signoffScope(ctx, a, req)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.CoverageSignoffs(ctx, a, sc, month)
	if err != nil {
		return nil, err
	}
	return signoffsOf(rows)
}
