// Package deploy holds the deployment files (docker/, k8s/, systemd/,
// monitoring/) and their tests: every YAML and JSON file parses, the files
// agree with the server (the variables it reads, the ports, the probes, the
// metric names it exports) and with each other. `make test-deploy` also
// sets CHOBI_DEPLOY_CHECKS=1, which runs the checks that need the static
// binary and the real tools (tools_test.go): promtool, systemd-analyze.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deployFiles lists the files under deploy/ whose names end in one of exts.
func deployFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, ext := range exts {
			if !d.IsDir() && strings.HasSuffix(path, ext) {
				out = append(out, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// yamlDocs reads every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s does not parse as YAML: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// yamlDoc reads a file of exactly one YAML document.
func yamlDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	return docs[0]
}

// dig walks nested maps and lists: dig(m, "spec", "template", 0).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func TestEveryYAMLAndJSONFileParses(t *testing.T) {
	yamls := deployFiles(t, ".yml", ".yaml")
	if len(yamls) < 10 {
		t.Fatalf("found only %d YAML files under deploy/: %v", len(yamls), yamls)
	}
	for _, path := range yamls {
		if docs := yamlDocs(t, path); len(docs) == 0 {
			t.Errorf("%s holds no YAML document", path)
		}
	}
	jsons := deployFiles(t, ".json")
	if len(jsons) == 0 {
		t.Fatal("no JSON file under deploy/ (the Grafana dashboard)")
	}
	for _, path := range jsons {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("%s does not parse as JSON: %v", path, err)
		}
	}
}

// serverEnvNames are the environment variables the server reads: the
// upper-case string literals of cmd/chobi's sources (config.go and the
// files beside it), a superset that catches misspellings all the same.
func serverEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../cmd/chobi/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in ../cmd/chobi: %v", err)
	}
	re := regexp.MustCompile(`"([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	for _, must := range []string{"JWT_SECRET", "HTTP_ADDR", "RTC_UDP_PORT", "RTC_TCP_PORT", "RTC_NAT_1TO1_IPS", "SHUTDOWN_TIMEOUT", "CHOBI_DATA_DIR"} {
		if !names[must] {
			t.Fatalf("the scan of cmd/chobi found no %s: has the configuration moved?", must)
		}
	}
	return names
}

// envFile reads KEY=value lines, commented-out examples (#KEY=value) too.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	re := regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=(.*)$`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			out[m[1]] = m[2]
		}
	}
	return out
}

func TestEveryVariableSetIsOneTheServerReads(t *testing.T) {
	known := serverEnvNames(t)
	check := func(where string, names ...string) {
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s sets %s, which the server does not read (cmd/chobi)", where, n)
			}
		}
	}
	keys := func(v any) []string {
		var out []string
		m, _ := v.(map[string]any)
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	check("docker/compose.yaml (chobi)", keys(dig(yamlDoc(t, "docker/compose.yaml"), "services", "chobi", "environment"))...)
	check("k8s/configmap.yaml", keys(dig(yamlDoc(t, "k8s/configmap.yaml"), "data"))...)
	check("k8s/secret.example.yaml", keys(dig(yamlDoc(t, "k8s/secret.example.yaml"), "stringData"))...)
	for _, e := range dig(yamlDoc(t, "k8s/deployment.yaml"), "spec", "template", "spec", "containers", 0, "env").([]any) {
		if n := str(dig(e, "name")); n != "NODE_IP" { // NODE_IP only feeds RTC_NAT_1TO1_IPS
			check("k8s/deployment.yaml", n)
		}
	}
	for n := range envFile(t, "systemd/chobi.env.example") {
		check("systemd/chobi.env.example", n)
	}
	for _, unit := range []string{"systemd/chobi.service", "systemd/chobi-reconcile.service"} {
		for _, v := range unitValues(t, unit)["Environment"] {
			check(unit, strings.SplitN(v, "=", 2)[0])
		}
	}
	for n := range dockerfileEnv(t) {
		check("docker/Dockerfile", n)
	}
}

// dockerfileEnv is the ENV of the Dockerfile's last stage (the server's).
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	out := map[string]string{}
	for _, line := range strings.Split(text[strings.LastIndex(text, "\nFROM "):], "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "ENV" {
			continue
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				t.Fatalf("docker/Dockerfile: ENV %q: write ENV KEY=value", f)
			}
			out[k] = v
		}
	}
	if len(out) == 0 {
		t.Fatal("docker/Dockerfile: no ENV in the last stage")
	}
	return out
}

// unitValues reads a systemd unit: every assignment, by key, in order.
func unitValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not an assignment: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}
