package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/chobilive/chobi/internal/tsgen"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/trpc"
)

//go:generate go run . gen ts -out ../../clients/ts

const genUsage = `usage: chobi gen ts [-out dir] [-check]

Writes the client kit's TypeScript types, generated from the server's Go
types: api.d.ts (AppRouter, for createTRPCClient<AppRouter>) and socket.d.ts
(the socket's messages), into dir (default clients/ts). With -check it
writes nothing and fails if the files there differ from what it would write.
`

// gen runs "chobi gen": it needs no configuration.
func gen(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "ts" {
		fmt.Fprint(stderr, genUsage)
		return 2
	}
	fs := flag.NewFlagSet("chobi gen ts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "clients/ts", "the directory to write into")
	check := fs.Bool("check", false, "fail if the files differ instead of writing them")
	if fs.Parse(args[1:]) != nil || fs.NArg() != 0 {
		fmt.Fprint(stderr, genUsage)
		return 2
	}
	files, err := tsFiles()
	if err != nil {
		fmt.Fprintf(stderr, "chobi gen ts: %v\n", err)
		return 1
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	stale := 0
	for _, name := range names {
		path := filepath.Join(*out, name)
		if *check {
			have, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(have, files[name]) {
				fmt.Fprintf(stderr, "chobi gen ts: %s is not what the server's types give: run `go generate ./cmd/chobi` (or chobi gen ts)\n", path)
				stale++
			}
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fmt.Fprintf(stderr, "chobi gen ts: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", path)
	}
	if stale > 0 {
		return 1
	}
	return 0
}

// tsFiles renders the kit's generated files from the procedure registry
// (every procedure of a fully wired API) and the socket protocol's catalog.
func tsFiles() (map[string][]byte, error) {
	r := trpc.NewRouter(trpc.Options{})
	api.Describe(r)
	var procs []tsgen.Procedure
	for _, p := range r.Procedures() {
		procs = append(procs, tsgen.Procedure{Path: p.Path, Kind: p.Kind, Public: p.Public, Input: p.Input, Output: p.Output})
	}
	apiTS, err := tsgen.Router(procs)
	if err != nil {
		return nil, err
	}
	var msgs []tsgen.Message
	for _, m := range protocol.Catalog() {
		msgs = append(msgs, tsgen.Message{Type: m.Type, ByClient: m.ByClient, ByServer: m.ByServer, Go: m.Go})
	}
	socketTS, err := tsgen.Socket(msgs)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"api.d.ts": []byte(apiTS), "socket.d.ts": []byte(socketTS)}, nil
}
