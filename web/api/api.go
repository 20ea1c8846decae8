// Package api implements the app's tRPC procedures (PROTOCOL.md §1) on top
// of the rooms domain and the store.
package api

import (
	"context"
	"errors"
	"github.com/chobilive/chobi/cache"
	"log/slog"
	"net/http"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/ratelimit"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/trpc"
)

// Store is the storage the handlers need beyond rooms: accounts, follows,
// videos, notifications and analytics. Implemented by *store.Store.
type Store interface {
	CreateUser(ctx context.Context, nu store.NewUser) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	UpdateProfile(ctx context.Context, id string, up store.ProfileUpdate) (store.User, error)
	FollowNotify(ctx context.Context, followerID, followeeID string) (bool, *store.Notification, error)
	Unfollow(ctx context.Context, followerID, followeeID string) (bool, error)
	IsFollowing(ctx context.Context, followerID, followeeID string) (bool, error)
	AddVideo(ctx context.Context, v store.Video) (store.Video, error)
	VideoByID(ctx context.Context, id string) (store.Video, error)
	Videos(ctx context.Context, f store.VideoFilter) ([]store.Video, string, error)
	RecordView(ctx context.Context, id string) (int64, error)
	SetLike(ctx context.Context, userID, videoID string, like bool) (int64, error)
	Notifications(ctx context.Context, userID string, f store.NotificationFilter) ([]store.Notification, int, error)
	MarkRead(ctx context.Context, userID string, ids []string, all bool) (int, error)
	RegisterPushToken(ctx context.Context, p store.PushToken) error
	UnregisterPushToken(ctx context.Context, userID, token string) (bool, error)
	Privacy(ctx context.Context, userID string) (store.PrivacySettings, error)
	UpdatePrivacy(ctx context.Context, userID string, u store.PrivacyUpdate) (store.PrivacySettings, error)
	Block(ctx context.Context, blockerID, blockedID string) (bool, error)
	Unblock(ctx context.Context, blockerID, blockedID string) (bool, error)
	BlockedUsers(ctx context.Context, userID string, limit int) ([]store.UserCard, error)
	BlockedEitherWay(ctx context.Context, userID string) (map[string]bool, error)
	LiveSessionsHostedBy(ctx context.Context, userID string) ([]string, error)
	AddReport(ctx context.Context, r store.Report) (store.Report, error)
	Followers(ctx context.Context, viewerID, userID string, limit int, cursor string) (store.UserPage, error)
	Following(ctx context.Context, viewerID, userID string, limit int, cursor string) (store.UserPage, error)
	SearchUsers(ctx context.Context, viewerID, query string, limit int, cursor string) (store.UserPage, error)
	NotificationSettings(ctx context.Context, userID string) (store.NotificationSettings, error)
	UpdateNotificationSettings(ctx context.Context, userID string, u store.SettingsUpdate) (store.NotificationSettings, error)
	StreamStats(ctx context.Context, userID string, days int) (store.StreamStats, error)
}

var _ Store = (*store.Store)(nil)

// ICEServer is an RTCIceServer as browsers take it.
type ICEServer = protocol.ICEServer

// Params wire the API.
type Params struct {
	Store      Store
	Rooms      *rooms.Service
	Tokens     *auth.Tokens
	Logger     *slog.Logger
	ICEServers []ICEServer
	// ICEServersFor adds a user's own ICE servers (the embedded TURN
	// relay's short-lived credentials) to ICEServers; nil adds none.
	ICEServersFor func(userID string) []ICEServer
	Wallets       Wallets // nil until the economy is wired: balances read 0
	// Cache keeps profiles between the writes that bump them; nil reads
	// the store every time.
	Cache *cache.Cache
	// StreamKeys and StreamKeyStore serve streaming.getStreamKey,
	// resetStreamKey and setStreamDefaults (WHIP's keys); nil leaves them out.
	StreamKeys     *streamkey.Keys
	StreamKeyStore StreamKeyStore
	// Economy serves gifts.* and wallet.*; nil leaves them out.
	Economy *economy.Service
	// Production turns on the guest-login rate limit.
	Production bool
	// Limits makes the rate limiters (login failures, guest logins): in
	// Redis on a cluster so limits hold across nodes; nil keeps them in
	// this process.
	Limits func(name string, n int, per time.Duration) Limiter
	// The limits' sizes; zero takes the defaults. Failed logins (and wrong
	// passwords to users.deleteAccount) are limited per address and
	// account (LoginFailures, 10 per 15 min), per account from every
	// address (AccountLoginFailures, 50), and per address across accounts
	// (AddressLoginFailures, 30); guests per address (GuestLogins, 30 per
	// minute).
	LoginFailures, AccountLoginFailures, AddressLoginFailures Rate
	GuestLogins                                               Rate
}

// Rate is N events per window Per.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) or(def Rate) Rate {
	if r.N <= 0 || r.Per <= 0 {
		return def
	}
	return r
}

// Limiter allows a key at most N events per window (ratelimit.Limiter, or
// the Redis one of a cluster).
type Limiter interface {
	Allow(key string) bool
	Exceeded(key string) bool
	Undo(key string)
	Reset(key string)
}

// API holds the handlers' dependencies.
type API struct {
	Params
	logins loginLimits
	guests Limiter // per address, production only
}

// New builds the API.
func New(p Params) *API {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.ICEServers == nil {
		p.ICEServers = []ICEServer{}
	}
	limits := p.Limits
	if limits == nil {
		limits = func(_ string, n int, per time.Duration) Limiter { return ratelimit.New(n, per) }
	}
	pair := p.LoginFailures.or(Rate{10, 15 * time.Minute})
	account := p.AccountLoginFailures.or(Rate{50, 15 * time.Minute})
	address := p.AddressLoginFailures.or(Rate{30, 15 * time.Minute})
	guests := p.GuestLogins.or(Rate{30, time.Minute})
	return &API{
		Params: p,
		logins: loginLimits{
			pair:    limit{limits("login-failures", pair.N, pair.Per), pair.Per},
			account: limit{limits("login-account-failures", account.N, account.Per), account.Per},
			address: limit{limits("login-address-failures", address.N, address.Per), address.Per},
		},
		guests: limits("guest-logins", guests.N, guests.Per),
	}
}

// Register adds every procedure to r.
func (a *API) Register(r *trpc.Router) {
	a.registerAuth(r)
	a.registerStreaming(r)
	a.registerChat(r)
	a.registerUsers(r)
	a.registerSocial(r)
	a.registerSafety(r)
	a.registerPrivacy(r)
	a.registerVideos(r)
	a.registerNotifications(r)
	a.registerAnalytics(r)
	if a.StreamKeys != nil && a.StreamKeyStore != nil {
		a.registerStreamKeys(r)
	}
	if a.Economy != nil {
		a.registerGifts(r)
		a.registerWallet(r)
	}
}

// Authenticate reads the bearer token into the request's context
// (trpc.Options.Authenticate).
func (a *API) Authenticate(r *http.Request) (context.Context, error) {
	c, err := a.Tokens.VerifyContext(r.Context(), auth.BearerToken(r))
	if err != nil {
		return nil, errors.New("missing or invalid token: send Authorization: Bearer <token>")
	}
	return auth.WithClaims(r.Context(), c), nil
}

// caller is the authenticated user of a protected procedure.
func caller(ctx context.Context) string {
	c, _ := auth.FromContext(ctx)
	return c.UserID
}

// MapError translates domain and store errors into tRPC errors, in one place
// (trpc.Options.MapError).
func MapError(err error) error {
	var te *trpc.Error
	if errors.As(err, &te) {
		return err
	}
	var fe trpc.FieldErrorer
	if errors.As(err, &fe) {
		return err
	}
	switch {
	case errors.Is(err, rooms.ErrNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, rooms.ErrEnded):
		return &trpc.Error{Code: trpc.CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrBlocked), errors.Is(err, rooms.ErrForbidden):
		return &trpc.Error{Code: trpc.CodeForbidden, Message: err.Error()}
	case errors.Is(err, rooms.ErrConflict), errors.Is(err, store.ErrConflict):
		return &trpc.Error{Code: trpc.CodeConflict, Message: err.Error()}
	case errors.Is(err, rooms.ErrUnavailable):
		return &trpc.Error{Code: trpc.CodeServiceUnavailable, Message: err.Error()}
	case errors.Is(err, rooms.ErrRateLimited):
		return &trpc.Error{Code: trpc.CodeTooManyRequests, Message: err.Error()}
	case errors.Is(err, store.ErrBadCursor), errors.Is(err, economy.ErrBadCursor):
		return trpc.FieldError(map[string][]string{"cursor": {"is not a cursor from a previous page"}})
	case errors.Is(err, economy.ErrUnknownGift), errors.Is(err, economy.ErrGiftUnavailable),
		errors.Is(err, economy.ErrSessionEnded), errors.Is(err, economy.ErrUnknownUser):
		return &trpc.Error{Code: trpc.CodeNotFound, Message: err.Error()}
	case errors.Is(err, economy.ErrStoreUnreachable):
		return &trpc.Error{Code: trpc.CodeServiceUnavailable, Message: err.Error(),
			Header: map[string]string{"Retry-After": RetryAfterUnavailable}}
	case errors.Is(err, economy.ErrInsufficientFunds), errors.Is(err, economy.ErrBalanceLimit),
		errors.Is(err, economy.ErrTopUpUnavailable), errors.Is(err, economy.ErrStoreUnavailable),
		errors.Is(err, economy.ErrPurchasePending):
		return &trpc.Error{Code: trpc.CodePreconditionFailed, Message: err.Error()}
	case errors.Is(err, economy.ErrIdempotencyConflict), errors.Is(err, economy.ErrReceiptUsed):
		return &trpc.Error{Code: trpc.CodeConflict, Message: err.Error()}
	case errors.Is(err, economy.ErrPaymentRejected):
		return &trpc.Error{Code: trpc.CodeForbidden, Message: err.Error()}
	case errors.Is(err, store.ErrTooManyMuted):
		return trpc.FieldError(map[string][]string{"muteHosts": {err.Error()}})
	case errors.Is(err, context.Canceled):
		return &trpc.Error{Code: trpc.CodeClientClosedRequest, Message: "the request was cancelled"}
	case store.Unavailable(err):
		// The request's deadline (trpc.Options.Timeout) expired, most often
		// waiting on the database, or the database is unreachable: the same
		// call may well work in a few seconds.
		return &trpc.Error{Code: trpc.CodeServiceUnavailable, Message: "the service is not answering in time: try again shortly",
			Header: map[string]string{"Retry-After": RetryAfterUnavailable}}
	}
	return err
}

// RetryAfterUnavailable is the Retry-After, in seconds, of an answer that
// the service is unavailable.
const RetryAfterUnavailable = "5"

type requestInfoKey struct{}

// RequestInfo is what handlers need to know of the HTTP request itself.
type RequestInfo struct {
	ClientAddr string // the client's IP (from X-Forwarded-For when the peer is a trusted proxy), for per-address rate limits
	WSURL      string // the absolute ws:// or wss:// URL of this node's /ws
}

// WithRequestInfo stores the request's info in its context (middleware).
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func requestInfo(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}
