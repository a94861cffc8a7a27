package syncsvc_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// verdict is what the decoder and the per-mutation checks make of a body.
type verdict struct {
	Error     *syncproto.Error  `json:"error,omitempty"`
	Mutations []mutationVerdict `json:"mutations,omitempty"`
}

type mutationVerdict struct {
	MutationID string `json:"mutation_id"`
	OK         bool   `json:"ok"`
	Code       string `json:"code,omitempty"`
	Field      string `json:"field,omitempty"`
}

func judgeBody(body []byte) verdict {
	req, err := syncsvc.DecodePush(body)
	if err != nil {
		e, ok := apperr.As(err)
		if !ok {
			return verdict{Error: &syncproto.Error{Code: "not an apperr: " + err.Error()}}
		}
		return verdict{Error: &syncproto.Error{Code: e.Code, Message: e.MessageEN, Details: e.Details}}
	}
	v := verdict{Mutations: []mutationVerdict{}}
	for i := range req.Mutations {
		m := &req.Mutations[i]
		mv := mutationVerdict{MutationID: m.MutationID, OK: true}
		if _, rej := syncsvc.Check(m); rej != nil {
			mv = mutationVerdict{MutationID: m.MutationID, Code: rej.Code, Field: rej.Field}
		}
		v.Mutations = append(v.Mutations, mv)
	}
	return v
}

// The golden examples in testdata/push: each body, and what the decoder and
// the checks make of it in <name>.golden.
func TestPushDecodeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/push/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(judgeBody(body), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("verdict changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

var knownCodes = map[string]bool{
	syncproto.RejectInvalidField: true, syncproto.RejectUnknownField: true, syncproto.RejectServerOwned: true,
	syncproto.RejectUnsupported: true, syncproto.RejectInvalidMutation: true,
}

// FuzzPushDecode feeds arbitrary bodies to the push decoder and the
// per-mutation checks. They must never panic; errors must be the documented
// 400/413 codes; accepted bodies must respect the caps and re-encode to
// something that decodes the same; rejections must use the documented codes
// and carry a message; a mutation that passes holds only declared, writable
// fields.
func FuzzPushDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/push/*.json")
	for _, in := range files {
		if b, err := os.ReadFile(in); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"device_time":"2025-03-01T10:00:00Z","mutations":[{"mutation_id":"0195f3a0-0000-7000-8000-000000000001","seq":1,"entity":"loan_application","op":"update","entity_id":"x","base_version":2,"device_time":"2025-03-01T09:30:00Z","fields":{"status":"submitted","amount_fen":1e3}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := syncsvc.DecodePush(body)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || (e.Code != syncproto.CodeInvalidRequest && e.Code != syncproto.CodeTooManyMutations) {
				t.Fatalf("decode error %v is not a documented client error", err)
			}
			return
		}
		if len(req.Mutations) > syncproto.MaxMutationsPerPush || req.DeviceTime.IsZero() {
			t.Fatalf("decoder let through %d mutations, device_time %v", len(req.Mutations), req.DeviceTime)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		req2, err := syncsvc.DecodePush(again)
		if err != nil || len(req2.Mutations) != len(req.Mutations) {
			t.Fatalf("re-encoded request does not decode the same: %v", err)
		}
		for i := range req.Mutations {
			m := &req.Mutations[i]
			if m.Seq < 1 || len(m.MutationID) != 36 {
				t.Fatalf("decoder let through seq %d, mutation id %q", m.Seq, m.MutationID)
			}
			_, rej := syncsvc.Check(m)
			if rej != nil {
				if !knownCodes[rej.Code] || rej.Message == "" {
					t.Fatalf("rejection %+v", rej)
				}
				if _, err := json.Marshal(rej); err != nil || strings.ContainsRune(rej.Field, 0) {
					t.Fatalf("rejection not safe to store: %+v", rej)
				}
				continue
			}
			var rule *syncsvc.EntityRule
			for i := range syncsvc.Rules {
				if syncsvc.Rules[i].Entity == m.Entity {
					rule = &syncsvc.Rules[i]
				}
			}
			if rule == nil {
				t.Fatalf("entity %q passed without rules", m.Entity)
			}
			for name := range m.Fields {
				declared := false
				for _, fr := range rule.Fields {
					declared = declared || fr.Field == name
				}
				if !declared && m.Op != syncproto.OpDelete {
					t.Fatalf("undeclared field %q passed", name)
				}
			}
		}
	})
}
