package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerIgnored reports whether .dockerignore's patterns leave path (slash
// separated, relative to the repository) out of the build context: a
// pattern matches the path or one of its parent directories; "**/" matches
// any depth; the last matching pattern wins ("!" re-includes).
func dockerIgnored(patterns []string, path string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		anyDepth := strings.HasPrefix(p, "**/")
		p = strings.TrimPrefix(p, "**/")
		parts := strings.Split(path, "/")
		match := false
		for i := range parts {
			if i > 0 && !anyDepth {
				break // patterns match from the context's top, unless **/
			}
			for j := i + 1; j <= len(parts); j++ {
				if ok, _ := filepath.Match(p, strings.Join(parts[i:j], "/")); ok {
					match = true
				}
			}
		}
		if match {
			ignored = !neg
		}
	}
	return ignored
}

// TestDockerContextBuilds stands in for `docker build` (no Docker daemon
// here): it copies the files .dockerignore leaves in the build context and
// runs the Dockerfile's build commands on that copy, so a needed file left
// out of the context fails here, not in an operator's build.
func TestDockerContextBuilds(t *testing.T) {
	needChecks(t)
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			patterns = append(patterns, line)
		}
	}
	for path, want := range map[string]bool{
		".git/config": true, "bin/chobi": true, "tests/e2e/package.json": true, "web/demo/node_modules/x": true,
		"deploy/docker/.env": true, "deploy/docker/Dockerfile": false, "cmd/chobi/main.go": false, "store/migrations/0001_foundation.sql": false,
	} {
		if got := dockerIgnored(patterns, path); got != want {
			t.Errorf(".dockerignore: %s ignored=%v, want %v", path, got, want)
		}
	}
	out, err := exec.Command("git", "-C", "..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	ctx := t.TempDir()
	copied := 0
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if dockerIgnored(patterns, f) {
			continue
		}
		data, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		dst := filepath.Join(ctx, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		copied++
	}
	df, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"./cmd/chobi", "./cmd/chobi-loadtest"} {
		if !strings.Contains(string(df), "go build -ldflags=\"-s -w\" -o /out/"+filepath.Base(pkg)+" "+pkg) {
			t.Fatalf("docker/Dockerfile does not build %s as this test does", pkg)
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(t.TempDir(), "out"), pkg)
		cmd.Dir = ctx
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("in the Docker build context (%d files), go build %s: %v\n%s", copied, pkg, err, b)
		}
	}
}
