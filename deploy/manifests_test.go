package deploy

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// productionDrain is how long the server waits on SIGTERM for live sessions
// in production when DRAIN_TIMEOUT is not set (cmd/chobi/cluster.go).
const productionDrain = 10 * time.Minute

// stopNeeds is how long a stop takes at most with env's settings:
// DRAIN_TIMEOUT (or the production default) plus SHUTDOWN_TIMEOUT.
func stopNeeds(t *testing.T, env map[string]string) time.Duration {
	t.Helper()
	drain := productionDrain
	if d, ok := env["DRAIN_TIMEOUT"]; ok {
		drain = seconds(t, "DRAIN_TIMEOUT", d)
	}
	return drain + seconds(t, "SHUTDOWN_TIMEOUT", env["SHUTDOWN_TIMEOUT"])
}

func strs(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func seconds(t *testing.T, where, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %q is not a duration: %v", where, s, err)
	}
	return d
}

func num(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return -1
}

func TestCompose(t *testing.T) {
	c := yamlDoc(t, "docker/compose.yaml")
	chobi := dig(c, "services", "chobi")
	env, _ := dig(chobi, "environment").(map[string]any)
	if env == nil {
		t.Fatal("compose: services.chobi.environment is not a map")
	}
	// Secrets only from the environment or .env, required, never written here.
	for _, name := range []string{"JWT_SECRET", "POSTGRES_PASSWORD"} {
		if !regexp.MustCompile(`^\$\{` + name + `:\?[^}]+\}$`).MatchString(str(env[name])) {
			t.Errorf("compose: %s is %q, want ${%s:?message} (required, from .env)", name, env[name], name)
		}
	}
	if got := str(dig(c, "services", "postgres", "environment", "POSTGRES_PASSWORD")); got != str(env["POSTGRES_PASSWORD"]) {
		t.Errorf("compose: postgres gets POSTGRES_PASSWORD %q, chobi %q", got, env["POSTGRES_PASSWORD"])
	}
	if env["CHOBI_ENV"] != "production" {
		t.Errorf("compose: CHOBI_ENV is %v, want production", env["CHOBI_ENV"])
	}
	// The media ports published as the server listens on them, same number
	// outside as inside (the candidates carry it).
	var ports []string
	for _, p := range dig(chobi, "ports").([]any) {
		ports = append(ports, str(p))
	}
	udp, tcp := str(env["RTC_UDP_PORT"]), str(env["RTC_TCP_PORT"])
	for _, want := range []string{udp + ":" + udp + "/udp", tcp + ":" + tcp + "/tcp"} {
		if !slices.Contains(ports, want) {
			t.Errorf("compose: chobi publishes %v, want %s (RTC_UDP_PORT=%s, RTC_TCP_PORT=%s)", ports, want, udp, tcp)
		}
	}
	if turn := str(env["TURN_UDP_PORT"]); turn != "" {
		relay := str(env["TURN_RELAY_PORT_RANGE"])
		for _, want := range []string{turn + ":" + turn + "/udp", str(env["TURN_TCP_PORT"]) + ":" + str(env["TURN_TCP_PORT"]) + "/tcp", relay + ":" + relay + "/udp"} {
			if !slices.Contains(ports, want) {
				t.Errorf("compose: chobi publishes %v, want %s for the TURN relay", ports, want)
			}
		}
	}
	_, httpPort, _ := net.SplitHostPort(str(env["HTTP_ADDR"]))
	if !slices.ContainsFunc(ports, func(p string) bool { return strings.HasSuffix(p, ":"+httpPort+":"+httpPort+"/tcp") }) {
		t.Errorf("compose: chobi publishes %v, want the HTTP port %s", ports, httpPort)
	}
	// Every service is health-checked, and chobi starts after its database
	// and Redis are healthy.
	services, _ := dig(c, "services").(map[string]any)
	for name := range services {
		if dig(services, name, "healthcheck", "test") == nil {
			t.Errorf("compose: service %s has no healthcheck", name)
		}
	}
	if test := fmt.Sprint(dig(chobi, "healthcheck", "test")); !strings.Contains(test, "healthcheck /readyz") {
		t.Errorf("compose: chobi's healthcheck is %s, want chobi healthcheck /readyz", test)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if got := dig(chobi, "depends_on", dep, "condition"); got != "service_healthy" {
			t.Errorf("compose: chobi depends on %s with condition %v, want service_healthy", dep, got)
		}
	}
	if grace, need := seconds(t, "stop_grace_period", str(dig(chobi, "stop_grace_period"))), stopNeeds(t, strs(env)); grace <= need {
		t.Errorf("compose: stop_grace_period %v does not cover DRAIN_TIMEOUT + SHUTDOWN_TIMEOUT (%v)", grace, need)
	}
	// Each ${VAR} compose reads is explained in env.example.
	b, err := os.ReadFile("docker/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	documented := envFile(t, "docker/env.example")
	for _, m := range regexp.MustCompile(`\$\{([A-Z_0-9]+)`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := documented[m[1]]; !ok {
			t.Errorf("compose reads ${%s}, which docker/env.example does not mention", m[1])
		}
	}
	for k, v := range envFile(t, "docker/env.example") {
		if v != "" && (strings.Contains(k, "SECRET") || strings.Contains(k, "PASSWORD")) {
			t.Errorf("docker/env.example gives %s a value; leave secrets empty", k)
		}
	}
	// The image runs as the unprivileged user with the health check.
	df, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	last := string(df)[strings.LastIndex(string(df), "\nFROM "):]
	for _, want := range []string{"USER 65532:65532", `HEALTHCHECK`, `"healthcheck", "/readyz"`, "EXPOSE 3000/tcp 50000/udp 50000/tcp"} {
		if !strings.Contains(last, want) {
			t.Errorf("docker/Dockerfile: the server's stage lacks %q", want)
		}
	}
	if !strings.Contains(string(df), "CGO_ENABLED=0") {
		t.Error("docker/Dockerfile does not build with CGO_ENABLED=0")
	}
}

// k8sObjects reads every manifest under k8s/ by "Kind/name", and which file
// each came from.
func k8sObjects(t *testing.T) (map[string]map[string]any, map[string]string) {
	t.Helper()
	objs, files := map[string]map[string]any{}, map[string]string{}
	for _, path := range deployFiles(t, ".yaml") {
		if !strings.HasPrefix(path, "k8s/") || strings.HasSuffix(path, "kustomization.yaml") {
			continue
		}
		for _, doc := range yamlDocs(t, path) {
			kind, name := str(doc["kind"]), str(dig(doc, "metadata", "name"))
			if kind == "" || name == "" || str(doc["apiVersion"]) == "" {
				t.Fatalf("%s: a document without apiVersion, kind or metadata.name", path)
			}
			if ns := str(dig(doc, "metadata", "namespace")); kind != "Namespace" && ns != "chobi" {
				t.Errorf("%s: %s/%s is in namespace %q, want chobi", path, kind, name, ns)
			}
			objs[kind+"/"+name], files[kind+"/"+name] = doc, path
		}
	}
	return objs, files
}

func TestKubernetes(t *testing.T) {
	objs, files := k8sObjects(t)
	for _, want := range []string{"Namespace/chobi", "ConfigMap/chobi-config", "Secret/chobi", "Deployment/chobi", "Service/chobi", "PodDisruptionBudget/chobi", "CronJob/chobi-reconcile"} {
		if objs[want] == nil {
			t.Fatalf("deploy/k8s has no %s", want)
		}
	}
	// kustomization.yaml applies every manifest but the example Secret.
	var resources []string
	for _, r := range dig(yamlDoc(t, "k8s/kustomization.yaml"), "resources").([]any) {
		resources = append(resources, "k8s/"+str(r))
	}
	for obj, file := range files {
		if listed := slices.Contains(resources, file); listed == (obj == "Secret/chobi") {
			t.Errorf("kustomization.yaml: %s (%s) listed=%v", file, obj, listed)
		}
	}
	// The example Secret cannot be used as it is: production refuses a
	// JWT_SECRET under 32 characters.
	if s := str(dig(objs["Secret/chobi"], "stringData", "JWT_SECRET")); len(s) >= 32 || !strings.Contains(s, "CHANGE") {
		t.Errorf("secret.example.yaml: JWT_SECRET %q must be an obvious placeholder the server refuses", s)
	}

	cm, _ := dig(objs["ConfigMap/chobi-config"], "data").(map[string]any)
	dep := objs["Deployment/chobi"]
	pod := dig(dep, "spec", "template")
	podLabels, _ := dig(pod, "metadata", "labels").(map[string]any)
	spec := dig(pod, "spec")
	c := dig(spec, "containers", 0)

	// Ports: HTTP named "http" on HTTP_ADDR's port; UDP and TCP media on
	// the node's port of the same number.
	ports := map[string]any{}
	for _, p := range dig(c, "ports").([]any) {
		ports[str(dig(p, "name"))] = p
	}
	_, httpPort, _ := net.SplitHostPort(str(cm["HTTP_ADDR"]))
	if num(dig(ports["http"], "containerPort")) != num(httpPort) {
		t.Errorf("deployment: port http is %v, HTTP_ADDR says %s", dig(ports["http"], "containerPort"), httpPort)
	}
	for name, want := range map[string][2]any{"rtc-udp": {"UDP", cm["RTC_UDP_PORT"]}, "rtc-tcp": {"TCP", cm["RTC_TCP_PORT"]}} {
		p := ports[name]
		hostNet := dig(spec, "hostNetwork") == true
		if dig(p, "protocol") != want[0] || num(dig(p, "containerPort")) != num(want[1]) ||
			(!hostNet && num(dig(p, "hostPort")) != num(want[1])) {
			t.Errorf("deployment: port %s is %v, want %s %v on the node's port of the same number", name, p, want[0], want[1])
		}
	}
	// The node's address announced in the candidates (downward API).
	env := map[string]any{}
	for _, e := range dig(c, "env").([]any) {
		env[str(dig(e, "name"))] = e
	}
	nat := str(dig(env["RTC_NAT_1TO1_IPS"], "value"))
	if ref := regexp.MustCompile(`^\$\((\w+)\)$`).FindStringSubmatch(nat); ref != nil {
		nat = str(dig(env[ref[1]], "valueFrom", "fieldRef", "fieldPath"))
	} else {
		nat = str(dig(env["RTC_NAT_1TO1_IPS"], "valueFrom", "fieldRef", "fieldPath"))
	}
	if nat != "status.hostIP" {
		t.Errorf("deployment: RTC_NAT_1TO1_IPS does not come from status.hostIP (%v)", env["RTC_NAT_1TO1_IPS"])
	}
	// Configuration and secrets from the ConfigMap and Secret that exist.
	for _, from := range dig(c, "envFrom").([]any) {
		if n := str(dig(from, "configMapRef", "name")); n != "" && objs["ConfigMap/"+n] == nil {
			t.Errorf("deployment: envFrom names ConfigMap %s, which is not here", n)
		}
		if n := str(dig(from, "secretRef", "name")); n != "" && objs["Secret/"+n] == nil {
			t.Errorf("deployment: envFrom names Secret %s, which is not here", n)
		}
	}
	// Probes.
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got, port := dig(c, probe, "httpGet", "path"), dig(c, probe, "httpGet", "port"); got != path || port != "http" {
			t.Errorf("deployment: %s is GET %v on %v, want %s on http", probe, got, port, path)
		}
	}
	// Termination: the pod gets the preStop pause, DRAIN_TIMEOUT and
	// SHUTDOWN_TIMEOUT before the kill, with margin.
	need := time.Duration(num(dig(c, "lifecycle", "preStop", "sleep", "seconds")))*time.Second +
		stopNeeds(t, strs(cm)) + 5*time.Second
	if grace := time.Duration(num(dig(spec, "terminationGracePeriodSeconds"))) * time.Second; grace < need {
		t.Errorf("deployment: terminationGracePeriodSeconds %v, want at least %v (preStop + DRAIN_TIMEOUT + SHUTDOWN_TIMEOUT + 5s)", grace, need)
	}
	// Unprivileged, read-only root, data directory mounted.
	if dig(spec, "securityContext", "runAsNonRoot") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false ||
		dig(c, "securityContext", "readOnlyRootFilesystem") != true || fmt.Sprint(dig(c, "securityContext", "capabilities", "drop")) != "[ALL]" {
		t.Errorf("deployment: the container is not non-root, read-only, without privileges: pod %v, container %v",
			dig(spec, "securityContext"), dig(c, "securityContext"))
	}
	mounted := false
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounted = mounted || dig(m, "mountPath") == cm["CHOBI_DATA_DIR"]
	}
	if !mounted {
		t.Errorf("deployment: CHOBI_DATA_DIR %v is not a mounted volume (the root file system is read-only)", cm["CHOBI_DATA_DIR"])
	}
	// The Service and the PodDisruptionBudget select these pods.
	selects := func(what string, sel any) {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s selects nothing", what)
		}
		for k, v := range m {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v; the pods are labelled %v", what, k, v, podLabels)
			}
		}
	}
	selects("Service/chobi", dig(objs["Service/chobi"], "spec", "selector"))
	selects("PodDisruptionBudget/chobi", dig(objs["PodDisruptionBudget/chobi"], "spec", "selector", "matchLabels"))
	if tp := dig(objs["Service/chobi"], "spec", "ports", 0, "targetPort"); ports[str(tp)] == nil {
		t.Errorf("Service/chobi targets port %v, which the container does not name", tp)
	}
	// The reconcile job runs the same image with the same configuration.
	job := dig(objs["CronJob/chobi-reconcile"], "spec", "jobTemplate", "spec", "template", "spec", "containers", 0)
	if dig(job, "image") != dig(c, "image") || fmt.Sprint(dig(job, "args")) != "[admin reconcile]" || fmt.Sprint(dig(job, "envFrom")) != fmt.Sprint(dig(c, "envFrom")) {
		t.Errorf("reconcile CronJob: image %v args %v envFrom %v; want the server's image and configuration running admin reconcile",
			dig(job, "image"), dig(job, "args"), dig(job, "envFrom"))
	}
}

func TestSystemdUnit(t *testing.T) {
	u := unitValues(t, "systemd/chobi.service")
	one := func(k string) string {
		if len(u[k]) != 1 {
			t.Errorf("chobi.service: %s is set %d times, want once", k, len(u[k]))
			return ""
		}
		return u[k][0]
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "StateDirectory": "chobi",
		"ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
		"EnvironmentFile": "/etc/chobi/chobi.env", "KillSignal": "SIGTERM",
	} {
		if got := one(k); got != want {
			t.Errorf("chobi.service: %s=%s, want %s", k, got, want)
		}
	}
	if !slices.Contains(u["Environment"], "CHOBI_DATA_DIR=%S/chobi") {
		t.Errorf("chobi.service: Environment %v does not put CHOBI_DATA_DIR in the StateDirectory (%%S/chobi)", u["Environment"])
	}
	if !strings.Contains(one("RestrictAddressFamilies"), "AF_INET6") || !strings.Contains(u["SystemCallFilter"][0], "@system-service") {
		t.Errorf("chobi.service: RestrictAddressFamilies %v, SystemCallFilter %v", u["RestrictAddressFamilies"], u["SystemCallFilter"])
	}
	env := envFile(t, "systemd/chobi.env.example")
	// No capability unless a port below 1024 needs one.
	_, port, _ := net.SplitHostPort(env["HTTP_ADDR"])
	low := num(port) < 1024 || num(env["RTC_UDP_PORT"]) < 1024 || num(env["RTC_TCP_PORT"]) < 1024
	if amb := strings.Join(u["AmbientCapabilities"], ""); amb != "" && !low {
		t.Errorf("chobi.service: AmbientCapabilities=%s, but every port in chobi.env.example is above 1023", amb)
	}
	if stop, need := seconds(t, "TimeoutStopSec", one("TimeoutStopSec")), stopNeeds(t, activeEnv(t, "systemd/chobi.env.example")); stop <= need {
		t.Errorf("chobi.service: TimeoutStopSec %v does not cover DRAIN_TIMEOUT + SHUTDOWN_TIMEOUT (%v)", stop, need)
	}
	if env["CHOBI_ENV"] != "production" || len(env["JWT_SECRET"]) >= 32 {
		t.Errorf("chobi.env.example: CHOBI_ENV=%s, JWT_SECRET=%s: want production and a placeholder the server refuses", env["CHOBI_ENV"], env["JWT_SECRET"])
	}
	// The reconcile unit shares the dynamic user, so the state directory
	// keeps one owner.
	r := unitValues(t, "systemd/chobi-reconcile.service")
	if fmt.Sprint(r["User"]) != fmt.Sprint(u["User"]) || fmt.Sprint(r["DynamicUser"]) != "[yes]" {
		t.Errorf("chobi-reconcile.service: User %v DynamicUser %v, want chobi.service's user %v", r["User"], r["DynamicUser"], u["User"])
	}
}
