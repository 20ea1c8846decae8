package jsonin

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type prefs struct {
	Language string `json:"language"`
	Theme    string `json:"theme,omitempty"`
}

type base struct {
	SessionID string `json:"sessionId"`
}

type profileInput struct {
	base
	DisplayName *string          `json:"displayName"`
	Preferences *prefs           `json:"preferences"`
	Tags        []string         `json:"tags"`
	Items       []prefs          `json:"items"`
	ByName      map[string]prefs `json:"byName"`
	Raw         json.RawMessage  `json:"raw"`
	At          time.Time        `json:"at"`
	Limit       int              `json:"limit"`
	Secret      string           `json:"-"`
	hidden      string
}

func TestUnmarshalMatchesKeysExactly(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(profileInput) string
	}{
		{"a key in another case is ignored", `{"DISPLAYNAME":"x","displayname":"y"}`, func(p profileInput) string {
			if p.DisplayName != nil {
				return "displayName set to " + *p.DisplayName
			}
			return ""
		}},
		{"the exact key is applied", `{"DisplayName":"no","displayName":"yes"}`, func(p profileInput) string {
			if p.DisplayName == nil || *p.DisplayName != "yes" {
				return "displayName not yes"
			}
			return ""
		}},
		{"nested objects too", `{"preferences":{"Language":"fr","language":"en","THEME":"dark"}}`, func(p profileInput) string {
			if p.Preferences == nil || *p.Preferences != (prefs{Language: "en"}) {
				return "preferences wrong"
			}
			return ""
		}},
		{"objects in arrays and maps", `{"items":[{"LANGUAGE":"fr"},{"language":"ar"}],"byName":{"a":{"Language":"fr","theme":"light"}}}`, func(p profileInput) string {
			if len(p.Items) != 2 || p.Items[0].Language != "" || p.Items[1].Language != "ar" {
				return "items wrong"
			}
			if p.ByName["a"] != (prefs{Theme: "light"}) {
				return "byName wrong"
			}
			return ""
		}},
		{"promoted fields of an embedded struct", `{"sessionId":"s1","SessionId":"s2"}`, func(p profileInput) string {
			if p.SessionID != "s1" {
				return "sessionId = " + p.SessionID
			}
			return ""
		}},
		{"skipped and unexported fields stay unset", `{"-":"a","Secret":"b","secret":"c","hidden":"d"}`, func(p profileInput) string {
			if p.Secret != "" || p.hidden != "" {
				return "set"
			}
			return ""
		}},
		{"raw and self-decoding values are kept whole", `{"raw":{"Any":{"Case":1}},"at":"2026-11-28T10:00:00Z","tags":["A","b"]}`, func(p profileInput) string {
			if string(p.Raw) != `{"Any":{"Case":1}}` || p.At.IsZero() || strings.Join(p.Tags, ",") != "A,b" {
				return "raw/at/tags wrong"
			}
			return ""
		}},
		{"null is no value", `null`, func(p profileInput) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p profileInput
			if err := Unmarshal([]byte(tt.raw), &p); err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(p); msg != "" {
				t.Errorf("%s: %+v", msg, p)
			}
		})
	}
}

// Errors are encoding/json's: a wrong type names its field, and bad JSON
// is reported as such.
func TestUnmarshalErrorsAreJSONs(t *testing.T) {
	var p profileInput
	err := Unmarshal([]byte(`{"limit":"ten","LIMIT":"x"}`), &p)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field != "limit" {
		t.Fatalf("err = %v, want a type error on limit", err)
	}
	err = Unmarshal([]byte(`{"items":[{"language":5}]}`), &p)
	if !errors.As(err, &typeErr) || typeErr.Field != "items.language" {
		t.Fatalf("err = %v, want a type error on items.language", err)
	}
	for _, raw := range []string{`{"limit":`, `[1,2]`, `{"preferences":[1]}`} {
		want := json.Unmarshal([]byte(raw), &profileInput{})
		got := Unmarshal([]byte(raw), &profileInput{})
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("Unmarshal(%s) = %v, want %v", raw, got, want)
		}
	}
	// Non-struct targets decode as encoding/json does.
	var m map[string]int
	if err := Unmarshal([]byte(`{"A":1,"a":2}`), &m); err != nil || m["A"] != 1 || m["a"] != 2 {
		t.Fatalf("map: %v %v", m, err)
	}
}

func nested(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

func TestCheckDepth(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr bool
	}{
		{"scalar", `1`, false},
		{"32 levels", nested(32), false},
		{"33 levels", nested(33), true},
		{"100 levels", nested(100), true},
		{"objects count too", strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33), true},
		{"brackets inside a string do not count", `{"s":"` + strings.Repeat("[{", 100) + `"}`, false},
		{"escaped quote does not end the string", `{"s":"\"` + strings.Repeat("[", 100) + `"}`, false},
		{"siblings are not nesting", `[` + strings.Repeat(`[1],`, 100) + `[1]]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.raw)) {
				t.Fatalf("test input is not JSON: %s", tt.raw)
			}
			err := CheckDepth([]byte(tt.raw), MaxDepth)
			if (err != nil) != tt.wantErr {
				t.Errorf("CheckDepth(%.60s...) = %v, want error %v", tt.raw, err, tt.wantErr)
			}
		})
	}
}

// Concurrent first uses of a type all filter (a cache placeholder once let
// some skip it).
func TestUnmarshalConcurrentFirstUse(t *testing.T) {
	type inner struct {
		X int `json:"x"`
	}
	type outer [][]*inner
	var wg sync.WaitGroup
	var skipped atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				var v outer
				if err := Unmarshal([]byte(`[[{"X":5}]]`), &v); err != nil {
					t.Error(err)
					return
				}
				if v[0][0].X != 0 {
					skipped.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := skipped.Load(); n > 0 {
		t.Fatalf("%d decodes applied a key in another case", n)
	}
}
