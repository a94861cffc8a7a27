package coverage

// Outcome is how a household's month stands in the coverage ledger. This is
// the one definition: the ledger, sign-offs and monthly reports all classify
// through Classify.
type Outcome string

// Outcomes, in order of precedence: when a month holds several visits, the
// first that applies wins. Every outcome but missing is final.
const (
	OutcomeVisitedWithNeed Outcome = "visited_with_need" // visited, and a financing need was recorded this month
	OutcomeVisited         Outcome = "visited"           // visited, no need recorded
	OutcomeRefused         Outcome = "refused"           // the household refused the visit
	OutcomeMoved           Outcome = "moved"             // the household has moved away
	OutcomeAbsent          Outcome = "absent"            // nobody home at N or more attempts
	OutcomeRiskEliminated  Outcome = "risk_eliminated"   // the list marks the risk eliminated, and no visit says otherwise
	OutcomeMissing         Outcome = "missing"           // none of the above yet
)

// Outcomes lists every outcome in order of precedence.
var Outcomes = []Outcome{
	OutcomeVisitedWithNeed, OutcomeVisited, OutcomeRefused, OutcomeMoved,
	OutcomeAbsent, OutcomeRiskEliminated, OutcomeMissing,
}

// Final reports whether the outcome closes the household's month.
func (o Outcome) Final() bool { return o != OutcomeMissing && o != "" }

// MonthFacts are what a month's counted visits and the list say about one
// household. Visits a supervisor marked has_issues are not counted.
type MonthFacts struct {
	Visited        int  // visits with outcome visited
	Refused        int  // visits with outcome refused
	Moved          int  // visits with outcome moved
	Absent         int  // visits with outcome absent: the attempts
	Needs          int  // financing needs recorded for the household this month
	RiskEliminated bool // households.risk_eliminated
}

// DefaultAbsentAttempts is N when a branch has not set it: a household
// nobody was home at is accounted for after three attempts in the month.
const DefaultAbsentAttempts = 3

// Classify gives a household's month its outcome. absentAttempts is N; fewer
// absences than N leave the household missing (the ledger shows the
// attempts so far).
func Classify(f MonthFacts, absentAttempts int) Outcome {
	if absentAttempts < 1 {
		absentAttempts = DefaultAbsentAttempts
	}
	switch {
	case f.Visited > 0 && f.Needs > 0:
		return OutcomeVisitedWithNeed
	case f.Visited > 0:
		return OutcomeVisited
	case f.Refused > 0:
		return OutcomeRefused
	case f.Moved > 0:
		return OutcomeMoved
	case f.Absent >= absentAttempts:
		return OutcomeAbsent
	case f.RiskEliminated:
		return OutcomeRiskEliminated
	default:
		return OutcomeMissing
	}
}
