package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/store"
)

// chobi admin, and the crash test: the real binary under gift load is
// killed with SIGKILL, restarted, and reconciles with no gift lost or
// doubled. Both run on SQLite and, with CHOBI_TEST_POSTGRES_URL, on
// Postgres.

// engineEnv is a test database as the binary's environment.
type engineEnv struct {
	name string
	env  env
}

func testEngines(t *testing.T) []engineEnv {
	t.Helper()
	out := []engineEnv{{"sqlite", env{"CHOBI_DATA_DIR": t.TempDir()}}}
	base := testkit.PostgresBase(t, "THE POSTGRES HALF")
	if base == "" {
		return out
	}
	return append(out, engineEnv{"postgres", env{"CHOBI_DATA_DIR": t.TempDir(), "DATABASE_URL": testkit.SchemaOn(t, base, "chobi_c_")}})
}

func TestAdminUsage(t *testing.T) {
	e := env{"CHOBI_DATA_DIR": t.TempDir()}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin"}, 2, "grant-coins"},
		{[]string{"admin", "help"}, 0, "reconcile"},
		{[]string{"admin", "bogus"}, 2, "unknown command"},
		{[]string{"admin", "grant-coins"}, 2, "--user and --amount are required"},
		{[]string{"admin", "grant-coins", "--user", "x", "--amount", "ten"}, 2, "invalid value"},
		{[]string{"admin", "reconcile", "extra"}, 2, "takes no arguments"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, e.getenv, &stdout, &stderr); code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.want) {
			t.Errorf("%v: exit %d (want %d), output %q %q", c.args, code, c.code, stdout.String(), stderr.String())
		}
	}
}

func TestAdminGrantAndReconcile(t *testing.T) {
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.env.with("LOG_LEVEL", "error")
			admin := func(args ...string) (int, string) {
				var stdout, stderr bytes.Buffer
				code := run(append([]string{"admin"}, args...), e.getenv, &stdout, &stderr)
				return code, stdout.String() + stderr.String()
			}
			if code, out := admin("reconcile"); code != 0 || !strings.Contains(out, "OK") {
				t.Fatalf("reconcile of an empty ledger: exit %d\n%s", code, out)
			}
			cfg, err := loadConfig(e.getenv)
			if err != nil {
				t.Fatal(err)
			}
			st := kitstack.Open(t, store.Config{PostgresURL: cfg.PostgresURL, SQLitePath: cfg.sqlitePath()})
			u, err := st.CreateUser(context.Background(), store.NewUser{Username: "Lucky", DisplayName: "Lucky"})
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range [][]string{
				{"--user", "nobody", "--amount", "5"},
				{"--user", "lucky", "--amount", "-5"},
				{"--user", "lucky", "--amount", "1000000000001"},
			} {
				if code, out := admin(append([]string{"grant-coins"}, bad...)...); code != 1 {
					t.Fatalf("grant-coins %v: exit %d\n%s", bad, code, out)
				}
			}
			code, out := admin("grant-coins", "--user", "lucky", "--amount", "1500", "--note", "welcome", "--idempotency-key", "w1")
			if code != 0 || !strings.Contains(out, "granted 1500 coins to Lucky ("+u.ID+"): balance 1500") {
				t.Fatalf("grant-coins by username: exit %d\n%s", code, out)
			}
			if code, out := admin("grant-coins", "--user", u.ID, "--amount", "1500", "--note", "welcome", "--idempotency-key", "w1"); code != 0 ||
				!strings.Contains(out, "already granted") || !strings.Contains(out, "balance 1500") {
				t.Fatalf("grant-coins repeated with its key: exit %d\n%s", code, out)
			}
			if code, out := admin("grant-coins", "--user", u.ID, "--amount", "25"); code != 0 || !strings.Contains(out, "balance 1525") {
				t.Fatalf("grant-coins by id: exit %d\n%s", code, out)
			}
			code, out = admin("reconcile")
			if code != 0 || !strings.Contains(out, "sum of coins over all accounts: 0") || !strings.Contains(out, "platform coins issuance: -1525") {
				t.Fatalf("reconcile: exit %d\n%s", code, out)
			}
			// Money from nowhere: reconcile says what is wrong and fails.
			if _, err := st.DB().Exec(strings.ReplaceAll(`UPDATE ledger_accounts SET balance = balance + 1 WHERE id = 'user:ID:coins'`, "ID", u.ID)); err != nil {
				t.Fatal(err)
			}
			code, out = admin("reconcile")
			if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "[account-balance] user:"+u.ID+":coins 1526 1525") ||
				!strings.Contains(out, "[zero-sum] coins") {
				t.Fatalf("reconcile of a corrupt ledger: exit %d\n%s", code, out)
			}
			// A fraction of a diamond carried that no gift earned: exact
			// earnings are checked too.
			if _, err := st.DB().Exec(strings.ReplaceAll(`INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, share_carry, created_at)
				VALUES ('user:ID:diamonds', 'ID', 'wallet', 'diamonds', 0, 1, 0)`, "ID", u.ID)); err != nil {
				t.Fatal(err)
			}
			code, out = admin("reconcile")
			if code != 1 || !strings.Contains(out, "[share-carry] user:"+u.ID+":diamonds 0 0 0 0 1") {
				t.Fatalf("reconcile of a carry no gift earned: exit %d\n%s", code, out)
			}
		})
	}
}

// TestAdminNotify sends a system notification from the command line: it is
// in the user's list, and queued for their phone.
func TestAdminNotify(t *testing.T) {
	// The keys the test's own store seals the phone's token with.
	e := env{"CHOBI_DATA_DIR": t.TempDir(), "LOG_LEVEL": "error", "DATA_ENCRYPTION_KEYS": kitstack.TestKeys}
	admin := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"admin", "notify"}, args...), e.getenv, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, _ := admin("--user", "x"); code != 2 {
		t.Fatalf("notify without a title: exit %d", code)
	}
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		t.Fatal(err)
	}
	st := kitstack.Open(t, store.Config{SQLitePath: cfg.sqlitePath()})
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(context.Background(), store.NewUser{Username: "Reader", DisplayName: "Reader"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterPushToken(context.Background(), store.PushToken{Token: "ExponentPushToken[reader]", UserID: u.ID, Platform: "ios"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"--user", "reader", "--title", strings.Repeat("x", 101)}, {"--title", "t"}} {
		if code, out := admin(bad...); code != 2 {
			t.Fatalf("notify %v: exit %d\n%s", bad, code, out)
		}
	}
	if code, out := admin("--user", "nobody", "--title", "Hi"); code != 1 || !strings.Contains(out, "no user") {
		t.Fatalf("notify of nobody: exit %d\n%s", code, out)
	}
	if code, out := admin("--user", "reader", "--title", "صيانة الليلة", "--body", "Back at 3"); code != 0 || !strings.Contains(out, "notified Reader") {
		t.Fatalf("notify: exit %d\n%s", code, out)
	}
	list, _, err := st.Notifications(context.Background(), u.ID, store.NotificationFilter{Limit: 10})
	if err != nil || len(list) != 1 || list[0].Type != "system" || list[0].Title != "صيانة الليلة" || list[0].Body != "Back at 3" {
		t.Fatalf("notifications %+v (%v)", list, err)
	}
	if n, _, err := st.Depth(context.Background()); err != nil || n != 1 {
		t.Fatalf("%d pushes queued (%v), want 1", n, err)
	}
}

// TestAdminFilter manages the chat filter from the command line.
func TestAdminFilter(t *testing.T) {
	e := env{"CHOBI_DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	admin := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"admin", "filter"}, args...), e.getenv, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	for _, bad := range [][]string{{}, {"add"}, {"list", "--word", "x"}, {"purge"}, {"add", "--word", "x", "extra"}} {
		if code, out := admin(bad...); code != 2 {
			t.Fatalf("filter %v: exit %d\n%s", bad, code, out)
		}
	}
	if code, out := admin("add", "--word", "   "); code != 1 || !strings.Contains(out, "empty") {
		t.Fatalf("add a blank word: exit %d\n%s", code, out)
	}
	if code, out := admin("add", "--word", "كلمة"); code != 0 || !strings.Contains(out, "masked") {
		t.Fatalf("add: exit %d\n%s", code, out)
	}
	if code, out := admin("add", "--word", "Spam Link", "--refuse"); code != 0 || !strings.Contains(out, "refused") {
		t.Fatalf("add --refuse: exit %d\n%s", code, out)
	}
	if code, out := admin("list"); code != 0 || !strings.Contains(out, "mask\tكلمة") || !strings.Contains(out, "refuse\tSpam Link") || !strings.Contains(out, "2 words") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if code, out := admin("remove", "--word", "كَلِمَه"); code != 0 { // a variant names the same word
		t.Fatalf("remove: exit %d\n%s", code, out)
	}
	if code, out := admin("remove", "--word", "كلمة"); code != 1 || !strings.Contains(out, "not in the filter") {
		t.Fatalf("remove again: exit %d\n%s", code, out)
	}
}

// TestCrashSafety runs the real binary under gift load, kills it with
// SIGKILL mid-load, restarts it, and checks with chobi admin reconcile and
// through the API that no gift was lost or doubled: every gift the clients
// saw succeed is there exactly once, and sending every attempted gift again
// with its idempotency key makes exactly one gift per key.
func TestCrashSafety(t *testing.T) {
	bin := chobiBinary(t)
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) { crashTest(t, bin, eng.env) })
	}
}

func crashTest(t *testing.T, bin string, base env) {
	e := base.with("RTC_DISABLED", "true", "LOG_LEVEL", "warn", "JWT_SECRET", "crash-test-secret-0123456789abcdef")
	srv := startBinary(t, bin, e)
	c := &apiClient{base: srv.url, http: http.Client{Timeout: 10 * time.Second}}

	host := c.guest(t, "Host")
	const fans, price = 8, 5 // gift_heart
	var fanTokens []string
	for i := range fans {
		f := c.guest(t, fmt.Sprint("Fan ", i))
		fanTokens = append(fanTokens, f.Token)
		if _, err := c.call("wallet.topUp", f.Token, map[string]any{"amount": 1_000_000}); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := c.call("streaming.createSession", host.Token, map[string]any{"title": "crash", "type": "audio", "category": "test", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	sessionID := sess["id"].(string)
	request := func(key string) map[string]any {
		return map[string]any{"sessionId": sessionID, "giftId": "gift_heart", "recipientId": host.User.ID, "quantity": 1, "idempotencyKey": key}
	}

	// Load: every fan sends gifts with fresh keys until the server dies.
	var mu sync.Mutex
	attempted := map[string]int{} // key → fan
	acked := map[string]string{}  // key → gift id
	var wg sync.WaitGroup
	for f := range fans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("crash-%d-%d", f, i)
				mu.Lock()
				attempted[key] = f
				mu.Unlock()
				out, err := c.call("gifts.sendGift", fanTokens[f], request(key))
				if err != nil {
					return // the server is gone (or refused: checked after the restart)
				}
				mu.Lock()
				acked[key] = out["id"].(string)
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 150 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill(t)
	killedAt := time.Now()
	wg.Wait()
	t.Logf("killed with %d gifts acknowledged of %d attempted", len(acked), len(attempted))
	if len(acked) == 0 {
		t.Fatal("no gift went through before the kill")
	}

	srv = startBinary(t, bin, e)
	c.base = srv.url
	reconcileOK(t, bin, e, -1)

	// Every attempted gift again, with its key: an acknowledged one returns
	// its first result; one the crash cut off either committed (and returns
	// it) or did not (and is sent now). Either way one gift per key.
	ids := map[string]bool{}
	cutOff, committed := 0, 0
	for key, f := range attempted {
		out, err := c.call("gifts.sendGift", fanTokens[f], request(key))
		if err != nil {
			t.Fatalf("resending %s: %v", key, err)
		}
		id := out["id"].(string)
		if first, ok := acked[key]; ok && id != first {
			t.Fatalf("key %s answered %s before the crash and %s after", key, first, id)
		}
		if _, ok := acked[key]; !ok {
			cutOff++
			if at, err := time.Parse(time.RFC3339Nano, out["createdAt"].(string)); err == nil && at.Before(killedAt) {
				committed++
			}
		}
		if ids[id] {
			t.Fatalf("gift %s returned for two keys", id)
		}
		ids[id] = true
	}
	t.Logf("of the %d gifts cut off by the kill, %d had committed (their key returned them) and %d were sent again", cutOff, committed, cutOff-committed)
	perFan := make([]int64, fans)
	for _, f := range attempted {
		perFan[f]++
	}
	for f, tok := range fanTokens {
		bal, err := c.query("wallet.getBalance", tok)
		if err != nil {
			t.Fatal(err)
		}
		if coins := int64(bal["coins"].(float64)); coins != 1_000_000-perFan[f]*price {
			t.Fatalf("fan %d holds %d coins after %d gifts of %d", f, coins, perFan[f], price)
		}
	}
	bal, err := c.query("wallet.getBalance", host.Token)
	if err != nil {
		t.Fatal(err)
	}
	// Exact earnings: ⌊gifts × 5 coins × 0.5⌋, however the kill split them.
	if d := int64(bal["diamonds"].(float64)); d != int64(len(attempted))*price/2 {
		t.Fatalf("the host holds %d diamonds after %d gifts, want %d", d, len(attempted), int64(len(attempted))*price/2)
	}
	srv.stop(t)
	reconcileOK(t, bin, e, len(attempted))
}

// reconcileOK runs chobi admin reconcile and checks it passes (and, when
// gifts ≥ 0, that the ledger holds that many gifts).
func reconcileOK(t *testing.T, bin string, e env, gifts int) {
	t.Helper()
	cmd := exec.Command(bin, "admin", "reconcile")
	cmd.Env = e.list()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: every invariant holds") {
		t.Fatalf("chobi admin reconcile: %v\n%s", err, out)
	}
	if gifts >= 0 {
		m := regexp.MustCompile(`(\d+) gifts`).FindStringSubmatch(string(out))
		if m == nil || m[1] != strconv.Itoa(gifts) {
			t.Fatalf("reconcile counts %v gifts, want %d:\n%s", m, gifts, out)
		}
	}
}

func (e env) list() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

type binary struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	log  *testkit.Buffer
}

func startBinary(t *testing.T, bin string, e env) *binary {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := &binary{cmd: exec.Command(bin, "serve"), url: "http://" + addr, done: make(chan error, 1), log: &testkit.Buffer{}}
	b.cmd.Env = e.with("HTTP_ADDR", addr).list()
	b.cmd.Stdout, b.cmd.Stderr = io.Discard, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("chobi exited at start: %v\n%s", err, b.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chobi did not answer /healthz:\n%s", b.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *binary) kill(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-b.done
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("chobi did not die of SIGKILL: %v", err)
	}
	b.done <- err
}

func (b *binary) stop(t *testing.T) {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			t.Fatalf("chobi stopped with %v\n%s", err, b.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("chobi did not stop on SIGTERM\n%s", b.log)
	}
}

// apiClient calls the tRPC API over plain JSON.
type apiClient struct {
	base string
	http http.Client
}

type guestOut struct {
	Token string `json:"token"`
	User  struct {
		ID string `json:"id"`
	} `json:"user"`
}

func (c *apiClient) guest(t *testing.T, name string) guestOut {
	t.Helper()
	out, err := c.call("auth.guest", "", map[string]any{"displayName": name})
	if err != nil {
		t.Fatal(err)
	}
	var g guestOut
	b, _ := json.Marshal(out)
	json.Unmarshal(b, &g)
	return g
}

// call runs a mutation (its input sent as JSON, nil as null).
func (c *apiClient) call(path, token string, input any) (map[string]any, error) {
	body, _ := json.Marshal(input)
	var data map[string]any
	return data, into(c.trpc().Mutation(token, path, testkit.RawInput(body)))(&data)
}

// query runs a query without input (path may carry its own ?input=).
func (c *apiClient) query(path, token string) (map[string]any, error) {
	var data map[string]any
	return data, into(c.trpc().Query(token, path, nil))(&data)
}

func (c *apiClient) trpc() *testkit.TRPC { return &testkit.TRPC{URL: c.base, Client: &c.http} }

// into decodes a call's output, or says how the call failed.
func into(r *testkit.Reply, err error) func(out any) error {
	return func(out any) error {
		if err != nil {
			return err
		}
		return r.Into(out)
	}
}

func TestHostShareConfig(t *testing.T) {
	e := env{"CHOBI_DATA_DIR": t.TempDir()}
	c, err := loadConfig(e.getenv)
	if err != nil || c.HostShare != 0.5 {
		t.Fatalf("default HOST_SHARE: %v %v", c.HostShare, err)
	}
	if c, err := loadConfig(e.with("HOST_SHARE", "0.7").getenv); err != nil || c.HostShare != 0.7 {
		t.Fatalf("HOST_SHARE=0.7: %v %v", c.HostShare, err)
	}
	for _, bad := range []string{"0", "-0.5", "1.5", "half", "NaN", "0.0000001"} {
		if _, err := loadConfig(e.with("HOST_SHARE", bad).getenv); err == nil || !strings.Contains(err.Error(), "HOST_SHARE") {
			t.Errorf("HOST_SHARE=%q: err = %v", bad, err)
		}
	}
}
