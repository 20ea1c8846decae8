package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// Chat text that is not UTF-8 is refused with BAD_REQUEST over the API,
// in a body and in a query's input, plain and superjson, and nothing is
// stored: encoding/json would have stored U+FFFD in its place.
func TestInvalidUTF8IsRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	host := s.guest(t, "Host")
	sess := s.createSession(t, host, "Text room", false)
	send := func(message string) raw {
		return raw(`{"sessionId":"` + sess.ID + `","message":"` + message + `","type":"text"}`)
	}

	for name, tc := range map[string]struct {
		body raw
		want string
	}{
		"a stray byte":     {send("bad \xff byte"), "input: invalid UTF-8 in a string at byte 63"},
		"a cut sequence":   {send("cut \xe2\x82"), "input: invalid UTF-8 in a string at byte 63"},
		"a lone surrogate": {send(`half \ud83d`), `input: a lone UTF-16 surrogate (\ud83d) at byte 64`},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, s.mutate(t, host.token, "chat.sendMessage", tc.body), "BAD_REQUEST", http.StatusBadRequest, "chat.sendMessage")
			if e.Message != tc.want {
				t.Errorf("message %q, want %q", e.Message, tc.want)
			}
		})
	}
	t.Run("superjson", func(t *testing.T) {
		r := s.mutate(t, host.token, "chat.sendMessage", raw(`{"json":`+string(send("\xc3"))+`}`))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `{"error":{"json":{"message":"input: invalid UTF-8`) {
			t.Errorf("HTTP %d: %s", r.Status, r.Body)
		}
	})
	t.Run("in a query's input", func(t *testing.T) {
		wantError(t, s.query(t, host.token, "chat.getMessages", raw(`{"sessionId":"`+sess.ID+"\",\"before\":\"\xff\"}")),
			"BAD_REQUEST", http.StatusBadRequest, "chat.getMessages")
	})

	if list := ok[[]messageOut](t, s.query(t, host.token, "chat.getMessages", map[string]any{"sessionId": sess.ID})); len(list) != 0 {
		t.Fatalf("stored: %+v", list)
	}
	// Text that is UTF-8, U+FFFD itself included, still goes through.
	m := ok[messageOut](t, s.mutate(t, host.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "سلام 👋 \ufffd", "type": "text"}))
	if m.Message != "سلام 👋 \ufffd" {
		t.Errorf("stored %q", m.Message)
	}
}
