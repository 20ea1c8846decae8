package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/internal/tsgen"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/trpc"
)

// The client kit's input types (clients/ts/api.d.ts, from the inputs' ts
// tags) say what the server accepts, checked against the server itself:
// a field the server refuses to go without is required in the types (so a
// call that compiles is not refused for a missing field), and a field
// typed as a set of strings takes exactly that set (each value passes the
// server's checks of that field; a value outside it is refused).
func TestKitInputTypesAreTheServersRules(t *testing.T) {
	st := kitstack.SQLite(t)
	roomSvc := rooms.NewService(rooms.Params{Store: st, Logger: quietLogger()})
	econ, err := economy.New(economy.Params{Ledger: st, Stage: roomSvc})
	if err != nil {
		t.Fatal(err)
	}
	r := trpc.NewRouter(trpc.Options{MapError: api.MapError})
	api.New(api.Params{Store: st, Rooms: roomSvc, Economy: econ, Wallets: econ, Logger: quietLogger(),
		Tokens: auth.NewTokens(testSecret, time.Hour)}).Register(r)
	ctx := context.Background()
	out, err := r.Call(ctx, "auth.guest", nil)
	if err != nil {
		t.Fatal(err)
	}
	var guest struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if b, _ := json.Marshal(out); json.Unmarshal(b, &guest) != nil || guest.User.ID == "" {
		t.Fatalf("auth.guest gave %s", b)
	}
	ctx = auth.WithClaims(ctx, auth.Claims{UserID: guest.User.ID, Guest: true})

	// Rules between fields, which a type of each field cannot say.
	either := map[string]bool{"gifts.getLeaderboard sessionId": true} // sessionId or hostId

	fieldErrors := func(path, input string) map[string][]string {
		_, err := r.Call(ctx, path, json.RawMessage(input))
		var te *trpc.Error
		if errors.As(err, &te) {
			return te.FieldErrors
		}
		return nil
	}
	checked := 0
	for _, p := range r.Procedures() {
		if p.Input.Kind() != reflect.Struct {
			continue
		}
		optional := map[string]bool{}
		for _, f := range tsgen.NewWriter("Date").Fields(p.Input, tsgen.Input) {
			optional[f.Name] = f.Optional
		}
		for field := range fieldErrors(p.Path, "{}") {
			if optional[field] && !either[p.Path+" "+field] {
				t.Errorf("%s: the server refuses an input without %s, which the kit types as optional", p.Path, field)
			}
		}
		for i := range p.Input.NumField() {
			f := p.Input.Field(i)
			_, enum, ok := strings.Cut(f.Tag.Get("ts"), "enum=")
			if !ok {
				continue
			}
			enum, _, _ = strings.Cut(enum, ",")
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			for _, v := range strings.Split(enum, "|") {
				in, _ := json.Marshal(map[string]string{name: v})
				if msgs, bad := fieldErrors(p.Path, string(in))[name]; bad {
					t.Errorf("%s: %s %q is in the kit's type, and the server refuses it: %v", p.Path, name, v, msgs)
				}
			}
			in, _ := json.Marshal(map[string]string{name: "not-" + strings.ReplaceAll(enum, "|", "-")})
			if _, bad := fieldErrors(p.Path, string(in))[name]; !bad {
				t.Errorf("%s: the server takes a %s outside the kit's %s", p.Path, name, enum)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("only %d string sets checked", checked)
	}
	if !slices.ContainsFunc(r.Procedures(), func(p trpc.ProcedureInfo) bool { return p.Path == "users.deleteAccount" }) {
		t.Error("the wired API lacks users.deleteAccount: the check missed it")
	}
}
