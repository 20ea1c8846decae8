package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chobilive/chobi/internal/testkit"
)

// The checks here build or run things and use the real tools: they run
// under `make test-deploy`, which sets CHOBI_DEPLOY_CHECKS=1, installs
// Debian's prometheus package (promtool) when missing and passes the
// CGO_ENABLED=0 build of `make build` as CHOBI_BIN.
func needChecks(t *testing.T) {
	t.Helper()
	if os.Getenv("CHOBI_DEPLOY_CHECKS") != "1" {
		t.Skip("builds and runs the static binary, promtool and systemd-analyze: run `make test-deploy` (CHOBI_DEPLOY_CHECKS=1)")
	}
}

func tool(t *testing.T, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: %s", name, hint)
	}
	return path
}

var (
	tmpDir  string
	buildMu sync.Mutex
	built   = map[string]string{}
)

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "chobi-deploy-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// staticBinary is cmd/<name> built with CGO_ENABLED=0, or for chobi the
// binary CHOBI_BIN names (make build's).
func staticBinary(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p := built[name]; p != "" {
		return p
	}
	if p := os.Getenv("CHOBI_BIN"); name == "chobi" && p != "" {
		built[name] = p
		return p
	}
	out := filepath.Join(tmpDir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/%s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

func TestStaticBinaries(t *testing.T) {
	needChecks(t)
	for _, name := range []string{"chobi", "chobi-loadtest"} {
		path := staticBinary(t, name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked (it has %v): build it with CGO_ENABLED=0", path, p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", path, libs)
		}
		f.Close()
		if name == "chobi" {
			if out, err := exec.Command(path, "help").CombinedOutput(); err != nil || !strings.Contains(string(out), "healthcheck") {
				t.Errorf("%s help: %v\n%s", path, err, out)
			}
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStaticBinaryServes runs the static server as the images and units
// do: /healthz, /readyz, `chobi healthcheck`, every series the rules and
// the dashboard read present in /metrics, and a clean stop on SIGTERM.
func TestStaticBinaryServes(t *testing.T) {
	needChecks(t)
	bin := staticBinary(t, "chobi")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{"PATH=" + os.Getenv("PATH"), "CHOBI_DATA_DIR=" + t.TempDir(),
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "RTC_UDP_PORT=0", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=5s",
		"TURN_ENABLED=true", "TURN_UDP_PORT=-1"} // the relay's series exist only when it runs
	// Likewise the cluster's: with the machine's Redis (a prefix of its
	// own), as production runs.
	redisAddr := redisHostPort(t)
	if redisAddr != "" {
		host, rport, _ := net.SplitHostPort(redisAddr)
		env = append(env, "REDIS_HOST="+host, "REDIS_PORT="+rport, fmt.Sprintf("REDIS_PREFIX=chobi-deploy-%d:", port),
			"PUBLIC_WS_URL=ws://127.0.0.1/ws")
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if code, _ := get("/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the static server did not answer /healthz within 90s")
		}
		select {
		case err := <-exited:
			t.Fatalf("the static server exited: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	hc := exec.Command(bin, "healthcheck")
	hc.Env = []string{fmt.Sprintf("HTTP_ADDR=:%d", port)}
	if out, err := hc.CombinedOutput(); err != nil || !strings.Contains(string(out), "ready") {
		t.Errorf("chobi healthcheck (the image's HEALTHCHECK): %v\n%s", err, out)
	}
	// A call or two, so the API's series exist.
	if r, err := (&testkit.TRPC{URL: base}).Mutation("", "auth.guest", testkit.RawInput("{}")); err != nil || r.Status != http.StatusOK {
		t.Fatalf("auth.guest: %v %v", err, r)
	}
	if code, body := get("/api/trpc/streaming.getActiveSessions"); code != http.StatusOK {
		t.Fatalf("getActiveSessions: %d %s", code, body)
	}
	code, metrics := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			have[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
		}
	}
	for where, expr := range monitoringExprs(t) {
		for _, name := range metricRe.FindAllString(expr, -1) {
			if !have[name] {
				if redisAddr == "" && strings.HasPrefix(name, "chobi_redis_") {
					t.Logf("NOT CHECKED without CHOBI_TEST_REDIS_URL: %s reads %s, served only with Redis", where, name)
					continue
				}
				t.Errorf("%s reads %s, which the running server's /metrics does not have", where, name)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the server's exit on SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("the server did not stop within 20s of SIGTERM (SHUTDOWN_TIMEOUT=5s)")
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s %s (in %s): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

func TestPromtool(t *testing.T) {
	needChecks(t)
	promtool := tool(t, "promtool", "make test-deploy installs it (apt-get install prometheus)")
	run(t, "monitoring", promtool, "check", "rules", "alerts.yml")
	run(t, "monitoring", promtool, "test", "rules", "alerts_test.yml")
	run(t, "monitoring", promtool, "check", "config", "prometheus.yml")

	// Debian's Prometheus is built without Kubernetes service discovery:
	// check the Kubernetes configuration with static targets in its place
	// (the relabelling, rule files and the rest as they are).
	b, err := os.ReadFile("monitoring/prometheus-kubernetes.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	replaced := 0
	for _, sc := range cfg["scrape_configs"].([]any) {
		m := sc.(map[string]any)
		if _, ok := m["kubernetes_sd_configs"]; ok {
			delete(m, "kubernetes_sd_configs")
			m["static_configs"] = []any{map[string]any{"targets": []any{"10.0.0.1:3000"}}}
			replaced++
		}
	}
	if replaced == 0 {
		t.Error("prometheus-kubernetes.yml: no kubernetes_sd_configs")
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules, err := os.ReadFile("monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644)
	os.WriteFile(filepath.Join(dir, "prometheus-kubernetes.yml"), out, 0o644)
	run(t, dir, promtool, "check", "config", "prometheus-kubernetes.yml")
}

// TestSystemdAnalyze verifies the units with systemd-analyze, the binary
// path pointed at the static build (verify wants the ExecStart binary to
// exist), and holds chobi.service to an exposure level of 1.5 or better
// (systemd-analyze security: 0 is locked down, 10 is exposed).
func TestSystemdAnalyze(t *testing.T) {
	needChecks(t)
	sa := tool(t, "systemd-analyze", "it comes with systemd (apt-get install systemd)")
	bin := staticBinary(t, "chobi")
	dir := t.TempDir()
	units := []string{"chobi.service", "chobi-reconcile.service", "chobi-reconcile.timer"}
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "ExecStart=/usr/local/bin/chobi ", "ExecStart="+bin+" ")
		if strings.HasSuffix(u, ".service") && !strings.Contains(text, "ExecStart="+bin) {
			t.Fatalf("%s: no ExecStart=/usr/local/bin/chobi to point at the build", u)
		}
		if err := os.WriteFile(filepath.Join(dir, u), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// verify warns (unknown keys, bad values) without failing: any output
	// is a failure here.
	if out := run(t, dir, sa, append([]string{"verify", "--man=no"}, units...)...); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify says:\n%s", out)
	}
	for _, u := range []string{"chobi.service", "chobi-reconcile.service"} {
		out := run(t, dir, sa, "security", "--offline=true", "--threshold=15", u)
		if t.Failed() {
			continue
		}
		i := strings.Index(out, "Overall exposure level")
		if i < 0 {
			t.Errorf("systemd-analyze security %s: no overall exposure level in\n%s", u, out)
			continue
		}
		t.Logf("%s: %s", u, strings.TrimSpace(out[i:]))
	}
}

// TestComposeConfig validates compose.yaml with docker-compose's own schema
// (`config` needs no daemon): with env.example filled in it resolves, with
// the secrets missing it refuses and names them.
func TestComposeConfig(t *testing.T) {
	needChecks(t)
	dc := tool(t, "docker-compose", "make test-deploy installs it (apt-get install docker-compose)")
	dir := t.TempDir()
	env := envFile(t, "docker/env.example")
	env["JWT_SECRET"], env["POSTGRES_PASSWORD"], env["PUBLIC_IP"] = strings.Repeat("s", 64), "pw", "203.0.113.10"
	env["DATA_ENCRYPTION_KEYS"] = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	var filled strings.Builder
	for _, line := range strings.Split(string(must(os.ReadFile("docker/env.example"))), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			line = k + "=" + env[k]
		}
		filled.WriteString(line + "\n")
	}
	envPath, empty := filepath.Join(dir, "env"), filepath.Join(dir, "empty")
	os.WriteFile(envPath, []byte(filled.String()), 0o644)
	os.WriteFile(empty, nil, 0o644)
	compose := must(filepath.Abs("docker/compose.yaml"))

	cmd := exec.Command(dc, "--env-file", envPath, "-f", compose, "config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config with env.example filled in: %v\n%s", err, out)
	}
	for _, want := range []string{"RTC_NAT_1TO1_IPS: 203.0.113.10", "published: 50000", "protocol: udp"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("docker-compose config: no %q in\n%s", want, out)
		}
	}
	cmd = exec.Command(dc, "--env-file", empty, "-f", compose, "config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "set POSTGRES_PASSWORD") && !strings.Contains(string(out), "set JWT_SECRET") {
		t.Errorf("docker-compose config without the secrets: %v, want a refusal naming them\n%s", err, out)
	}
}

// TestKustomizeBuild builds deploy/k8s with kubectl's kustomize (offline).
func TestKustomizeBuild(t *testing.T) {
	needChecks(t)
	kubectl := tool(t, "kubectl", "make test-deploy installs it (apt-get install kubernetes-client)")
	out := run(t, ".", kubectl, "kustomize", "k8s")
	objs, _ := k8sObjects(t)
	if n := len(regexp.MustCompile(`(?m)^kind: `).FindAllString(out, -1)); n != len(objs)-1 {
		t.Errorf("kubectl kustomize k8s: %d objects, want %d (every manifest but the example Secret)\n%s", n, len(objs)-1, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// redisHostPort is CHOBI_TEST_REDIS_URL's host:port, "" when it is not set
// (a failure when CHOBI_REQUIRE_SERVICES=1).
func redisHostPort(t *testing.T) string {
	raw := testkit.RedisBase(t, "THE CLUSTER'S SERIES")
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("CHOBI_TEST_REDIS_URL %q: not a redis:// URL", raw)
	}
	if u.Port() == "" {
		return u.Host + ":6379"
	}
	return u.Host
}
