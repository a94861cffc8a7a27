// Command openapischema drafts OpenAPI component schemas from the Go types
// the server encodes for the staff and integration endpoints (registry,
// coverage, reports), using apitest.SchemaYAML. It prints YAML to paste
// under components.schemas when those types change; the golden tests in
// server/apitest then hold the spec to the types.
//
//	go run ./scripts/openapischema
package main

import (
	"fmt"
	"reflect"

	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Names are the component names; types not listed keep their Go name.
var Names = map[reflect.Type]string{
	reflect.TypeFor[registry.Preview]():             "ImportPreview",
	reflect.TypeFor[registry.Item]():                "ImportItem",
	reflect.TypeFor[registry.Summary]():             "ImportSummary",
	reflect.TypeFor[registry.FieldChange]():         "ImportFieldChange",
	reflect.TypeFor[registry.Household]():           "RegistryHousehold",
	reflect.TypeFor[registry.RevealInput]():         "RevealRequest",
	reflect.TypeFor[registry.Revealed]():            "RevealedHousehold",
	reflect.TypeFor[registry.AssignInput]():         "AssignRequest",
	reflect.TypeFor[registry.OutletDeadlineInput](): "OutletDeadlineRequest",
	reflect.TypeFor[registry.PlanInput]():           "PlanRequest",
	reflect.TypeFor[store.AreaChangeResult]():       "ServiceAreaChange",
	reflect.TypeFor[coverage.Ledger]():              "CoverageLedger",
	reflect.TypeFor[coverage.Summary]():             "CoverageSummary",
	reflect.TypeFor[coverage.ScopeInfo]():           "CoverageScope",
	reflect.TypeFor[coverage.Flag]():                "VisitFlag",
	reflect.TypeFor[coverage.Settings]():            "CoverageSettings",
	reflect.TypeFor[coverage.SettingsUpdate]():      "CoverageSettingsUpdate",
	reflect.TypeFor[report.Org]():                   "ReportOrg",
	reflect.TypeFor[report.Line]():                  "ReportLine",
	reflect.TypeFor[report.MonthlyView]():           "MonthlyReport",
	reflect.TypeFor[report.VersionsView]():          "ReportVersions",
	reflect.TypeFor[report.VersionView]():           "ReportVersion",
	reflect.TypeFor[report.DiffView]():              "ReportDiff",
	reflect.TypeFor[report.VersionInfo]():           "ReportVersionInfo",
	reflect.TypeFor[report.FileInfo]():              "ReportFileInfo",
	reflect.TypeFor[report.Archive]():               "HouseholdArchive",
}

func main() {
	roots := []reflect.Type{
		reflect.TypeFor[registry.Preview](), reflect.TypeFor[registry.Item](), reflect.TypeFor[registry.Household](),
		reflect.TypeFor[registry.RevealInput](), reflect.TypeFor[registry.Revealed](), reflect.TypeFor[store.AssignmentRecord](),
		reflect.TypeFor[registry.AssignInput](), reflect.TypeFor[store.AssignResult](), reflect.TypeFor[registry.OutletDeadlineInput](),
		reflect.TypeFor[registry.PlanInput](), reflect.TypeFor[store.PlanView](), reflect.TypeFor[registry.Progress](),
		reflect.TypeFor[store.AreaChangeResult](),
		reflect.TypeFor[coverage.Ledger](), reflect.TypeFor[coverage.ExemptionRequest](), reflect.TypeFor[coverage.Exemption](),
		reflect.TypeFor[coverage.SignoffRequest](), reflect.TypeFor[coverage.Signoff](), reflect.TypeFor[coverage.ReviewPage](),
		reflect.TypeFor[coverage.ConfirmRequest](), reflect.TypeFor[coverage.IssuesRequest](), reflect.TypeFor[coverage.ReviewResult](),
		reflect.TypeFor[coverage.SpotChecks](), reflect.TypeFor[coverage.DeviceHealth](), reflect.TypeFor[coverage.Settings](),
		reflect.TypeFor[coverage.SettingsUpdate](),
		reflect.TypeFor[report.MonthlyView](), reflect.TypeFor[report.VersionsView](), reflect.TypeFor[report.VersionView](),
		reflect.TypeFor[report.DiffView](), reflect.TypeFor[report.VersionInfo](), reflect.TypeFor[report.FileInfo](),
		reflect.TypeFor[report.Archive](),
	}
	fmt.Print(apitest.SchemaYAML(Names, roots...))
}
