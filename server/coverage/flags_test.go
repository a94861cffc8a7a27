package coverage

import (
	"math"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
)

func ptr[T any](v T) *T { return &v }

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

var defaultThresholds = thresholdsOf(store.DefaultCoverageSettings("b"))

// A clean visit: GPS good, at the household, ten minutes long, clock right,
// inside the assignment, on the officer's device.
func cleanInput() FlagInput {
	at := time.Date(2026, 11, 10, 2, 0, 0, 0, time.UTC)
	end := at.Add(10 * time.Minute)
	return FlagInput{
		Visit: store.Visit{
			ID: "v2", BranchID: "b", HouseholdID: "h1", OfficerID: "o1", DeviceID: ptr("d1"), Outcome: "visited",
			Lat: ptr(28.45), Lng: ptr(108.99), AccuracyM: ptr(12.0), StartedAt: at, EndedAt: &end, VisitedAt: at,
		},
		Household:   store.Household{ID: "h1", Lat: ptr(28.4502), Lng: ptr(108.9901), LocationSource: "list"},
		Assignments: []store.Assignment{{ID: "a1", HouseholdID: "h1", OfficerID: ptr("o1"), AssignedAt: at.AddDate(0, -1, 0), OfficerDueOn: "2026-11-30"}},
		Devices:     []string{"d1"},
	}
}

func codes(fs []Flag) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func TestComputeFlags(t *testing.T) {
	tests := []struct {
		name   string
		change func(in *FlagInput)
		want   []string
		check  func(t *testing.T, fs []Flag)
	}{
		{"clean visit", func(in *FlagInput) {}, []string{}, nil},
		{"no GPS", func(in *FlagInput) { in.Visit.Lat, in.Visit.Lng = nil, nil }, []string{FlagGPSMissing}, nil},
		{"low accuracy", func(in *FlagInput) { in.Visit.AccuracyM = ptr(250.0) }, []string{FlagGPSLowAccuracy},
			func(t *testing.T, fs []Flag) {
				if fs[0].Evidence["accuracy_m"] != 250.0 || fs[0].Evidence["threshold_m"] != 100.0 {
					t.Fatalf("evidence %v", fs[0].Evidence)
				}
			}},
		{"accuracy at the threshold is fine", func(in *FlagInput) { in.Visit.AccuracyM = ptr(100.0) }, []string{}, nil},
		{"too far from the household", func(in *FlagInput) { in.Visit.Lat = ptr(28.46) }, []string{FlagTooFar},
			func(t *testing.T, fs []Flag) {
				d := fs[0].Evidence["distance_m"].(float64)
				if d < 1000 || d > 1200 {
					t.Fatalf("distance %v m, want about 1.1 km", d)
				}
			}},
		{"household without a location is not judged", func(in *FlagInput) {
			in.Household.Lat, in.Household.Lng = nil, nil
			in.Visit.Lat = ptr(29.0)
		}, []string{}, nil},
		{"impossible travel", func(in *FlagInput) {
			in.Previous = &store.Visit{ID: "v1", Lat: ptr(29.45), Lng: ptr(108.99), VisitedAt: in.Visit.VisitedAt.Add(-30 * time.Minute)}
		}, []string{FlagImpossibleTravel}, func(t *testing.T, fs []Flag) {
			ev := fs[0].Evidence
			if ev["previous_visit_id"] != "v1" || ev["speed_kmh"].(float64) < 200 {
				t.Fatalf("evidence %v", ev)
			}
		}},
		{"plausible travel", func(in *FlagInput) {
			in.Previous = &store.Visit{ID: "v1", Lat: ptr(28.55), Lng: ptr(108.99), VisitedAt: in.Visit.VisitedAt.Add(-30 * time.Minute)}
		}, []string{}, nil},
		{"same instant, far apart", func(in *FlagInput) {
			in.Previous = &store.Visit{ID: "v1", Lat: ptr(28.60), Lng: ptr(108.99), VisitedAt: in.Visit.VisitedAt}
		}, []string{FlagImpossibleTravel}, func(t *testing.T, fs []Flag) {
			if _, ok := fs[0].Evidence["speed_kmh"]; ok {
				t.Fatalf("infinite speed must not be a number: %v", fs[0].Evidence)
			}
		}},
		{"GPS jitter is not travel", func(in *FlagInput) {
			in.Previous = &store.Visit{ID: "v1", Lat: ptr(28.4550), Lng: ptr(108.99), VisitedAt: in.Visit.VisitedAt.Add(-time.Second)}
		}, []string{}, nil},
		{"too short", func(in *FlagInput) { e := in.Visit.StartedAt.Add(90 * time.Second); in.Visit.EndedAt = &e }, []string{FlagTooShort},
			func(t *testing.T, fs []Flag) {
				if fs[0].Evidence["duration_s"] != int64(90) {
					t.Fatalf("evidence %v", fs[0].Evidence)
				}
			}},
		{"nobody home may be short", func(in *FlagInput) {
			e := in.Visit.StartedAt.Add(30 * time.Second)
			in.Visit.EndedAt, in.Visit.Outcome = &e, "absent"
		}, []string{}, nil},
		{"clock off", func(in *FlagInput) { in.Visit.VisitedAt = in.Visit.StartedAt.Add(-25 * time.Minute) }, []string{FlagClockOff}, nil},
		{"clock suspect", func(in *FlagInput) { in.Visit.ClockSuspect = true }, []string{FlagClockOff}, nil},
		{"before the assignment", func(in *FlagInput) { in.Assignments[0].AssignedAt = in.Visit.VisitedAt.Add(time.Hour) }, []string{FlagOutsideAssignment},
			func(t *testing.T, fs []Flag) {
				if fs[0].Evidence["reason"] != "before_assignment" {
					t.Fatalf("evidence %v", fs[0].Evidence)
				}
			}},
		{"after the due date", func(in *FlagInput) { in.Assignments[0].OfficerDueOn = "2026-11-09" }, []string{FlagOutsideAssignment},
			func(t *testing.T, fs []Flag) {
				if fs[0].Evidence["reason"] != "after_due_date" {
					t.Fatalf("evidence %v", fs[0].Evidence)
				}
			}},
		{"due date is a local day", func(in *FlagInput) {
			// 23:30 on the 9th UTC is the 10th in Shanghai.
			in.Visit.VisitedAt = time.Date(2026, 11, 9, 23, 30, 0, 0, time.UTC)
			in.Visit.StartedAt = in.Visit.VisitedAt
			e := in.Visit.StartedAt.Add(10 * time.Minute)
			in.Visit.EndedAt = &e
			in.Assignments[0].OfficerDueOn = "2026-11-09"
		}, []string{FlagOutsideAssignment}, nil},
		{"after the assignment ended", func(in *FlagInput) {
			end := in.Visit.VisitedAt.Add(-time.Hour)
			in.Assignments[0].EndedAt = &end
			in.Assignments = append(in.Assignments, store.Assignment{ID: "a2", HouseholdID: "h1", OfficerID: ptr("o2"), AssignedAt: end})
		}, []string{FlagOutsideAssignment}, func(t *testing.T, fs []Flag) {
			if fs[0].Evidence["reason"] != "after_assignment_ended" {
				t.Fatalf("evidence %v", fs[0].Evidence)
			}
		}},
		{"never assigned to this officer", func(in *FlagInput) { in.Assignments[0].OfficerID = ptr("o9") }, []string{FlagOutsideAssignment},
			func(t *testing.T, fs []Flag) {
				if fs[0].Evidence["reason"] != "not_assigned_to_officer" {
					t.Fatalf("evidence %v", fs[0].Evidence)
				}
			}},
		{"no assignment history is not judged", func(in *FlagInput) { in.Assignments = nil }, []string{}, nil},
		{"duplicate the same day", func(in *FlagInput) {
			in.EarlierSameDay = &store.Visit{ID: "v0", Outcome: "visited", VisitedAt: in.Visit.VisitedAt.Add(-2 * time.Hour)}
		}, []string{FlagDuplicateSameDay}, func(t *testing.T, fs []Flag) {
			if fs[0].Evidence["earlier_visit_id"] != "v0" || fs[0].Evidence["day"] != "2026-11-10" {
				t.Fatalf("evidence %v", fs[0].Evidence)
			}
		}},
		{"unregistered device", func(in *FlagInput) { in.Visit.DeviceID = ptr("d-other") }, []string{FlagUnregisteredDevice}, nil},
		{"no device", func(in *FlagInput) { in.Visit.DeviceID = nil }, []string{FlagUnregisteredDevice}, nil},
		{"several at once, sorted by code", func(in *FlagInput) {
			in.Visit.Lat, in.Visit.Lng, in.Visit.ClockSuspect, in.Visit.DeviceID = nil, nil, true, nil
		}, []string{FlagClockOff, FlagGPSMissing, FlagUnregisteredDevice}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := cleanInput()
			tt.change(&in)
			fs := ComputeFlags(in, defaultThresholds, shanghai)
			if got := codes(fs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("flags %v, want %v (%+v)", got, tt.want, fs)
			}
			if !sort.SliceIsSorted(fs, func(i, j int) bool { return fs[i].Code < fs[j].Code }) {
				t.Fatal("flags not sorted")
			}
			if tt.check != nil {
				tt.check(t, fs)
			}
			// Deterministic: the same input gives the same flags.
			if again := ComputeFlags(in, defaultThresholds, shanghai); !reflect.DeepEqual(fs, again) {
				t.Fatal("ComputeFlags is not deterministic")
			}
		})
	}
}

func TestThresholdsComeFromSettings(t *testing.T) {
	in := cleanInput()
	in.Visit.Lat = ptr(28.4550) // about 530 m from the household
	set := store.DefaultCoverageSettings("b")
	if got := codes(ComputeFlags(in, thresholdsOf(set), shanghai)); !reflect.DeepEqual(got, []string{FlagTooFar}) {
		t.Fatalf("at 500 m: %v", got)
	}
	set.DistanceThresholdM = 800
	if got := codes(ComputeFlags(in, thresholdsOf(set), shanghai)); len(got) != 0 {
		t.Fatalf("at 800 m: %v", got)
	}
}

func TestHaversine(t *testing.T) {
	// One degree of latitude is about 111.2 km everywhere.
	if d := HaversineM(28, 109, 29, 109); math.Abs(d-111195) > 50 {
		t.Fatalf("1° of latitude = %.0f m", d)
	}
	// Beijing Tiananmen to Shanghai People's Square: about 1,067 km.
	if d := HaversineM(39.9087, 116.3975, 31.2304, 121.4737) / 1000; d < 1060 || d > 1075 {
		t.Fatalf("Beijing–Shanghai = %.1f km", d)
	}
	if d := HaversineM(28.45, 108.99, 28.45, 108.99); d != 0 {
		t.Fatalf("same point = %v", d)
	}
}

func TestSampleIsReproducible(t *testing.T) {
	ids := []string{}
	for i := 0; i < 40; i++ {
		ids = append(ids, store.NewID())
	}
	a := Sample("seed-1", "2026-11", "o1", ids, 5)
	if len(a) != 5 {
		t.Fatalf("sample of %d", len(a))
	}
	rev := append([]string(nil), ids...)
	sort.Sort(sort.Reverse(sort.StringSlice(rev)))
	if b := Sample("seed-1", "2026-11", "o1", rev, 5); !reflect.DeepEqual(a, b) {
		t.Fatalf("order of input changed the sample: %v vs %v", a, b)
	}
	if c := Sample("seed-2", "2026-11", "o1", ids, 5); reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same sample")
	}
	if d := Sample("seed-1", "2026-12", "o1", ids, 5); reflect.DeepEqual(a, d) {
		t.Fatal("another month gave the same sample")
	}
	// A late visit may enter the sample but never reorders the rest.
	more := append(append([]string(nil), ids...), store.NewID())
	e := Sample("seed-1", "2026-11", "o1", more, 5)
	kept := 0
	for _, id := range e {
		for _, x := range a {
			if id == x {
				kept++
			}
		}
	}
	if kept < 4 {
		t.Fatalf("one more visit replaced %d of the sample", 5-kept)
	}
	if got := Sample("seed-1", "2026-11", "o1", ids[:3], 5); len(got) != 3 {
		t.Fatalf("sample larger than the population: %d", len(got))
	}
}
