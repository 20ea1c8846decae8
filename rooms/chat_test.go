package rooms_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestSendMessageValidation(t *testing.T) {
	r := newRig(t, rooms.Config{ChatPerUser: 100})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	for _, tc := range []struct {
		name, session, text, typ string
		fields                   []string // none: accepted
		storedType               string
	}{
		{"one character", sess.ID, "a", "", nil, "text"},
		{"500 characters", sess.ID, strings.Repeat("字", 500), "text", nil, "text"},
		{"emoji", sess.ID, "🎉", "emoji", nil, "emoji"},
		{"sticker", sess.ID, "sticker:cat", "sticker", nil, "sticker"},
		{"markup kept as written", sess.ID, "<b>hi</b> & \"you\"", "", nil, "text"},
		{"line breaks and bidi kept as written", sess.ID, "one\ntwo \u202Eowt", "", nil, "text"},
		{"empty", sess.ID, "", "", []string{"message"}, ""},
		{"501 characters", sess.ID, strings.Repeat("字", 501), "", []string{"message"}, ""},
		{"not UTF-8", sess.ID, "bad\xff", "", []string{"message"}, ""},
		{"type gif", sess.ID, "hi", "gif", []string{"type"}, ""},
		{"type in capitals", sess.ID, "hi", "Text", []string{"type"}, ""},
		{"no session", "", "hi", "", []string{"sessionId"}, ""},
		{"all wrong", "", "", "video", []string{"sessionId", "message", "type"}, ""},
	} {
		r.aud.reset()
		m, err := r.svc.SendMessage(r.ctx, ann, tc.session, tc.text, tc.typ)
		if tc.fields != nil {
			wantInvalid(t, err, tc.fields...)
			silent(t, r.aud)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m.Message != tc.text || m.Type != tc.storedType || m.ID == "" || m.UserID != ann || m.DisplayName != "Ann" {
			t.Fatalf("%s: stored %+v", tc.name, m)
		}
		got := one[protocol.NewMessage](t, r.aud)
		if got.To != "" || got.Msg.SessionID != sess.ID || got.Msg.Message != rooms.ChatMessage(m) {
			t.Fatalf("%s: told %+v to %q, want %+v to everyone", tc.name, got.Msg, got.To, rooms.ChatMessage(m))
		}
	}
	msgs, err := r.svc.Messages(r.ctx, ann, sess.ID, 100, "")
	if err != nil || len(msgs) != 6 {
		t.Fatalf("stored %d messages (%v), want the 6 accepted", len(msgs), err)
	}
}

func TestSendMessageNeedsALiveSessionItCanRead(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, member := r.user("Host"), r.user("Ann"), r.user("Member")
	priv := r.live(host, true)
	r.join(member, priv.ID, rooms.RoleViewer, priv.InviteCode)

	_, err := r.svc.SendMessage(r.ctx, ann, "no-such-session", "hi", "")
	wantErr(t, err, rooms.ErrNotFound)
	_, err = r.svc.SendMessage(r.ctx, ann, priv.ID, "hi", "")
	wantErr(t, err, rooms.ErrForbidden)
	_, err = r.svc.Messages(r.ctx, ann, priv.ID, 10, "")
	wantErr(t, err, rooms.ErrForbidden)
	silent(t, r.aud)

	// A granted participant chats without being present; so does the host.
	for _, who := range []string{member, host} {
		if _, err := r.svc.SendMessage(r.ctx, who, priv.ID, "hi", ""); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	}
	if got := told[protocol.NewMessage](r.aud); len(got) != 2 {
		t.Fatalf("told %d messages", len(got))
	}
	if msgs, err := r.svc.Messages(r.ctx, member, priv.ID, 10, ""); err != nil || len(msgs) != 2 {
		t.Fatalf("Messages: %v, %v", msgs, err)
	}
}

func TestChatRateLimit(t *testing.T) {
	const window = 500 * time.Millisecond
	r := newRig(t, rooms.Config{ChatPerUser: 3, ChatWindow: window})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, false)
	other := r.live(host, false)

	start := time.Now()
	for i := range 3 {
		if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, fmt.Sprint("m", i), ""); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	r.aud.reset()
	_, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "one too many", "")
	if time.Since(start) >= window {
		t.Skip("the machine is too slow for this window")
	}
	wantErr(t, err, rooms.ErrRateLimited)
	silent(t, r.aud)
	if msgs, _ := r.svc.Messages(r.ctx, ann, sess.ID, 10, ""); len(msgs) != 3 {
		t.Fatalf("stored %d messages, want the 3 allowed", len(msgs))
	}
	// The limit is per user and per session.
	if _, err := r.svc.SendMessage(r.ctx, bob, sess.ID, "me too", ""); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if _, err := r.svc.SendMessage(r.ctx, ann, other.ID, "elsewhere", ""); err != nil {
		t.Fatalf("another session: %v", err)
	}
	// Invalid messages are refused before the limiter counts them.
	wantInvalid(t, func() error { _, err := r.svc.SendMessage(r.ctx, bob, sess.ID, "", ""); return err }(), "message")

	time.Sleep(window - time.Since(start) + 50*time.Millisecond)
	if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "later", ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestChatRateLimitDefault(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	for i := range rooms.DefaultChatPerUser {
		if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, fmt.Sprint("m", i), ""); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	_, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "sixth", "")
	wantErr(t, err, rooms.ErrRateLimited)
}

// countingLimiter allows n keys in all and counts the questions.
type countingLimiter struct {
	n, asked int
	keys     []string
}

func (l *countingLimiter) Allow(key string) bool {
	l.asked++
	l.keys = append(l.keys, key)
	return l.asked <= l.n
}

func TestChatLimiterIsAsked(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	lim := &countingLimiter{n: 1}
	svc := rooms.NewService(rooms.Params{Store: r.st, Audience: r.aud, Logger: quiet, ChatLimiter: lim})
	if _, err := svc.SendMessage(r.ctx, ann, sess.ID, "one", ""); err != nil {
		t.Fatal(err)
	}
	_, err := svc.SendMessage(r.ctx, ann, sess.ID, "two", "")
	wantErr(t, err, rooms.ErrRateLimited)
	if lim.asked != 2 || lim.keys[0] != lim.keys[1] || !strings.Contains(lim.keys[0], sess.ID) || !strings.Contains(lim.keys[0], ann) {
		t.Fatalf("limiter asked %d times with %q", lim.asked, lim.keys)
	}
}

func TestMessagesPaging(t *testing.T) {
	r := newRig(t, rooms.Config{ChatPerUser: 100})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	other := r.live(host, false)
	var sent []rooms.Message
	for i := range 7 {
		m, err := r.svc.SendMessage(r.ctx, ann, sess.ID, fmt.Sprint("m", i), "")
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	otherMsg, err := r.svc.SendMessage(r.ctx, ann, other.ID, "elsewhere", "")
	if err != nil {
		t.Fatal(err)
	}
	texts := func(ms []rooms.Message) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Message)
		}
		return strings.Join(out, ",")
	}

	// The newest page first, each page oldest first; then older pages.
	var pages []string
	before := ""
	for {
		page, err := r.svc.Messages(r.ctx, ann, sess.ID, 3, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, texts(page))
		before = page[0].ID
	}
	if got := strings.Join(pages, " | "); got != "m4,m5,m6 | m1,m2,m3 | m0" {
		t.Fatalf("pages %q", got)
	}
	page, err := r.svc.Messages(r.ctx, ann, sess.ID, 2, sent[3].ID)
	if err != nil || texts(page) != "m1,m2" {
		t.Fatalf("before m3: %q, %v", texts(page), err)
	}
	if page[0] != sent[1] {
		t.Fatalf("read %+v, sent %+v", page[0], sent[1])
	}
	// A cursor of another session, or of nothing, is not found.
	_, err = r.svc.Messages(r.ctx, ann, sess.ID, 3, otherMsg.ID)
	wantErr(t, err, rooms.ErrNotFound)
	_, err = r.svc.Messages(r.ctx, ann, sess.ID, 3, "nope")
	wantErr(t, err, rooms.ErrNotFound)
	_, err = r.svc.Messages(r.ctx, ann, "no-such-session", 3, "")
	wantErr(t, err, rooms.ErrNotFound)
	// The session's figures count every stored message.
	ended, err := r.svc.EndSession(r.ctx, host, sess.ID)
	if err != nil || ended.Stats.Messages != 7 {
		t.Fatalf("messages in stats: %d, %v", ended.Stats.Messages, err)
	}
}
