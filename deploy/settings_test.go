package deploy

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docSetting is a row of docs/configuration.md's tables: the section it is
// in and its default cell (backticks removed when it is one value).
type docSetting struct{ section, def string }

// configDoc reads every table row of docs/configuration.md, by each name
// in its first cell (a row may name two, as TURN_USERNAME, TURN_CREDENTIAL).
func configDoc(t *testing.T) map[string]docSetting {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	one := regexp.MustCompile("^`([^`]*)`$")
	out := map[string]docSetting{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
			continue
		}
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 4 {
			continue
		}
		def := strings.TrimSpace(cells[2])
		if m := one.FindStringSubmatch(def); m != nil {
			def = m[1]
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = docSetting{section: section, def: def}
		}
	}
	if len(out) < 50 || out["JWT_SECRET"].section == "" {
		t.Fatalf("read only %d settings from docs/configuration.md: has its table format changed?", len(out))
	}
	return out
}

// Every variable the server reads has a row in docs/configuration.md, with
// its default and what it accepts.
func TestEveryVariableIsDocumented(t *testing.T) {
	doc := configDoc(t)
	var missing []string
	for n := range serverEnvNames(t) {
		if _, ok := doc[n]; !ok {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("cmd/chobi reads %s, which has no row in docs/configuration.md", n)
	}
}

// boundSettings are what an operator tunes against abuse and outages: the
// Limits section of docs/configuration.md (so a limit added there is
// checked too) and the bounds on one request and on the database.
func boundSettings(doc map[string]docSetting) []string {
	names := []string{"MAX_BODY_BYTES", "API_TIMEOUT", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
		"HTTP_READ_TIMEOUT", "HTTP_MAX_CONNECTIONS", "HTTP_MAX_CONNECTIONS_PER_ADDRESS"}
	for n, s := range doc {
		if s.section == "Limits" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Every example of deploy/ shows each bound (commented out at its default,
// or passed through by compose, empty meaning the default), so that an
// operator finds them where the other settings are; a value shown is the
// documented default.
func TestExamplesShowEveryBound(t *testing.T) {
	doc := configDoc(t)
	bounds := boundSettings(doc)
	if len(bounds) < 14 || !strings.Contains(strings.Join(bounds, " "), "TRPC_MAX_BATCH") {
		t.Fatalf("bounds: %v: has the Limits section of docs/configuration.md moved?", bounds)
	}
	configmap, err := os.ReadFile("k8s/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The ConfigMap's data, set or commented out (# NAME: value).
	k8s := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*#?\s*([A-Z][A-Z0-9_]*):\s*(.*?)\s*$`).FindAllStringSubmatch(string(configmap), -1) {
		k8s[m[1]] = strings.Trim(m[2], `"`)
	}
	examples := []struct {
		where  string
		values map[string]string
		shown  bool // the values shown are the defaults
	}{
		{"systemd/chobi.env.example", envFile(t, "systemd/chobi.env.example"), true},
		{"docker/env.example", envFile(t, "docker/env.example"), true},
		{"docker/compose.yaml (chobi)", strs(dig(yamlDoc(t, "docker/compose.yaml"), "services", "chobi", "environment")), false},
		{"k8s/configmap.yaml", k8s, true},
	}
	for _, ex := range examples {
		for _, n := range bounds {
			v, ok := ex.values[n]
			switch {
			case !ok:
				t.Errorf("%s does not show %s (docs/configuration.md, %s)", ex.where, n, doc[n].section)
			case !ex.shown && v != "${"+n+":-}":
				t.Errorf("%s: %s: %q, want ${%s:-} (empty: the default)", ex.where, n, v, n)
			case ex.shown && v != doc[n].def:
				t.Errorf("%s: %s=%s, but its documented default is %q", ex.where, n, v, doc[n].def)
			}
		}
	}
}
