package tsgen

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	N int `json:"n"`
}

type Embedded struct {
	Shared string `json:"shared"`
}

type sample struct {
	Embedded
	Name     string            `json:"name"`
	Note     string            `json:"note,omitempty"`
	Maybe    *string           `json:"maybe"`
	Absent   *inner            `json:"absent,omitempty"`
	At       time.Time         `json:"at"`
	Level    string            `json:"level" ts:"enum=low|high"`
	Layers   []string          `json:"layers" ts:"enum=q|h"`
	Tags     map[string]string `json:"tags"`
	Inner    inner             `json:"inner"`
	Defaults string            `json:"defaults" ts:"optional"`
	Needed   *int              `json:"needed" ts:"required"`
	Skipped  string            `json:"-"`
	hidden   string            // unexported: not on the wire
	Raw      []byte            `json:"raw"`
	Custom   custom            `json:"custom"`
}

type custom struct{}

func (custom) TSType() string { return "Custom" }

var _ = sample{hidden: ""}

func fields(t *testing.T, mode Mode) map[string]Field {
	t.Helper()
	out := map[string]Field{}
	for _, f := range NewWriter("Date").Fields(reflect.TypeFor[sample](), mode) {
		out[f.Name] = f
	}
	return out
}

func TestOutputFieldsAreAsEncodingJSONWritesThem(t *testing.T) {
	got := fields(t, Output)
	want := map[string]Field{
		"shared": {"shared", "string", false},
		"name":   {"name", "string", false},
		"note":   {"note", "string", true},
		"maybe":  {"maybe", "string | null", false},
		"absent": {"absent", "Inner", true},
		"at":     {"at", "Date", false},
		"level":  {"level", `"low" | "high"`, false},
		"layers": {"layers", `("q" | "h")[]`, false},
		"tags":   {"tags", "Record<string, string>", false},
		"inner":  {"inner", "Inner", false},
		// An output field the server always writes is there, tag or not.
		"defaults": {"defaults", "string", true},
		"needed":   {"needed", "number | null", false},
		"raw":      {"raw", "string", false},
		"custom":   {"custom", "Custom", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestInputFieldsAreRequiredUnlessTheServerTellsAbsence(t *testing.T) {
	got := fields(t, Input)
	for name, optional := range map[string]bool{
		"name": true, "note": true, "level": true, "layers": true, "inner": true, "needed": true, // required
	} {
		if got[name].Optional == optional {
			t.Errorf("%s: optional %v", name, got[name].Optional)
		}
	}
	for _, name := range []string{"maybe", "absent", "tags", "defaults"} {
		if !got[name].Optional {
			t.Errorf("%s: required, want optional", name)
		}
	}
	if got["maybe"].Type != "string" {
		t.Errorf("an input pointer is its element, got %q", got["maybe"].Type)
	}
	if !strings.Contains(got["inner"].Type, "n: number;") {
		t.Errorf("an input struct is inline, got %q", got["inner"].Type)
	}
}

type Event struct {
	ID string `json:"id"`
}

func TestRouterNestsPathsAndTypesInputs(t *testing.T) {
	ts, err := Router([]Procedure{
		{Path: "a.get", Kind: "query", Input: reflect.TypeFor[struct{}](), Output: reflect.TypeFor[[]Event]()},
		{Path: "a.b.put", Kind: "mutation", Input: reflect.TypeFor[struct {
			X *int `json:"x"`
		}](), Output: reflect.TypeFor[Event]()},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"export interface Event {\n  id: string;\n}\n",
		"      get: TRPCQueryProcedure<{\n        meta: object;\n        input: void;\n        output: Event[];",
		"        put: TRPCMutationProcedure<{\n          meta: object;\n          input: {\n            x?: number;\n          } | undefined;",
		"transformer: true",
	} {
		if !strings.Contains(ts, want) {
			t.Errorf("missing %q in\n%s", want, ts)
		}
	}
	if _, err := Router([]Procedure{{Path: "a", Kind: "query", Input: reflect.TypeFor[struct{}](), Output: reflect.TypeFor[Event]()},
		{Path: "a.b", Kind: "query", Input: reflect.TypeFor[struct{}](), Output: reflect.TypeFor[Event]()}}); err == nil {
		t.Error("a procedure under a procedure was accepted")
	}
}

type Error struct {
	Code string `json:"code"`
}

func TestSocketTagsEachMessageWithItsType(t *testing.T) {
	ts, err := Socket([]Message{
		{Type: "error", ByServer: true, Go: reflect.TypeFor[Error]()},
		{Type: "event", ByClient: true, ByServer: true, Go: reflect.TypeFor[Event]()},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"export interface ErrorMessage {\n  type: \"error\";\n  code: string;\n}",
		"export type ClientMessage =\n  | Event;",
		"export type ServerMessage =\n  | ErrorMessage\n  | Event;",
	} {
		if !strings.Contains(ts, want) {
			t.Errorf("missing %q in\n%s", want, ts)
		}
	}
}
