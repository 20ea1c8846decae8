package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chobilive/chobi/web/trpc"
)

// limitsConfig are PROTOCOL.md §3's limits, every one configurable (its
// defaults are the contract's).
type limitsConfig struct {
	MaxCoHosts     int  // MAX_COHOSTS: co-hosts on a stage at once
	Chat           rate // CHAT_RATE_LIMIT: chat messages per user per session
	LoginFailures  rate // LOGIN_FAILURE_LIMIT: failed logins per address and account
	AccountLogins  rate // LOGIN_ACCOUNT_FAILURE_LIMIT: failed logins per account, from every address
	AddressLogins  rate // LOGIN_ADDRESS_FAILURE_LIMIT: failed logins per address, at every account
	GuestLogins    rate // GUEST_LOGIN_LIMIT: auth.guest per address, in production
	WSMaxFrame     int64
	WSFramesPerSec int
	TRPCMaxBatch   int   // TRPC_MAX_BATCH: calls in one tRPC batch
	TRPCMaxAnswer  int64 // TRPC_MAX_RESPONSE_BYTES: the encoded results of one tRPC request
}

// rate is N events per window, written "5/5s".
type rate struct {
	N   int
	Per time.Duration
}

func (r rate) String() string { return fmt.Sprintf("%d/%s", r.N, r.Per) }

func defaultLimits() limitsConfig {
	return limitsConfig{
		MaxCoHosts:     8,
		Chat:           rate{5, 5 * time.Second},
		LoginFailures:  rate{10, 15 * time.Minute},
		AccountLogins:  rate{50, 15 * time.Minute},
		AddressLogins:  rate{30, 15 * time.Minute},
		GuestLogins:    rate{30, time.Minute},
		WSMaxFrame:     64 << 10,
		WSFramesPerSec: 50,
		TRPCMaxBatch:   trpc.DefaultMaxBatchCalls,
		TRPCMaxAnswer:  trpc.DefaultMaxResponseBytes,
	}
}

func loadLimitsConfig(getenv func(string) string) (limitsConfig, error) {
	l := defaultLimits()
	var errs []string
	whole := func(name string, into *int, min, max int) {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			return
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Sprintf("%s must be a whole number from %d to %d, got %q", name, min, max, raw))
			return
		}
		*into = n
	}
	perWindow := func(name string, into *rate) {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			return
		}
		r, err := parseRate(raw)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s must be N/duration like %s: %v", name, into, err))
			return
		}
		*into = r
	}
	whole("MAX_COHOSTS", &l.MaxCoHosts, 1, 64)
	perWindow("CHAT_RATE_LIMIT", &l.Chat)
	perWindow("LOGIN_FAILURE_LIMIT", &l.LoginFailures)
	perWindow("LOGIN_ACCOUNT_FAILURE_LIMIT", &l.AccountLogins)
	perWindow("LOGIN_ADDRESS_FAILURE_LIMIT", &l.AddressLogins)
	perWindow("GUEST_LOGIN_LIMIT", &l.GuestLogins)
	frame := int(l.WSMaxFrame)
	whole("WS_MAX_FRAME_BYTES", &frame, 1024, 1<<20) // an SDP offer needs a few KB
	l.WSMaxFrame = int64(frame)
	whole("WS_FRAMES_PER_SECOND", &l.WSFramesPerSec, 1, 10_000)
	whole("TRPC_MAX_BATCH", &l.TRPCMaxBatch, 1, 1000)
	answer := int(l.TRPCMaxAnswer)
	whole("TRPC_MAX_RESPONSE_BYTES", &answer, 64<<10, 256<<20) // one page of any list fits in 64 KiB
	l.TRPCMaxAnswer = int64(answer)
	if len(errs) > 0 {
		return l, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return l, nil
}

// parseRate reads "N/duration" ("5/5s", "10/15m"; a bare unit means one:
// "30/m" is 30 a minute).
func parseRate(s string) (rate, error) {
	nStr, perStr, ok := strings.Cut(s, "/")
	if !ok {
		return rate{}, fmt.Errorf("no '/' in %q", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(nStr))
	if err != nil || n < 1 {
		return rate{}, fmt.Errorf("%q is not a count of at least 1", nStr)
	}
	perStr = strings.TrimSpace(perStr)
	if perStr != "" && (perStr[0] < '0' || perStr[0] > '9') {
		perStr = "1" + perStr
	}
	per, err := time.ParseDuration(perStr)
	if err != nil || per < time.Second {
		return rate{}, fmt.Errorf("%q is not a window of at least 1s", perStr)
	}
	return rate{N: n, Per: per}, nil
}
