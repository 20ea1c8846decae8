package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed client kit (clients/ts) is what the server's types give
// now: a procedure or message added without regenerating fails here.
func TestCommittedTypeScriptIsRegenerated(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := gen([]string{"ts", "-check", "-out", "../../clients/ts"}, &stdout, &stderr); code != 0 {
		t.Fatalf("chobi gen ts -check: exit %d:\n%s", code, stderr.String())
	}
}

func TestGenerationIsStable(t *testing.T) {
	first, err := tsFiles()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 { // map order differs run to run: the output must not
		again, err := tsFiles()
		if err != nil {
			t.Fatal(err)
		}
		for name := range first {
			if !bytes.Equal(first[name], again[name]) {
				t.Fatalf("%s differs between two generations", name)
			}
		}
	}
}

// gen ts writes the files; -check then finds them current, and finds a
// changed one stale.
func TestGenWritesAndChecks(t *testing.T) {
	dir := t.TempDir()
	var out, errs bytes.Buffer
	if code := gen([]string{"ts", "-out", dir}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	api, err := os.ReadFile(filepath.Join(dir, "api.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export type AppRouter = TRPCBuiltRouter<", "createSession: TRPCMutationProcedure<{", `type: "audio" | "video";`} {
		if !bytes.Contains(api, []byte(want)) {
			t.Errorf("api.d.ts lacks %q", want)
		}
	}
	if code := gen([]string{"ts", "-check", "-out", dir}, &out, &errs); code != 0 {
		t.Fatalf("-check after writing: exit %d: %s", code, errs.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "socket.d.ts"), []byte("// stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errs.Reset()
	if code := gen([]string{"ts", "-check", "-out", dir}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "socket.d.ts") {
		t.Fatalf("-check of a stale file: exit %d, %q", code, errs.String())
	}
	if code := gen([]string{"js"}, &out, &errs); code != 2 {
		t.Errorf("gen js: exit %d, want 2", code)
	}
}
