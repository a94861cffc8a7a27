package coverage

import (
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		facts MonthFacts
		n     int
		want  Outcome
	}{
		{"nothing yet", MonthFacts{}, 3, OutcomeMissing},
		{"visited", MonthFacts{Visited: 1}, 3, OutcomeVisited},
		{"visited with a need", MonthFacts{Visited: 1, Needs: 2}, 3, OutcomeVisitedWithNeed},
		{"a need without a visit is not a visit", MonthFacts{Needs: 1}, 3, OutcomeMissing},
		{"visited beats refused and absent", MonthFacts{Visited: 1, Refused: 1, Absent: 5}, 3, OutcomeVisited},
		{"refused", MonthFacts{Refused: 1}, 3, OutcomeRefused},
		{"refused beats moved", MonthFacts{Refused: 1, Moved: 1}, 3, OutcomeRefused},
		{"moved", MonthFacts{Moved: 1, Absent: 1}, 3, OutcomeMoved},
		{"two absences of three are still missing", MonthFacts{Absent: 2}, 3, OutcomeMissing},
		{"three absences of three", MonthFacts{Absent: 3}, 3, OutcomeAbsent},
		{"N is configurable", MonthFacts{Absent: 2}, 2, OutcomeAbsent},
		{"N below one falls back to the default", MonthFacts{Absent: 2}, 0, OutcomeMissing},
		{"risk eliminated and not visited", MonthFacts{RiskEliminated: true}, 3, OutcomeRiskEliminated},
		{"risk eliminated but visited", MonthFacts{RiskEliminated: true, Visited: 1}, 3, OutcomeVisited},
		{"risk eliminated with one absence", MonthFacts{RiskEliminated: true, Absent: 1}, 3, OutcomeRiskEliminated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.facts, tt.n)
			if got != tt.want {
				t.Fatalf("Classify(%+v, %d) = %s, want %s", tt.facts, tt.n, got, tt.want)
			}
			if got.Final() != (tt.want != OutcomeMissing) {
				t.Fatalf("%s.Final() = %v", got, got.Final())
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rows := []LedgerRow{
		{Outcome: OutcomeVisited, Final: true},
		{Outcome: OutcomeVisitedWithNeed, Final: true},
		{Outcome: OutcomeAbsent, Final: true},
		{Outcome: OutcomeMissing, Exempted: true},
		{Outcome: OutcomeMissing},
	}
	s := Summarize(rows)
	want := Summary{Households: 5, Visited: 1, VisitedWithNeed: 1, Absent: 1, Covered: 3, Exempted: 1, Missing: 1, CoverageRate: 0.75}
	if s != want {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
	if got := Summarize(nil).CoverageRate; got != 1 {
		t.Fatalf("an empty ledger's rate is %v, want 1", got)
	}
}

func TestParseMonth(t *testing.T) {
	good := map[string]Month{"2026-11": {2026, time.November}, "2027-01": {2027, time.January}}
	for in, want := range good {
		got, err := ParseMonth(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseMonth(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "2026-11-01", "1999-12", "２０２６-11", "2026-11'; DROP TABLE visits; --"} {
		if _, err := ParseMonth(in); err == nil {
			t.Errorf("ParseMonth(%q) accepted", in)
		}
	}
}

func TestMonthBoundsAreLocal(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no tz data")
	}
	from, to := Month{2026, time.November}.Bounds(loc)
	if want := time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC); !from.Equal(want) {
		t.Fatalf("from = %v, want %v", from, want)
	}
	if want := time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC); !to.Equal(want) {
		t.Fatalf("to = %v, want %v", to, want)
	}
	// 1 November 00:30 in Shanghai is still 31 October in UTC, and counts in November.
	v := time.Date(2026, 10, 31, 16, 30, 0, 0, time.UTC)
	if MonthOf(v, loc) != (Month{2026, time.November}) {
		t.Fatalf("MonthOf(%v) = %v", v, MonthOf(v, loc))
	}
}

// FuzzParseMonth: whatever comes in a query string, ParseMonth either
// refuses it or returns a real month that prints back as the input and
// spans 28 to 31 days.
func FuzzParseMonth(f *testing.F) {
	for _, s := range []string{"2026-11", "2026-13", "2026-00", "0000-01", "2999-12", "2026-1", "２０２６-11", "2026-11\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMonth(s)
		if err != nil {
			return
		}
		if m.String() != s {
			t.Fatalf("ParseMonth(%q) prints as %q", s, m.String())
		}
		from, to := m.Bounds(time.UTC)
		if d := to.Sub(from); d < 28*24*time.Hour || d > 31*24*time.Hour {
			t.Fatalf("%s spans %v", s, d)
		}
	})
}
