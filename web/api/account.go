package api

import (
	"context"
	"errors"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/trpc"
)

// AccountDeleter is what users.deleteAccount needs of the store (kept out
// of Store so that an API without it simply lacks the procedure).
type AccountDeleter interface {
	DeleteAccount(ctx context.Context, userID string) (store.AccountDeletion, error)
}

var _ AccountDeleter = (*store.Store)(nil)

// deleteConfirmation must be sent as confirm: the one call that cannot be
// undone is never made by a client sending an empty object by mistake.
const deleteConfirmation = "DELETE"

type deleteAccountInput struct {
	Password *string `json:"password"`
	Confirm  string  `json:"confirm" ts:"enum=DELETE"`
}

func (in *deleteAccountInput) Validate(f *trpc.Fields) {
	if in.Confirm != deleteConfirmation {
		f.Add("confirm", `must be "DELETE"`)
	}
	if in.Password != nil && len(*in.Password) > 1024 {
		f.Add("password", "is too long")
	}
}

type deleteAccountOutput struct {
	Deleted   bool   `json:"deleted"`
	UserID    string `json:"userId"`
	Forfeited struct {
		Coins    int64 `json:"coins"`
		Diamonds int64 `json:"diamonds"`
	} `json:"forfeited"`
}

// registerAccount adds users.deleteAccount when the store can delete.
func (a *API) registerAccount(r *trpc.Router) {
	if _, ok := a.Store.(AccountDeleter); ok {
		// One transaction removes everything the account made: a big
		// account's can rightly outlast the API's deadline.
		trpc.Mutation(r, "users.deleteAccount", a.deleteAccount, trpc.Timeout(30*time.Second))
	}
}

// deleteAccount (an extension) deletes the caller's account: see
// store.DeleteAccount for what is removed, anonymised and kept. An account
// with a password must send it (failures count against the login limit,
// so this is no way around it); a guest's token is enough.
func (a *API) deleteAccount(ctx context.Context, in deleteAccountInput) (deleteAccountOutput, error) {
	var out deleteAccountOutput
	u, err := a.Store.UserByID(ctx, caller(ctx))
	if err != nil {
		return out, err
	}
	if u.PasswordHash != "" {
		if in.Password == nil || *in.Password == "" {
			return out, trpc.FieldError(map[string][]string{"password": {"is required to delete an account that has one"}})
		}
		// A stolen token must not open a way around the login limits.
		attempt, wait := a.logins.begin(requestInfo(ctx).ClientAddr, u.Username)
		if attempt == nil {
			return out, tooManyGuesses("wrong passwords", wait)
		}
		match, err := auth.CheckPassword(u.PasswordHash, *in.Password)
		if err != nil {
			attempt.void()
			return out, err
		}
		if !match {
			return out, &trpc.Error{Code: trpc.CodeForbidden, Message: "password: is wrong",
				FieldErrors: map[string][]string{"password": {"is wrong"}}}
		}
		attempt.right()
	}
	d, err := a.Store.(AccountDeleter).DeleteAccount(ctx, u.ID)
	if errors.Is(err, store.ErrHostingLive) {
		return out, &trpc.Error{Code: trpc.CodePreconditionFailed, Message: err.Error()}
	}
	if err != nil {
		return out, err
	}
	a.Logger.InfoContext(ctx, "account deleted", "user", u.ID, "forfeited_coins", d.Forfeited.Coins,
		"forfeited_diamonds", d.Forfeited.Diamonds, "chat_messages", d.ChatMessages, "videos", d.Videos)
	// Its open sockets, on every node, are closed: the tokens they were
	// opened with are dead now.
	a.Rooms.SignOut(ctx, u.ID)
	a.usersChanged(ctx, false, u.ID)
	out.Deleted, out.UserID = true, u.ID
	out.Forfeited.Coins, out.Forfeited.Diamonds = d.Forfeited.Coins, d.Forfeited.Diamonds
	return out, nil
}
