package protocol

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The catalog's directions come from which register function a message
// went through: every message client.go declares must be a client's.
func TestClientMessagesAreRegisteredAsClients(t *testing.T) {
	src, err := os.ReadFile("client.go")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), "\tregister[") {
		t.Fatal("client.go registers a message with register[...]() (the server's): use registerClient[...]()")
	}
	clients := 0
	for _, e := range Catalog() {
		if e.ByClient {
			clients++
		}
		if !e.ByClient && !e.ByServer {
			t.Errorf("%s is sent by no one", e.Type)
		}
		if e.Go.Kind() != reflect.Struct {
			t.Errorf("%s is a %v", e.Type, e.Go)
		}
	}
	if n := strings.Count(string(src), "registerClient["); clients != n {
		t.Errorf("%d client messages in the catalog, %d registered in client.go", clients, n)
	}
	if e := entry(t, TypeICECandidate); !e.ByClient || !e.ByServer {
		t.Errorf("ice_candidate goes both ways, got %+v", e)
	}
	if e := entry(t, TypeTracks); e.ByClient || !e.ByServer {
		t.Errorf("tracks is the server's, got %+v", e)
	}
}

func entry(t *testing.T, typ string) Entry {
	for _, e := range Catalog() {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("%s is not in the catalog", typ)
	return Entry{}
}

// The client kit's TypeScript types take their string unions from the
// ts:"enum=..." tags: each tag must list exactly the values of the
// constants that name them (Role*, Target*, ...), so that a constant added
// here reaches the kit on its next regeneration.
func TestEnumTagsListTheirConstants(t *testing.T) {
	consts := packageConstants(t)
	groups := map[string]string{ // JSON field → the constants' prefix
		"role": "Role", "target": "Target", "quality": "Quality", "source": "Source", "code": "Code", "reason": "EndReason",
	}
	checked := map[string]bool{}
	var walk func(rt reflect.Type, seen map[reflect.Type]bool)
	walk = func(rt reflect.Type, seen map[reflect.Type]bool) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] {
			return
		}
		seen[rt] = true
		for i := range rt.NumField() {
			f := rt.Field(i)
			walk(f.Type, seen)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			prefix, ok := groups[name]
			if !ok || f.Type.Kind() != reflect.String {
				continue
			}
			tag := f.Tag.Get("ts")
			_, enum, found := strings.Cut(tag, "enum=")
			if !found {
				t.Errorf("%s.%s (%s) has no ts enum tag: the kit would type it as any string", rt.Name(), f.Name, name)
				continue
			}
			enum, _, _ = strings.Cut(enum, ",")
			got := strings.Split(enum, "|")
			want := consts[prefix]
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s.%s's ts enum lists %v; the %s constants are %v", rt.Name(), f.Name, got, prefix, want)
			}
			checked[prefix] = true
		}
	}
	seen := map[reflect.Type]bool{}
	for _, e := range Catalog() {
		walk(e.Go, seen)
	}
	for _, prefix := range groups {
		if !checked[prefix] {
			t.Errorf("no field takes the %s constants", prefix)
		}
	}
}

// packageConstants maps each prefix of groups to the string constants
// of this package whose names start with it.
func packageConstants(t *testing.T) map[string][]string {
	fset := token.NewFileSet()
	out := map[string][]string{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if !strings.HasSuffix(de.Name(), ".go") || strings.HasSuffix(de.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, de.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					for _, prefix := range []string{"Role", "Target", "Quality", "Source", "Code", "EndReason"} {
						// CodeNotFound, not Codec...: the prefix is a whole word.
						if rest, ok := strings.CutPrefix(id.Name, prefix); ok && rest != "" && unicode.IsUpper(rune(rest[0])) {
							out[prefix] = append(out[prefix], v)
						}
					}
				}
			}
		}
	}
	return out
}
