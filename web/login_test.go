package web_test

// The failed-login limits (docs/configuration.md): per address and
// account, per account from every address, per address across accounts.
// Wrong guesses from one address never lock the account's owner out
// elsewhere, and concurrent guesses cannot pass a limit together.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/web/api"
)

func TestLoginFailuresDoNotLockTheOwnerOut(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, name := range []string{"carol", "dave"} {
		ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": name, "password": "right password"}))
	}
	login := func(c *http.Client, name, password string) reply {
		return s.mutateFrom(t, c, "", "auth.login", map[string]any{"username": name, "password": password})
	}
	attacker, owner := clientFrom(t, "127.0.0.50"), clientFrom(t, "127.0.0.51")
	for i := range 10 {
		wantError(t, login(attacker, "carol", fmt.Sprintf("guess %d", i)), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	}
	r := login(attacker, "carol", "right password")
	wantError(t, r, "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
	if r.Header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900 (the window)", r.Header.Get("Retry-After"))
	}
	ok[authOut](t, login(owner, "carol", "right password"))
	// The attacker's address is not locked out of another account by it.
	wantError(t, login(attacker, "dave", "wrong"), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	ok[authOut](t, login(attacker, "dave", "right password"))
}

// Many addresses together get LOGIN_ACCOUNT_FAILURE_LIMIT guesses at an
// account; then it is closed to every address until the window passes.
func TestLoginFailuresPerAccount(t *testing.T) {
	s := newStack(t, stackOptions{params: func(p *api.Params) {
		p.LoginFailures = api.Rate{N: 2, Per: time.Minute}
		p.AccountLoginFailures = api.Rate{N: 5, Per: time.Minute}
	}})
	ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "erin", "password": "right password"}))
	login := func(ip, password string) reply {
		return s.mutateFrom(t, clientFrom(t, ip), "", "auth.login", map[string]any{"username": "ERIN", "password": password})
	}
	for i := range 5 {
		wantError(t, login(fmt.Sprintf("127.0.0.%d", 60+i/2), "wrong"), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	}
	r := login("127.0.0.70", "right password")
	wantError(t, r, "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
	if r.Header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q, want 60", r.Header.Get("Retry-After"))
	}
}

// Guesses sent at once are counted before the passwords are checked: no
// more than the limit are checked, however many run together.
func TestConcurrentLoginFailuresStayWithinTheLimits(t *testing.T) {
	s := newStack(t, stackOptions{})
	ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "frank", "password": "right password"}))
	burst := func(ip string, n int, name func(i int) string) map[int]int {
		c := clientFrom(t, ip)
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"username":%q,"password":"guess %d"}`, name(i), i)
				resp, err := c.Post(s.url+"/api/trpc/auth.login", "application/json", strings.NewReader(body))
				status := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return statuses
	}

	one := burst("127.0.0.80", 30, func(int) string { return "frank" })
	t.Logf("30 guesses at one account at once: %v", one)
	if one[http.StatusUnauthorized] != 10 || one[http.StatusTooManyRequests] != 20 {
		t.Errorf("statuses %v, want 10 checked (401) and 20 refused (429)", one)
	}
	spray := burst("127.0.0.81", 60, func(i int) string { return fmt.Sprintf("nobody%d", i) })
	t.Logf("60 guesses at different names at once: %v", spray)
	if spray[http.StatusUnauthorized] != 30 || spray[http.StatusTooManyRequests] != 30 {
		t.Errorf("statuses %v, want 30 checked (401) and 30 refused (429)", spray)
	}
}
