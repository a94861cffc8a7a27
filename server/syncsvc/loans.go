package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// DecideLoan moves a loan application along the bank's side of the state
// machine (LoanTransitions with By "bank"): review, approve, reject,
// disburse. Supervisors and branch managers decide for the households they
// reach. The change is recorded, so the officer's device learns it on its
// next pull, and a device edit that arrives later loses to it.
func (s *Service) DecideLoan(ctx context.Context, a store.Actor, id, to, note string) (syncproto.LoanApplication, error) {
	if a.Role != store.RoleSupervisor && a.Role != store.RoleBranchManager {
		return syncproto.LoanApplication{}, apperr.New(syncproto.CodeForbidden, "只有主管和分行经理可以审批贷款", "only supervisors and branch managers decide loans")
	}
	switch to {
	case syncproto.LoanUnderReview, syncproto.LoanApproved, syncproto.LoanRejected, syncproto.LoanDisbursed:
	default:
		return syncproto.LoanApplication{}, apperr.Invalid("status", "status 应为 under_review、approved、rejected 或 disbursed",
			"status must be under_review, approved, rejected or disbursed")
	}
	if len(note) > syncproto.MaxFieldBytes || strings.IndexByte(note, 0) >= 0 {
		return syncproto.LoanApplication{}, apperr.Invalid("note", "备注过长或含有不允许的字符", "note is too long or holds characters that are not allowed")
	}
	if !safeID.MatchString(id) {
		return syncproto.LoanApplication{}, apperr.NotFound
	}
	var out syncproto.LoanApplication
	var err error
	for attempt := 1; attempt <= maxPushAttempts; attempt++ {
		err = s.db.Transact(ctx, func(tx *store.Tx) error {
			l, _, err := tx.LoanInScope(a, id)
			if err != nil {
				return err
			}
			if !loanMoveAllowed(l.Status, to, "bank") {
				return apperr.New(syncproto.CodeConflict,
					fmt.Sprintf("申请当前为 %s，不能改为 %s", l.Status, to),
					fmt.Sprintf("the application is %s and cannot move to %s", l.Status, to)).
					With("from", l.Status).With("to", to)
			}
			now := store.Now()
			from := l.Status
			l.Status, l.Version, l.UpdatedAt = to, l.Version+1, now
			switch to {
			case syncproto.LoanApproved, syncproto.LoanRejected:
				l.DecidedBy, l.DecidedAt, l.DecisionNote = &a.UserID, &now, note
			case syncproto.LoanDisbursed:
				l.DisbursedAt = &now
			}
			if note != "" {
				l.DecisionNote = note
			}
			if err := tx.SaveLoanDecision(l); err != nil {
				return err
			}
			out = loanWire(&l)
			return tx.Audit(a, "loan.decision", "loan_application", l.ID, map[string]string{"from": from, "to": to})
		})
		if !errors.Is(err, store.ErrWriteRace) {
			break
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return out, apperr.NotFound
	}
	return out, err
}
