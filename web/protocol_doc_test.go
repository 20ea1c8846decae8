package web_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chobilive/chobi/economy"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/trpc"
)

// docs/protocol.md names every socket message type under "## Socket
// messages" and every procedure beyond PROTOCOL.md under "## tRPC
// procedures beyond the contract", each with a heading of its own
// (### `name`): a message or procedure added without its entry, or an
// entry left for one that is gone, fails here.
func TestProtocolDocCoversEveryMessageAndProcedure(t *testing.T) {
	doc := readFile(t, "../docs/protocol.md")

	if diff := setDiff(headingsUnder(t, doc, "## Socket messages"), protocol.Types()); diff != "" {
		t.Errorf("docs/protocol.md ## Socket messages against package protocol's types:\n%s", diff)
	}

	contract := map[string]bool{}
	for _, p := range contractProcedures(t) {
		contract[p] = true
	}
	// Every procedure is registered with an economy (gifts, wallet).
	st := kitstack.Open(t, kitstack.SQLiteConfig(t))
	roomSvc := rooms.NewService(rooms.Params{Store: st, Logger: quietLogger()})
	econ, err := economy.New(economy.Params{Ledger: st, Stage: roomSvc})
	if err != nil {
		t.Fatal(err)
	}
	r := trpc.NewRouter(trpc.Options{})
	api.New(api.Params{Store: st, Rooms: roomSvc, Economy: econ, Wallets: econ, Logger: quietLogger(),
		StreamKeys: streamkey.New(testSecret), StreamKeyStore: st}).Register(r)
	// The client kit's types are generated from api.Describe's registry
	// (chobi gen ts): it must hold what a wired API serves.
	described := trpc.NewRouter(trpc.Options{})
	api.Describe(described)
	if diff := setDiff(described.Paths(), r.Paths()); diff != "" {
		t.Errorf("api.Describe's procedures against a wired API's:\n%s", diff)
	}
	var extensions []string
	for _, p := range r.Paths() {
		if !contract[p] {
			extensions = append(extensions, p)
		}
	}
	if diff := setDiff(headingsUnder(t, doc, "## tRPC procedures beyond the contract"), extensions); diff != "" {
		t.Errorf("docs/protocol.md ## tRPC procedures beyond the contract against the served procedures not in PROTOCOL.md:\n%s", diff)
	}
}

// contractProcedures lists the procedures of PROTOCOL.md's tables, from
// the copy in testdata (CI's clone has no ../shared beside it); where
// ../shared is there, the copy must still be what PROTOCOL.md lists.
func contractProcedures(t *testing.T) []string {
	t.Helper()
	copied := strings.Fields(readFile(t, "testdata/contract-procedures.txt"))
	if len(copied) < 15 {
		t.Fatalf("testdata/contract-procedures.txt lists only %d procedures", len(copied))
	}
	contract, err := os.ReadFile("../../shared/PROTOCOL.md")
	if err != nil {
		t.Logf("../shared/PROTOCOL.md is not here: using testdata/contract-procedures.txt as copied")
		return copied
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+\\.[A-Za-z]+)` \\|").FindAllStringSubmatch(string(contract), -1) {
		listed = append(listed, m[1])
	}
	if diff := setDiff(copied, listed); diff != "" {
		t.Fatalf("testdata/contract-procedures.txt against PROTOCOL.md's tables:\n%s", diff)
	}
	return copied
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headingsUnder lists the ### `name` headings of one ## section.
func headingsUnder(t *testing.T, doc, section string) []string {
	t.Helper()
	start := strings.Index(doc, "\n"+section+"\n")
	if start < 0 {
		t.Fatalf("no section %q", section)
	}
	body := doc[start+len(section)+2:]
	if end := strings.Index(body, "\n## "); end >= 0 {
		body = body[:end]
	}
	var out []string
	for _, m := range regexp.MustCompile("(?m)^### `([^`]+)`$").FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// setDiff says what only the doc or only the code has ("" when they agree).
func setDiff(documented, served []string) string {
	var b strings.Builder
	for _, d := range documented {
		if !slices.Contains(served, d) {
			b.WriteString("  documented, not served: " + d + "\n")
		}
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			b.WriteString("  served, not documented: " + s + "\n")
		}
	}
	return b.String()
}
