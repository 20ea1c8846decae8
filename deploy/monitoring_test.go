package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metricRe finds the names of the series the rules and the dashboard read
// from the server (its own and the Go client's collectors).
var metricRe = regexp.MustCompile(`\b(?:chobi|go|process)_[a-z0-9_]+\b`)

// monitoringExprs are the PromQL expressions of alerts.yml and the
// dashboard, by where they are.
func monitoringExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range dig(yamlDoc(t, "monitoring/alerts.yml"), "groups").([]any) {
		for _, r := range dig(g, "rules").([]any) {
			out["alert "+str(dig(r, "alert"))] = str(dig(r, "expr"))
		}
	}
	for _, p := range dashboardPanels(t) {
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			out["panel "+str(p["title"])+" "+str(dig(tg, "refId"))] = str(dig(tg, "expr"))
		}
	}
	return out
}

func dashboardPanels(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Panels
}

// exportedNames are the chobi_* metric names in the server's sources.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`"(chobi_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "loadtest" || d.Name() == "tests" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMonitoringUsesExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	if !exported["chobi_sfu_rooms"] || !exported["chobi_trpc_call_duration_seconds"] {
		t.Fatalf("the scan of the sources found no chobi_sfu_rooms or chobi_trpc_call_duration_seconds: %v", exported)
	}
	for where, expr := range monitoringExprs(t) {
		if strings.TrimSpace(expr) == "" {
			t.Errorf("%s has no expression", where)
		}
		for _, name := range metricRe.FindAllString(expr, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
					base = b
				}
			}
			if strings.HasPrefix(name, "chobi_") && !exported[base] {
				t.Errorf("%s reads %s, which the server does not export", where, name)
			}
		}
	}
}

func TestAlertRules(t *testing.T) {
	tests, err := os.ReadFile("monitoring/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range dig(yamlDoc(t, "monitoring/alerts.yml"), "groups").([]any) {
		for _, r := range dig(g, "rules").([]any) {
			name := str(dig(r, "alert"))
			names = append(names, name)
			if sev := dig(r, "labels", "severity"); sev != "critical" && sev != "warning" {
				t.Errorf("alert %s: severity %v, want critical or warning", name, sev)
			}
			if dig(r, "annotations", "summary") == nil || dig(r, "annotations", "description") == nil {
				t.Errorf("alert %s: no summary or description", name)
			}
			if !strings.Contains(string(tests), "alertname: "+name+"\n") {
				t.Errorf("alert %s is not tested in monitoring/alerts_test.yml", name)
			}
		}
	}
	// The list: no media, loss, ledger reconcile, DB/Redis down, API latency.
	for _, want := range []string{"ChobiNoMediaForwarded", "ChobiForwardingLossHigh", "ChobiLedgerReconcileFailed", "ChobiNotReady", "ChobiDown", "ChobiAPILatencyHigh"} {
		if !strings.Contains(strings.Join(names, " ")+" ", want+" ") {
			t.Errorf("alerts.yml has no %s (has %v)", want, names)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	ids := map[float64]bool{}
	var titles []string
	for _, p := range dashboardPanels(t) {
		title := str(p["title"])
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel %q: id %v used twice", title, id)
		}
		ids[id] = true
		x, w := dig(p, "gridPos", "x").(float64), dig(p, "gridPos", "w").(float64)
		if x+w > 24 {
			t.Errorf("panel %q is wider than the grid: x %v + w %v", title, x, w)
		}
		if p["type"] == "row" {
			continue
		}
		titles = append(titles, strings.ToLower(title))
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		if uid := str(dig(p, "datasource", "uid")); uid != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want the ${datasource} variable", title, uid)
		}
	}
	all := strings.Join(titles, " | ")
	for _, want := range []string{"rooms", "viewers", "bitrate", "loss", "join", "gift", "api latency"} {
		if !strings.Contains(all, want) {
			t.Errorf("the dashboard has no panel about %s (panels: %s)", want, all)
		}
	}
}
