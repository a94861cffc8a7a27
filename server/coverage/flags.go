package coverage

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Flag codes: the automatic checks every arriving visit goes through.
const (
	FlagGPSMissing          = "gps_missing"               // no coordinates
	FlagGPSLowAccuracy      = "gps_low_accuracy"          // accuracy_m above the threshold
	FlagTooFar              = "too_far"                   // far from the household's registered location
	FlagImpossibleTravel    = "impossible_travel"         // faster than a vehicle from the officer's previous visit
	FlagTooShort            = "too_short"                 // a successful visit that lasted implausibly little
	FlagClockOff            = "clock_off"                 // the device clock was far off, or the sync engine found it suspect
	FlagOutsideAssignment   = "outside_assignment_window" // before the officer's assignment began, after it ended or after its due date
	FlagDuplicateSameDay    = "duplicate_same_day"        // the household was already visited that day
	FlagUnregisteredDevice  = "unregistered_device"       // recorded on a device that is not the officer's
	minImpossibleTravelDist = 1.0                         // km: GPS jitter between neighbours is never "travel"
)

// FlagCodes lists every flag code.
var FlagCodes = []string{
	FlagGPSMissing, FlagGPSLowAccuracy, FlagTooFar, FlagImpossibleTravel, FlagTooShort,
	FlagClockOff, FlagOutsideAssignment, FlagDuplicateSameDay, FlagUnregisteredDevice,
}

// Flag is one automatic finding with its evidence.
type Flag struct {
	Code     string         `json:"code"`
	Evidence map[string]any `json:"evidence"`
}

// Thresholds are the limits the checks use; from the branch's settings.
type Thresholds struct {
	DistanceM      float64 // too_far
	LowAccuracyM   float64 // gps_low_accuracy
	MaxSpeedKMH    float64 // impossible_travel
	MinDuration    time.Duration
	MaxClockOffset time.Duration
}

func thresholdsOf(s store.CoverageSettings) Thresholds {
	return Thresholds{
		DistanceM: s.DistanceThresholdM, LowAccuracyM: s.LowAccuracyM, MaxSpeedKMH: s.MaxSpeedKMH,
		MinDuration: time.Duration(s.MinDurationS) * time.Second, MaxClockOffset: time.Duration(s.MaxClockOffsetS) * time.Second,
	}
}

// FlagInput is one visit and what its checks compare it with.
type FlagInput struct {
	Visit store.Visit
	// Household is the household's registered location (from the list, or
	// from its first confirmed visit); nil coordinates mean none yet.
	Household store.Household
	// Previous is the officer's latest earlier visit that has coordinates.
	Previous *store.Visit
	// EarlierSameDay is the household's first earlier visit the same local
	// day at which somebody was met (any outcome but absent).
	EarlierSameDay *store.Visit
	// Assignments is the household's assignment history.
	Assignments []store.Assignment
	// Devices are the device rows registered to the visit's officer.
	Devices []string
}

// ComputeFlags runs every check on one visit. The result depends only on
// its input, and is sorted by code.
func ComputeFlags(in FlagInput, th Thresholds, loc *time.Location) []Flag {
	v := in.Visit
	var out []Flag
	add := func(code string, ev map[string]any) { out = append(out, Flag{Code: code, Evidence: ev}) }
	hasGPS := v.Lat != nil && v.Lng != nil
	if !hasGPS {
		add(FlagGPSMissing, map[string]any{"lat": v.Lat, "lng": v.Lng})
	}
	if v.AccuracyM != nil && *v.AccuracyM > th.LowAccuracyM {
		add(FlagGPSLowAccuracy, map[string]any{"accuracy_m": *v.AccuracyM, "threshold_m": th.LowAccuracyM})
	}
	h := in.Household
	if hasGPS && h.Lat != nil && h.Lng != nil {
		d := HaversineM(*h.Lat, *h.Lng, *v.Lat, *v.Lng)
		if d > th.DistanceM {
			add(FlagTooFar, map[string]any{
				"distance_m": math.Round(d), "threshold_m": th.DistanceM, "location_source": h.LocationSource,
				"household_lat": *h.Lat, "household_lng": *h.Lng, "visit_lat": *v.Lat, "visit_lng": *v.Lng,
			})
		}
	}
	if p := in.Previous; hasGPS && p != nil && p.Lat != nil && p.Lng != nil {
		km := HaversineM(*p.Lat, *p.Lng, *v.Lat, *v.Lng) / 1000
		dt := v.VisitedAt.Sub(p.VisitedAt)
		if km > minImpossibleTravelDist {
			speed := math.Inf(1)
			if dt > 0 {
				speed = km / dt.Hours()
			}
			if speed > th.MaxSpeedKMH {
				ev := map[string]any{
					"previous_visit_id": p.ID, "previous_visited_at": p.VisitedAt.UTC().Format(time.RFC3339),
					"distance_km": round2(km), "minutes": round2(dt.Minutes()), "max_speed_kmh": th.MaxSpeedKMH,
				}
				if !math.IsInf(speed, 1) {
					ev["speed_kmh"] = round2(speed)
				}
				add(FlagImpossibleTravel, ev)
			}
		}
	}
	// Nobody home takes a minute; only a visit that met the household
	// should have lasted.
	if v.EndedAt != nil && v.Outcome == "visited" {
		if d := v.EndedAt.Sub(v.StartedAt); d < th.MinDuration {
			add(FlagTooShort, map[string]any{"duration_s": int64(d / time.Second), "min_duration_s": int64(th.MinDuration / time.Second)})
		}
	}
	offset := v.VisitedAt.Sub(v.StartedAt)
	if v.ClockSuspect || offset > th.MaxClockOffset || -offset > th.MaxClockOffset {
		add(FlagClockOff, map[string]any{
			"offset_s": int64(offset / time.Second), "max_offset_s": int64(th.MaxClockOffset / time.Second), "clock_suspect": v.ClockSuspect,
		})
	}
	if ev := assignmentWindowEvidence(v, in.Assignments, loc); ev != nil {
		add(FlagOutsideAssignment, ev)
	}
	if e := in.EarlierSameDay; e != nil {
		add(FlagDuplicateSameDay, map[string]any{
			"earlier_visit_id": e.ID, "earlier_visited_at": e.VisitedAt.UTC().Format(time.RFC3339),
			"earlier_outcome": e.Outcome, "day": v.VisitedAt.In(loc).Format(time.DateOnly),
		})
	}
	registered := false
	for _, d := range in.Devices {
		registered = registered || (v.DeviceID != nil && *v.DeviceID == d)
	}
	if !registered {
		add(FlagUnregisteredDevice, map[string]any{"device_id": v.DeviceID, "officer_id": v.OfficerID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// assignmentWindowEvidence says why the visit lies outside every period the
// officer was responsible for the household, or nil when it lies inside one.
// A household with no assignment history at all is not judged.
func assignmentWindowEvidence(v store.Visit, as []store.Assignment, loc *time.Location) map[string]any {
	if len(as) == 0 {
		return nil
	}
	day := v.VisitedAt.In(loc).Format(time.DateOnly)
	var nearest *store.Assignment
	for i := range as {
		a := &as[i]
		if a.OfficerID == nil || *a.OfficerID != v.OfficerID {
			continue
		}
		due := a.OfficerDueOn
		if due == "" {
			due = a.OutletDueOn
		}
		started := !v.VisitedAt.Before(a.AssignedAt)
		notEnded := a.EndedAt == nil || v.VisitedAt.Before(*a.EndedAt)
		notLate := due == "" || day <= due
		if started && notEnded && notLate {
			return nil
		}
		if nearest == nil || absDur(a.AssignedAt.Sub(v.VisitedAt)) < absDur(nearest.AssignedAt.Sub(v.VisitedAt)) {
			nearest = a
		}
	}
	ev := map[string]any{"visited_at": v.VisitedAt.UTC().Format(time.RFC3339), "day": day}
	if nearest == nil {
		ev["reason"] = "not_assigned_to_officer"
		return ev
	}
	due := nearest.OfficerDueOn
	if due == "" {
		due = nearest.OutletDueOn
	}
	ev["assignment_id"] = nearest.ID
	ev["assigned_at"] = nearest.AssignedAt.UTC().Format(time.RFC3339)
	ev["due_on"] = due
	switch {
	case v.VisitedAt.Before(nearest.AssignedAt):
		ev["reason"] = "before_assignment"
	case nearest.EndedAt != nil && !v.VisitedAt.Before(*nearest.EndedAt):
		ev["reason"] = "after_assignment_ended"
		ev["ended_at"] = nearest.EndedAt.UTC().Format(time.RFC3339)
	default:
		ev["reason"] = "after_due_date"
	}
	return ev
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// HaversineM is the great-circle distance in metres between two WGS-84
// points.
func HaversineM(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8 // mean Earth radius, m
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// visitBefore orders visits by corrected time, then id, so that ties
// between visits at the same instant are broken the same way every time.
func visitBefore(a, b *store.Visit) bool {
	if !a.VisitedAt.Equal(b.VisitedAt) {
		return a.VisitedAt.Before(b.VisitedAt)
	}
	return a.ID < b.ID
}

// neighbours indexes a flag context's window: each officer's visits and
// each household's visits of a local day, in visitBefore order.
type neighbours struct {
	loc            *time.Location
	byOfficer      map[string][]*store.Visit
	byHouseholdDay map[string][]*store.Visit
}

func indexNeighbours(fc store.FlagContext, loc *time.Location) neighbours {
	n := neighbours{loc: loc, byOfficer: map[string][]*store.Visit{}, byHouseholdDay: map[string][]*store.Visit{}}
	for i := range fc.Window {
		v := &fc.Window[i]
		n.byOfficer[v.OfficerID] = append(n.byOfficer[v.OfficerID], v)
		k := n.dayKey(v)
		n.byHouseholdDay[k] = append(n.byHouseholdDay[k], v)
	}
	for _, vs := range n.byOfficer {
		sort.Slice(vs, func(i, j int) bool { return visitBefore(vs[i], vs[j]) })
	}
	for _, vs := range n.byHouseholdDay {
		sort.Slice(vs, func(i, j int) bool { return visitBefore(vs[i], vs[j]) })
	}
	return n
}

func (n neighbours) dayKey(v *store.Visit) string {
	return v.HouseholdID + "|" + v.VisitedAt.In(n.loc).Format(time.DateOnly)
}

// officerAround returns the officer's visits before t and after t (t itself
// excluded), each in visitBefore order.
func (n neighbours) officerAround(t *store.Visit) (before, after []*store.Visit) {
	vs := n.byOfficer[t.OfficerID]
	i := sort.Search(len(vs), func(i int) bool { return !visitBefore(vs[i], t) })
	j := i
	if j < len(vs) && vs[j].ID == t.ID {
		j++
	}
	return vs[:i], vs[j:]
}

// affectedBy widens a batch of changed visits to every visit whose flags
// may have changed with them: the officer's later visits up to the first
// with coordinates (their previous stop may have changed) and the
// household's later visits the same day (their duplicate check changed).
func affectedBy(fc store.FlagContext, loc *time.Location) []string {
	n := indexNeighbours(fc, loc)
	ids := []string{}
	for i := range fc.Targets {
		t := &fc.Targets[i]
		ids = append(ids, t.ID)
		_, after := n.officerAround(t)
		for _, o := range after {
			ids = append(ids, o.ID)
			if o.Lat != nil && o.Lng != nil {
				break
			}
		}
		for _, o := range n.byHouseholdDay[n.dayKey(t)] {
			if o.ID != t.ID && visitBefore(t, o) {
				ids = append(ids, o.ID)
			}
		}
	}
	return ids
}

// inputs builds each live target's FlagInput from the loaded context.
func inputs(fc store.FlagContext, loc *time.Location) map[string]FlagInput {
	n := indexNeighbours(fc, loc)
	out := map[string]FlagInput{}
	for i := range fc.Targets {
		t := fc.Targets[i]
		if t.DeletedAt != nil {
			continue
		}
		in := FlagInput{Visit: t, Household: fc.Households[t.HouseholdID], Assignments: fc.Assignments[t.HouseholdID], Devices: fc.Devices[t.OfficerID]}
		before, _ := n.officerAround(&t)
		for k := len(before) - 1; k >= 0; k-- {
			if o := before[k]; o.Lat != nil && o.Lng != nil {
				in.Previous = o
				break
			}
		}
		for _, o := range n.byHouseholdDay[n.dayKey(&t)] {
			if o.ID != t.ID && visitBefore(o, &t) && o.Outcome != "absent" {
				in.EarlierSameDay = o
				break
			}
		}
		out[t.ID] = in
	}
	return out
}

// FlagVisits recomputes the automatic flags of the given visits of a branch,
// and of the visits whose flags depend on them, inside tx. Visits whose flags
// changed are stored and audited (action visit.flags). It is deterministic:
// the same rows give the same flags, whatever order visits arrived in. The
// cost is a fixed handful of statements per batch, not per visit.
func FlagVisits(tx *store.Tx, loc *time.Location, branchID string, visitIDs []string) error {
	if len(visitIDs) == 0 {
		return nil
	}
	fc, err := tx.LoadFlagContext(branchID, loc, visitIDs)
	if err != nil {
		return err
	}
	return flagContext(tx, loc, branchID, fc)
}

// FlagWritten is FlagVisits for visits as the caller has just written them
// in this transaction (the sync engine's batch): they are not read back.
// The visits named in also are checked too.
func FlagWritten(tx *store.Tx, loc *time.Location, branchID string, visits []store.Visit, also ...string) error {
	if len(visits) == 0 {
		return nil
	}
	fc, err := tx.LoadFlagContextOf(branchID, loc, visits)
	if err != nil {
		return err
	}
	return flagContext(tx, loc, branchID, fc, also...)
}

func flagContext(tx *store.Tx, loc *time.Location, branchID string, fc store.FlagContext, also ...string) error {
	set, err := tx.CoverageSettingsOf(branchID)
	if err != nil {
		return err
	}
	// The visits depending on the batch are usually in it already (a
	// device pushes its visits in order); those that are not are loaded
	// with their own neighbours and merged in.
	if extra := missingFrom(fc.Targets, append(affectedBy(fc, loc), also...)); len(extra) > 0 {
		more, err := tx.LoadFlagContext(branchID, loc, extra)
		if err != nil {
			return err
		}
		fc.Merge(more)
	}
	th := thresholdsOf(set)
	ins := inputs(fc, loc)
	now := store.Now()
	var ups []store.VisitFlagUpdate
	var audits []store.AuditTarget
	for _, t := range fc.Targets {
		var flags []Flag
		if in, ok := ins[t.ID]; ok {
			flags = ComputeFlags(in, th, loc)
		}
		body, rows, err := encodeFlags(branchID, t.ID, flags, now)
		if err != nil {
			return err
		}
		if sameFlags(fc.StoredFlags[t.ID], body) {
			continue
		}
		ups = append(ups, store.VisitFlagUpdate{VisitID: t.ID, JSON: body, Rows: rows})
		codes := make([]string, len(flags))
		for i, f := range flags {
			codes[i] = f.Code
		}
		audits = append(audits, store.AuditTarget{ID: t.ID, Details: map[string]any{"codes": codes, "flags": flags, "officer_id": t.OfficerID}})
	}
	if err := tx.SaveVisitFlags(branchID, ups); err != nil {
		return err
	}
	return tx.AuditMany(store.Actor{Role: "system", BranchID: branchID}, "visit.flags", "visit", audits)
}

// missingFrom lists the ids that are not among the loaded visits.
func missingFrom(loaded []store.Visit, ids []string) []string {
	have := make(map[string]bool, len(loaded))
	for _, v := range loaded {
		have[v.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !have[id] {
			have[id] = true
			out = append(out, id)
		}
	}
	return out
}

func encodeFlags(branchID, visitID string, flags []Flag, now time.Time) (string, []store.VisitFlag, error) {
	if flags == nil {
		flags = []Flag{}
	}
	body, err := json.Marshal(flags)
	if err != nil {
		return "", nil, fmt.Errorf("encode flags: %w", err)
	}
	rows := make([]store.VisitFlag, len(flags))
	for i, f := range flags {
		ev, err := json.Marshal(f.Evidence)
		if err != nil {
			return "", nil, fmt.Errorf("encode flag evidence: %w", err)
		}
		rows[i] = store.VisitFlag{BranchID: branchID, VisitID: visitID, Code: f.Code, Evidence: string(ev), CreatedAt: now}
	}
	return string(body), rows, nil
}

// sameFlags compares stored and computed flags as JSON values, so that a
// database that re-spaces JSONB does not look like a change.
func sameFlags(stored, computed string) bool {
	if stored == computed {
		return true
	}
	var a, b any
	if json.Unmarshal([]byte(stored), &a) != nil || json.Unmarshal([]byte(computed), &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// DecodeFlags reads visits.flags.
func DecodeFlags(raw string) []Flag {
	var fs []Flag
	if raw == "" || json.Unmarshal([]byte(raw), &fs) != nil {
		return []Flag{}
	}
	return fs
}

// VisitsApplied is the sync engine's hook, called inside the push
// transaction with the visits a push created or changed, as written, and
// for those it moved in time their visited_at before the push: a
// correction of a visit marked has_issues goes back to the review queue,
// and every changed visit, those depending on it, and those that depended
// on a moved visit where it was, get their flags recomputed.
func (s *Service) VisitsApplied(tx *store.Tx, branchID string, visits []store.Visit, movedFrom map[string]time.Time) error {
	if len(visits) == 0 {
		return nil
	}
	// Only a visit under review can be reopened; a push's new visits never are.
	var review []string
	for _, v := range visits {
		if v.Status == syncproto.VisitHasIssues {
			review = append(review, v.ID)
		}
	}
	if _, err := tx.ReopenCorrectedVisits(branchID, review); err != nil {
		return err
	}
	also, err := dependedOnBefore(tx, s.loc, branchID, visits, movedFrom)
	if err != nil {
		return err
	}
	return FlagWritten(tx, s.loc, branchID, visits, also...)
}

// dependedOnBefore lists the visits that depended on a moved visit where it
// was before: the officer's next visits up to one with coordinates, and the
// household's later visits of that day. They are found as if the visit were
// still there, with the same neighbour search the checks use.
func dependedOnBefore(tx *store.Tx, loc *time.Location, branchID string, visits []store.Visit, movedFrom map[string]time.Time) ([]string, error) {
	var ghosts []store.Visit
	for _, v := range visits {
		if at, ok := movedFrom[v.ID]; ok {
			g := v
			g.VisitedAt = at
			ghosts = append(ghosts, g)
		}
	}
	if len(ghosts) == 0 {
		return nil, nil
	}
	gc, err := tx.LoadFlagContextOf(branchID, loc, ghosts)
	if err != nil {
		return nil, err
	}
	return affectedBy(gc, loc), nil
}
