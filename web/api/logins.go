package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chobilive/chobi/web/trpc"
)

// limit is a limiter and its window, which a refusal's Retry-After gives.
type limit struct {
	Limiter
	per time.Duration
}

// loginLimits bound the guesses at passwords. Counted per address and
// account, a guesser at one address locks only itself out of the account,
// never its owner elsewhere; the account's own, larger, limit holds off
// guessers at many addresses; the address's holds off one guessing at many
// accounts (larger than the pair's: users behind one NAT share it).
type loginLimits struct {
	pair, account, address limit
}

// passwordAttempt is one guess at an account's password, counted against
// every limit before the password is checked.
type passwordAttempt struct {
	l                      *loginLimits
	pair, account, address string
}

// begin counts a guess at username's password from addr, or returns the
// window of the limit that is used up. Counting before the password is
// checked, not after a wrong one, keeps guesses sent at once within the
// limits: each takes its place first.
func (l *loginLimits) begin(addr, username string) (*passwordAttempt, time.Duration) {
	name := strings.ToLower(username) // usernames are case-insensitive (UserByUsername), so are the keys
	at := &passwordAttempt{l: l, pair: "pair:" + addr + "|" + name, account: "user:" + name, address: "addr:" + addr}
	counted := at.counts()
	for i, c := range counted {
		if !c.lim.Allow(c.key) {
			for _, done := range counted[:i] {
				done.lim.Undo(done.key)
			}
			return nil, c.lim.per
		}
	}
	return at, 0
}

type counted struct {
	lim limit
	key string
}

func (at *passwordAttempt) counts() []counted {
	return []counted{{at.l.pair, at.pair}, {at.l.account, at.account}, {at.l.address, at.address}}
}

// right ends an attempt whose password was right: the address knows it, so
// its guesses at the account are forgotten; the account and the address
// get this attempt back, but not the failures of others.
func (at *passwordAttempt) right() {
	at.l.pair.Reset(at.pair)
	at.l.account.Undo(at.account)
	at.l.address.Undo(at.address)
}

// void gives back an attempt that checked no password (the database failed).
func (at *passwordAttempt) void() {
	for _, c := range at.counts() {
		c.lim.Undo(c.key)
	}
}

// tooManyGuesses is the refusal of an attempt over a limit of window per.
func tooManyGuesses(what string, per time.Duration) error {
	return &trpc.Error{Code: trpc.CodeTooManyRequests, Message: fmt.Sprintf("too many %s: try again in %s", what, inWords(per)),
		Header: map[string]string{"Retry-After": strconv.Itoa(int(per.Round(time.Second).Seconds()))}}
}

// inWords says a window as people do: "15 minutes", "1 hour", "90 seconds".
func inWords(d time.Duration) string {
	unit, n := "second", int(d.Round(time.Second).Seconds())
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		unit, n = "hour", int(d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		unit, n = "minute", int(d/time.Minute)
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}
