package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/trpc"
)

type registerInput struct {
	Username    string  `json:"username"`
	Password    string  `json:"password"`
	DisplayName *string `json:"displayName"`
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.]{3,30}$`)

func (in *registerInput) Validate(f *trpc.Fields) {
	if !usernamePattern.MatchString(in.Username) {
		f.Add("username", "must be 3–30 letters, digits, '_' or '.'")
	}
	if n := len([]rune(in.Password)); n < 8 || n > 128 {
		f.Add("password", "must be between 8 and 128 characters")
	}
	if in.DisplayName != nil {
		checkText(f, "displayName", *in.DisplayName, 1, 50, true)
	}
}

type loginInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (in *loginInput) Validate(f *trpc.Fields) {
	if in.Username == "" || len(in.Username) > 100 {
		f.Add("username", "is required")
	}
	if in.Password == "" || len(in.Password) > 1024 {
		f.Add("password", "is required")
	}
}

type guestInput struct {
	DisplayName *string `json:"displayName"`
}

func (in *guestInput) Validate(f *trpc.Fields) {
	if in.DisplayName != nil {
		checkText(f, "displayName", *in.DisplayName, 1, 50, true)
	}
}

type authOutput struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	User      profile   `json:"user"`
}

func (a *API) registerAuth(r *trpc.Router) {
	trpc.Mutation(r, "auth.register", a.register, trpc.Public())
	trpc.Mutation(r, "auth.login", a.login, trpc.Public())
	trpc.Mutation(r, "auth.guest", a.guest, trpc.Public())
}

func (a *API) register(ctx context.Context, in registerInput) (authOutput, error) {
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return authOutput{}, err
	}
	name := in.Username
	if in.DisplayName != nil {
		name = *in.DisplayName
	}
	u, err := a.Store.CreateUser(ctx, store.NewUser{Username: in.Username, DisplayName: name, PasswordHash: hash})
	if errors.Is(err, store.ErrConflict) {
		return authOutput{}, &trpc.Error{Code: trpc.CodeConflict, Message: "username: is already taken",
			FieldErrors: map[string][]string{"username": {"is already taken"}}}
	}
	if err != nil {
		return authOutput{}, err
	}
	a.Logger.InfoContext(ctx, "user registered", "user", u.ID)
	return a.session(ctx, u)
}

func (a *API) login(ctx context.Context, in loginInput) (authOutput, error) {
	addr := requestInfo(ctx).ClientAddr
	attempt, wait := a.logins.begin(addr, in.Username)
	if attempt == nil {
		return authOutput{}, tooManyGuesses("failed logins", wait)
	}
	u, err := a.Store.UserByUsername(ctx, in.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		attempt.void()
		return authOutput{}, err
	}
	ok := false
	if err == nil {
		if ok, err = auth.CheckPassword(u.PasswordHash, in.Password); err != nil {
			attempt.void()
			return authOutput{}, err
		}
	} else {
		// Spend the same time on an unknown name, so timing does not tell
		// which names exist.
		auth.HashPassword(in.Password)
	}
	if !ok {
		a.Logger.InfoContext(ctx, "login failed", "username", in.Username, "addr", addr)
		return authOutput{}, trpc.Errorf(trpc.CodeUnauthorized, "wrong username or password")
	}
	attempt.right()
	return a.session(ctx, u)
}

func (a *API) guest(ctx context.Context, in guestInput) (authOutput, error) {
	if a.Production && !a.guests.Allow(requestInfo(ctx).ClientAddr) {
		return authOutput{}, &trpc.Error{Code: trpc.CodeTooManyRequests, Message: "too many guest accounts from this address",
			Header: map[string]string{"Retry-After": "60"}}
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		return authOutput{}, err
	}
	username := fmt.Sprintf("guest_%09d", n.Int64())
	name := fmt.Sprintf("Guest %04d", n.Int64()%10000)
	if in.DisplayName != nil {
		name = *in.DisplayName
	}
	u, err := a.Store.CreateUser(ctx, store.NewUser{Username: username, DisplayName: name, IsGuest: true})
	if err != nil {
		return authOutput{}, err
	}
	return a.session(ctx, u)
}

// session issues a token for u and returns it with u's own profile.
func (a *API) session(ctx context.Context, u store.User) (authOutput, error) {
	tok, exp, err := a.Tokens.Issue(auth.Claims{UserID: u.ID, Username: u.Username, Guest: u.IsGuest})
	if err != nil {
		return authOutput{}, err
	}
	p, err := a.profileOf(ctx, u, true, "")
	if err != nil {
		return authOutput{}, err
	}
	return authOutput{Token: tok, ExpiresAt: exp, User: p}, nil
}
