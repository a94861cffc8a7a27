package apitest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	mobiledocs "github.com/doorstep-dev/doorstep/mobile-api-docs"
	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/httpapi"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// wireTypes maps the spec's schemas to the Go types the server encodes and
// decodes them with. Requests are what devices send; the server decodes
// them strictly, so the spec may require less than the type has fields.
var wireTypes = map[string]struct {
	typ     reflect.Type
	request bool
}{
	"Error":           {reflect.TypeFor[syncproto.Error](), false},
	"LoginRequest":    {reflect.TypeFor[syncproto.LoginRequest](), true},
	"RefreshRequest":  {reflect.TypeFor[syncproto.RefreshRequest](), true},
	"TokenResponse":   {reflect.TypeFor[syncproto.TokenResponse](), false},
	"OrgUnitRef":      {reflect.TypeFor[syncproto.OrgUnitRef](), false},
	"Me":              {reflect.TypeFor[syncproto.Me](), false},
	"DeviceInfo":      {reflect.TypeFor[syncproto.DeviceInfo](), false},
	"DeviceList":      {reflect.TypeFor[syncproto.DeviceList](), false},
	"Mutation":        {reflect.TypeFor[syncproto.Mutation](), true},
	"PushRequest":     {reflect.TypeFor[syncproto.PushRequest](), true},
	"Rejection":       {reflect.TypeFor[syncproto.Rejection](), false},
	"FieldConflict":   {reflect.TypeFor[syncproto.FieldConflict](), false},
	"MutationResult":  {reflect.TypeFor[syncproto.MutationResult](), false},
	"PushResponse":    {reflect.TypeFor[syncproto.PushResponse](), false},
	"PullRequest":     {reflect.TypeFor[syncproto.PullRequest](), true},
	"Change":          {reflect.TypeFor[syncproto.Change](), false},
	"PullResponse":    {reflect.TypeFor[syncproto.PullResponse](), false},
	"Household":       {reflect.TypeFor[syncproto.Household](), false},
	"Visit":           {reflect.TypeFor[syncproto.Visit](), false},
	"VisitPlan":       {reflect.TypeFor[syncproto.VisitPlan](), false},
	"FinancingNeed":   {reflect.TypeFor[syncproto.FinancingNeed](), false},
	"LoanApplication": {reflect.TypeFor[syncproto.LoanApplication](), false},
	"LoanProduct":     {reflect.TypeFor[syncproto.LoanProduct](), false},
	"Task":            {reflect.TypeFor[syncproto.Task](), false},
	"RejectionRecord": {reflect.TypeFor[syncproto.RejectionRecord](), false},
	"ConflictEntry":   {reflect.TypeFor[syncsvc.Conflict](), false},
	"ConflictPage":    {reflect.TypeFor[syncsvc.ConflictPage](), false},

	// Registry.
	"ImportPreview":         {reflect.TypeFor[registry.Preview](), false},
	"ImportSummary":         {reflect.TypeFor[registry.Summary](), false},
	"ImportItem":            {reflect.TypeFor[registry.Item](), false},
	"ImportFieldChange":     {reflect.TypeFor[registry.FieldChange](), false},
	"RegistryHousehold":     {reflect.TypeFor[registry.Household](), false},
	"RevealRequest":         {reflect.TypeFor[registry.RevealInput](), true},
	"RevealedHousehold":     {reflect.TypeFor[registry.Revealed](), false},
	"AssignmentRecord":      {reflect.TypeFor[store.AssignmentRecord](), false},
	"AssignRequest":         {reflect.TypeFor[registry.AssignInput](), true},
	"AssignResult":          {reflect.TypeFor[store.AssignResult](), false},
	"OutletDeadlineRequest": {reflect.TypeFor[registry.OutletDeadlineInput](), true},
	"PlanRequest":           {reflect.TypeFor[registry.PlanInput](), true},
	"PlanView":              {reflect.TypeFor[store.PlanView](), false},
	"Progress":              {reflect.TypeFor[registry.Progress](), false},
	"ProgressRow":           {reflect.TypeFor[store.ProgressRow](), false},
	"ServiceAreaChange":     {reflect.TypeFor[store.AreaChangeResult](), false},

	// Coverage.
	"CoverageLedger":         {reflect.TypeFor[coverage.Ledger](), false},
	"CoverageScope":          {reflect.TypeFor[coverage.ScopeInfo](), false},
	"CoverageSummary":        {reflect.TypeFor[coverage.Summary](), false},
	"OfficerLedger":          {reflect.TypeFor[coverage.OfficerLedger](), false},
	"LedgerRow":              {reflect.TypeFor[coverage.LedgerRow](), false},
	"ExemptionRequest":       {reflect.TypeFor[coverage.ExemptionRequest](), true},
	"Exemption":              {reflect.TypeFor[coverage.Exemption](), false},
	"SignoffRequest":         {reflect.TypeFor[coverage.SignoffRequest](), true},
	"Signoff":                {reflect.TypeFor[coverage.Signoff](), false},
	"Figures":                {reflect.TypeFor[coverage.Figures](), false},
	"OfficerFigures":         {reflect.TypeFor[coverage.OfficerFigures](), false},
	"HouseholdMonth":         {reflect.TypeFor[coverage.HouseholdMonth](), false},
	"ReviewPage":             {reflect.TypeFor[coverage.ReviewPage](), false},
	"ReviewItem":             {reflect.TypeFor[coverage.ReviewItem](), false},
	"VisitFlag":              {reflect.TypeFor[coverage.Flag](), false},
	"ConfirmRequest":         {reflect.TypeFor[coverage.ConfirmRequest](), true},
	"IssuesRequest":          {reflect.TypeFor[coverage.IssuesRequest](), true},
	"ReviewResult":           {reflect.TypeFor[coverage.ReviewResult](), false},
	"TaskInfo":               {reflect.TypeFor[coverage.TaskInfo](), false},
	"SpotChecks":             {reflect.TypeFor[coverage.SpotChecks](), false},
	"SpotCheck":              {reflect.TypeFor[coverage.SpotCheck](), false},
	"DeviceHealth":           {reflect.TypeFor[coverage.DeviceHealth](), false},
	"OfficerHealth":          {reflect.TypeFor[coverage.OfficerHealth](), false},
	"DeviceState":            {reflect.TypeFor[coverage.DeviceState](), false},
	"CoverageSettings":       {reflect.TypeFor[coverage.Settings](), false},
	"CoverageSettingsUpdate": {reflect.TypeFor[coverage.SettingsUpdate](), true},

	// Reports.
	"MonthlyReport":           {reflect.TypeFor[report.MonthlyView](), false},
	"ReportOrg":               {reflect.TypeFor[report.Org](), false},
	"FigureInfo":              {reflect.TypeFor[report.FigureInfo](), false},
	"ReportLine":              {reflect.TypeFor[report.Line](), false},
	"ReportVersions":          {reflect.TypeFor[report.VersionsView](), false},
	"ReportVersion":           {reflect.TypeFor[report.VersionView](), false},
	"ReportVersionInfo":       {reflect.TypeFor[report.VersionInfo](), false},
	"ReportFileInfo":          {reflect.TypeFor[report.FileInfo](), false},
	"ReportDiff":              {reflect.TypeFor[report.DiffView](), false},
	"DiffLine":                {reflect.TypeFor[report.DiffLine](), false},
	"FigureDelta":             {reflect.TypeFor[report.FigureDelta](), false},
	"LateRecord":              {reflect.TypeFor[report.LateRecord](), false},
	"HouseholdArchive":        {reflect.TypeFor[report.Archive](), false},
	"ReportArchiveHousehold":  {reflect.TypeFor[store.ReportArchiveHousehold](), false},
	"ReportArchiveAssignment": {reflect.TypeFor[store.ReportArchiveAssignment](), false},
	"ReportArchiveVisit":      {reflect.TypeFor[store.ReportArchiveVisit](), false},
	"ReportArchiveNeed":       {reflect.TypeFor[store.ReportArchiveNeed](), false},
	"ReportArchiveLoan":       {reflect.TypeFor[store.ReportArchiveLoan](), false},
	"MonthOutcome":            {reflect.TypeFor[report.MonthOutcome](), false},
}

// wrappers are bodies httpapi assembles from service values (gin.H and
// small unexported structs): each listed property decodes strictly into
// the service type; the schema itself holds the rest.
var wrappers = map[string]map[string]reflect.Type{
	"ImportView":           {"import": reflect.TypeFor[registry.Preview](), "items": reflect.TypeFor[map[string][]registry.Item]()},
	"ImportList":           {"imports": reflect.TypeFor[[]registry.Preview]()},
	"ImportItemsPage":      {"items": reflect.TypeFor[[]registry.Item]()},
	"HouseholdPage":        {"households": reflect.TypeFor[[]registry.Household]()},
	"AssignmentHistory":    {"assignments": reflect.TypeFor[[]store.AssignmentRecord]()},
	"OutletDeadlineResult": {},
	"PlanPage":             {"plans": reflect.TypeFor[[]store.PlanView]()},
	"ServiceAreaList":      {},
	"ServiceAreasReplace":  {},
	"SignoffList":          {"signoffs": reflect.TypeFor[[]coverage.Signoff]()},
	"ReportFileList":       {"files": reflect.TypeFor[[]report.FileInfo]()},
}

// serverLocal are bodies with no exported Go type: the contract test sends
// and receives them through the real server instead.
var serverLocal = map[string]string{
	"Health":       "gin.H in httpapi",
	"Ready":        "gin.H in httpapi",
	"LoanDecision": "httpapi.decisionRequest",
}

// recordTypes are what Change.data and MutationResult.current hold.
var recordTypes = map[string]reflect.Type{
	syncproto.EntityHousehold:   reflect.TypeFor[syncproto.Household](),
	syncproto.EntityVisit:       reflect.TypeFor[syncproto.Visit](),
	syncproto.EntityVisitPlan:   reflect.TypeFor[syncproto.VisitPlan](),
	syncproto.EntityNeed:        reflect.TypeFor[syncproto.FinancingNeed](),
	syncproto.EntityLoan:        reflect.TypeFor[syncproto.LoanApplication](),
	syncproto.EntityLoanProduct: reflect.TypeFor[syncproto.LoanProduct](),
	syncproto.EntityTask:        reflect.TypeFor[syncproto.Task](),
	syncproto.EntityRejection:   reflect.TypeFor[syncproto.RejectionRecord](),
}

// strictRoundTrip decodes raw into a new value of typ with unknown fields
// refused, encodes it again and requires the same JSON value back: a field
// the type lacks, a wrong type, a value the type would print differently
// or a missing non-omitempty field all fail.
func strictRoundTrip(t *testing.T, where string, typ reflect.Type, raw []byte) any {
	t.Helper()
	ptr := reflect.New(typ)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		t.Errorf("%s: does not decode into %s: %v", where, typ, err)
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Errorf("%s: trailing data after %s", where, typ)
	}
	again, err := json.Marshal(ptr.Interface())
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var a, b any
	json.Unmarshal(raw, &a)
	json.Unmarshal(again, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s: %s encodes the example differently:\nexample: %s\nencoded: %s", where, typ, raw, again)
	}
	return ptr.Interface()
}

type example struct {
	where  string // operation, status and example name
	schema string // component schema name
	name   string
	value  []byte
	req    bool
	op     *openapi3.Operation
}

func examples(t *testing.T, doc *openapi3.T) []example {
	t.Helper()
	var out []example
	add := func(where string, mt *openapi3.MediaType, req bool, op *openapi3.Operation) {
		if mt == nil || mt.Schema == nil {
			return
		}
		for _, name := range sortedNames(mt.Examples) {
			ex := mt.Examples[name]
			raw, err := json.Marshal(ex.Value.Value)
			if err != nil {
				t.Fatalf("%s %s: %v", where, name, err)
			}
			out = append(out, example{where: where + " example " + name, schema: path.Base(mt.Schema.Ref),
				name: name, value: raw, req: req, op: op})
		}
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(p).Operations() {
			where := method + " " + p
			if op.RequestBody != nil {
				add(where+" request", op.RequestBody.Value.Content.Get("application/json"), true, op)
			}
			for code, r := range op.Responses.Map() {
				add(where+" "+code, r.Value.Content.Get("application/json"), false, op)
			}
		}
	}
	return out
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every example in the spec decodes strictly into the Go type the server
// uses for it and encodes back to the same JSON; records inside pull
// changes and push results decode into their entity's type; the fields of
// every example mutation are fields a device may set.
func TestSpecExamplesDecodeIntoWireTypes(t *testing.T) {
	v, err := apitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	doc := v.Doc()
	all := examples(t, doc)
	if len(all) < 30 {
		t.Fatalf("only %d examples found; the walk is broken", len(all))
	}
	// Push requests by operation and example name, to pair with their answers.
	pushed := map[string]map[string]syncproto.Mutation{}
	for _, ex := range all {
		if ex.schema != "PushRequest" {
			continue
		}
		var req syncproto.PushRequest
		json.Unmarshal(ex.value, &req)
		pushed[ex.name] = map[string]syncproto.Mutation{}
		for _, m := range req.Mutations {
			pushed[ex.name][m.MutationID] = m
		}
	}
	for _, ex := range all {
		if props, ok := wrappers[ex.schema]; ok {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(ex.value, &obj); err != nil {
				t.Errorf("%s: %v", ex.where, err)
				continue
			}
			for name, typ := range props {
				if raw, ok := obj[name]; ok {
					strictRoundTrip(t, ex.where+" ."+name, typ, raw)
				}
			}
			continue
		}
		if reason, ok := serverLocal[ex.schema]; ok {
			t.Logf("%s: %s has no exported Go type (%s); the contract test covers it", ex.where, ex.schema, reason)
			continue
		}
		w, ok := wireTypes[ex.schema]
		if !ok {
			t.Errorf("%s: schema %q has no Go type in wireTypes; add it (or to serverLocal with the reason)", ex.where, ex.schema)
			continue
		}
		got := strictRoundTrip(t, ex.where, w.typ, ex.value)
		switch v := got.(type) {
		case *syncproto.PullResponse:
			for i, c := range v.Changes {
				typ, ok := recordTypes[c.Entity]
				if !ok {
					t.Errorf("%s change %d: unknown entity %q", ex.where, i, c.Entity)
					continue
				}
				if (c.Op == syncproto.ChangeUpsert) != (len(c.Data) > 0) {
					t.Errorf("%s change %d: op %s with data %s", ex.where, i, c.Op, c.Data)
				}
				if len(c.Data) > 0 {
					strictRoundTrip(t, ex.where+" change "+c.ID, typ, c.Data)
				}
			}
		case *syncproto.PushResponse:
			muts, ok := pushed[ex.name]
			if !ok {
				t.Errorf("%s: no push request example named %q to pair it with", ex.where, ex.name)
				continue
			}
			for _, r := range v.Results {
				m, ok := muts[r.MutationID]
				if !ok {
					t.Errorf("%s: result for mutation %s that the request does not send", ex.where, r.MutationID)
					continue
				}
				if r.Seq != m.Seq {
					t.Errorf("%s: result seq %d for mutation seq %d", ex.where, r.Seq, m.Seq)
				}
				if len(r.Current) > 0 {
					strictRoundTrip(t, ex.where+" current of "+m.Entity, recordTypes[m.Entity], r.Current)
				}
			}
		case *syncproto.PushRequest:
			for _, m := range v.Mutations {
				checkMutationFields(t, ex.where, m)
			}
		case *syncproto.Error:
			if status := statusOfWhere(ex.where); status != 0 && httpapi.StatusOf(v.Code) != status {
				t.Errorf("%s: code %q belongs with status %d", ex.where, v.Code, httpapi.StatusOf(v.Code))
			}
		}
	}
}

func statusOfWhere(where string) int {
	for _, f := range strings.Fields(where) {
		if len(f) == 3 && f[0] >= '1' && f[0] <= '5' {
			n := 0
			for _, d := range f {
				n = n*10 + int(d-'0')
			}
			return n
		}
	}
	return 0
}

// checkMutationFields holds an example mutation to the engine's rules: the
// entity and op are allowed, every field is one a device may set, and the
// fields decode into the record type.
func checkMutationFields(t *testing.T, where string, m syncproto.Mutation) {
	t.Helper()
	var rule *syncsvc.EntityRule
	for i := range syncsvc.Rules {
		if syncsvc.Rules[i].Entity == m.Entity {
			rule = &syncsvc.Rules[i]
		}
	}
	if rule == nil {
		t.Errorf("%s: devices cannot push entity %q", where, m.Entity)
		return
	}
	if !slices.Contains(rule.Operations, m.Op) {
		t.Errorf("%s: devices cannot %s a %s", where, m.Op, m.Entity)
	}
	for name := range m.Fields {
		if !slices.ContainsFunc(rule.Fields, func(f syncsvc.FieldRule) bool { return f.Field == name }) {
			t.Errorf("%s: %s.%s is not a field devices may set", where, m.Entity, name)
		}
	}
	obj, _ := json.Marshal(m.Fields)
	ptr := reflect.New(recordTypes[m.Entity])
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		t.Errorf("%s: the fields of %s %s do not fit %s: %v", where, m.Op, m.Entity, ptr.Type().Elem(), err)
	}
}

// jsonFields lists a struct's JSON field names and which are omitempty.
func jsonFields(typ reflect.Type) (names []string, always []string) {
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always
}

// Every schema mapped to a Go type has exactly the type's JSON fields; a
// response schema requires exactly the fields Go always writes.
func TestSpecSchemasMatchWireTypes(t *testing.T) {
	v, err := apitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range wireTypes {
		ref := v.Doc().Components.Schemas[name]
		if ref == nil {
			t.Errorf("schema %s is not in the spec", name)
			continue
		}
		s := ref.Value
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		names, always := jsonFields(w.typ)
		if !slices.Equal(props, names) {
			t.Errorf("%s: spec properties %v, %s has %v", name, props, w.typ, names)
		}
		req := slices.Clone(s.Required)
		sort.Strings(req)
		if w.request {
			for _, r := range req {
				if !slices.Contains(names, r) {
					t.Errorf("%s: requires %s, which %s lacks", name, r, w.typ)
				}
			}
			continue
		}
		if !slices.Equal(req, always) {
			t.Errorf("%s: spec requires %v, %s always writes %v", name, req, w.typ, always)
		}
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s: additionalProperties must be false so the contract test catches undocumented fields", name)
		}
	}
}

func enumOf(t *testing.T, doc *openapi3.T, schema string, prop ...string) []string {
	t.Helper()
	ref := doc.Components.Schemas[schema]
	if ref == nil {
		t.Fatalf("no schema %s", schema)
	}
	s := ref.Value
	for _, p := range prop {
		s = s.Properties[p].Value
	}
	var out []string
	for _, e := range s.Enum {
		out = append(out, e.(string))
	}
	sort.Strings(out)
	return out
}

// The spec's enums are the constants of syncproto, and every error code has
// a status in httpapi's table.
func TestSpecEnumsMatchConstants(t *testing.T) {
	v, err := apitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	doc := v.Doc()
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	cases := []struct {
		got  []string
		want []string
		what string
	}{
		{enumOf(t, doc, "ErrorCode"), sorted(syncproto.CodeInvalidRequest, syncproto.CodeBodyTooLarge, syncproto.CodeUnauthenticated,
			syncproto.CodeTokenExpired, syncproto.CodeDeviceRevoked, syncproto.CodeRefreshReused, syncproto.CodeInvalidCredentials,
			syncproto.CodeTooManyAttempts, syncproto.CodeAccountDisabled, syncproto.CodeForbidden, syncproto.CodeNotFound,
			syncproto.CodeMethodNotAllowed, syncproto.CodeConflict, syncproto.CodeUnsupportedProtocol, syncproto.CodeTooManyMutations,
			syncproto.CodeInvalidCursor, syncproto.CodeInternal, syncproto.CodeUnavailable), "error codes"},
		{enumOf(t, doc, "RejectionCode"), sorted(syncproto.RejectInvalidField, syncproto.RejectUnknownField, syncproto.RejectServerOwned,
			syncproto.RejectNotFound, syncproto.RejectOutOfScope, syncproto.RejectAlreadyExists, syncproto.RejectConfirmed,
			syncproto.RejectIllegalState, syncproto.RejectNotDraft, syncproto.RejectProductLimit, syncproto.RejectDependency,
			syncproto.RejectDuplicateSeq, syncproto.RejectUnsupported, syncproto.RejectStatusBackwards, syncproto.RejectInvalidMutation), "rejection codes"},
		{enumOf(t, doc, "Entity"), sorted(syncproto.EntityHousehold, syncproto.EntityVisit, syncproto.EntityVisitPlan, syncproto.EntityNeed,
			syncproto.EntityLoan, syncproto.EntityLoanProduct, syncproto.EntityTask, syncproto.EntityRejection), "entities"},
		{enumOf(t, doc, "ChangeOp"), sorted(syncproto.ChangeUpsert, syncproto.ChangeDelete, syncproto.ChangeRemove), "change ops"},
		{enumOf(t, doc, "Role"), sorted(syncproto.RoleOfficer, syncproto.RoleSupervisor, syncproto.RoleBranchManager, syncproto.RoleAdmin), "roles"},
		{enumOf(t, doc, "DeviceStatus"), sorted(syncproto.DeviceActive, syncproto.DeviceRevoked), "device statuses"},
		{enumOf(t, doc, "MutationResult", "status"), sorted(syncproto.StatusAccepted, syncproto.StatusMerged, syncproto.StatusRejected), "mutation statuses"},
		{enumOf(t, doc, "Visit", "outcome"), sorted(syncproto.OutcomeVisited, syncproto.OutcomeRefused, syncproto.OutcomeAbsent, syncproto.OutcomeMoved), "visit outcomes"},
		{enumOf(t, doc, "Visit", "status"), sorted(syncproto.VisitRecorded, syncproto.VisitConfirmed, syncproto.VisitHasIssues), "visit states"},
		{enumOf(t, doc, "VisitPlan", "status"), sorted(syncproto.PlanPlanned, syncproto.PlanDone, syncproto.PlanCancelled), "plan states"},
		{enumOf(t, doc, "FinancingNeed", "status"), sorted(syncproto.NeedRecorded, syncproto.NeedReferred, syncproto.NeedFulfilled, syncproto.NeedDeclined), "need states"},
		{enumOf(t, doc, "LoanApplication", "status"), sorted(syncproto.LoanDraft, syncproto.LoanSubmitted, syncproto.LoanUnderReview,
			syncproto.LoanApproved, syncproto.LoanRejected, syncproto.LoanDisbursed, syncproto.LoanWithdrawn), "loan states"},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: spec %v, syncproto %v", c.what, c.got, c.want)
		}
	}
	for _, code := range enumOf(t, doc, "ErrorCode") {
		if code != syncproto.CodeInternal && httpapi.StatusOf(code) == http.StatusInternalServerError {
			t.Errorf("error code %q has no status in httpapi's table", code)
		}
	}
	// The caps the spec states are syncproto's.
	push := doc.Components.Schemas["PushRequest"].Value.Properties["mutations"].Value
	if push.MaxItems == nil || *push.MaxItems != syncproto.MaxMutationsPerPush {
		t.Errorf("PushRequest.mutations maxItems %v, want %d", push.MaxItems, syncproto.MaxMutationsPerPush)
	}
	limit := doc.Components.Schemas["PullRequest"].Value.Properties["limit"].Value
	if limit.Max == nil || int(*limit.Max) != syncproto.MaxPullLimit {
		t.Errorf("PullRequest.limit maximum %v, want %d", limit.Max, syncproto.MaxPullLimit)
	}
}

// The spec passes its own lint, here as in CI (scripts/lint-openapi.sh).
func TestSpecLint(t *testing.T) {
	for _, p := range apitest.LintSpec(mobiledocs.Spec()) {
		t.Error(p)
	}
}

// The lint finds what it is meant to find.
func TestLintCatches(t *testing.T) {
	spec := string(mobiledocs.Spec())
	cases := []struct {
		name, old, new, want string
	}{
		{"no operationId", "operationId: getMe", "x-was-operation-id: getMe", "no operationId"},
		{"no summary", "summary: The signed-in user and this device", "x-was-summary: x", "no summary"},
		{"example off its schema", "expires_in: 600", "expires_in: 9600", "expires_in"},
		{"error response without Error", "$ref: \"#/components/schemas/Error\"\n              examples:\n                invalid_credentials:",
			"$ref: \"#/components/schemas/Health\"\n              examples:\n                invalid_credentials:", "must be application/json with schema"},
		{"code under the wrong status", "value: {code: forbidden, message: 您无权执行此操作}", "value: {code: not_found, message: x}", "has status 404"},
		{"not 3.1", "openapi: 3.1.0", "openapi: 3.0.3", "want 3.1"},
		{"repeated path", "  /api/v1/me:\n", "  /api/v1/devices:\n    get: {}\n  /api/v1/me:\n", "repeats the one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(spec, tc.old) {
				t.Fatalf("the spec no longer contains %q; update the case", tc.old)
			}
			problems := apitest.LintSpec([]byte(strings.Replace(spec, tc.old, tc.new, 1)))
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, tc.want) {
				t.Errorf("want a problem mentioning %q, got:\n%s", tc.want, joined)
			}
		})
	}
}
