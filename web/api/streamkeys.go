package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/trpc"
)

// StreamKeyStore keeps hosts' stream key records. Implemented by
// *store.Store.
type StreamKeyStore interface {
	StreamKey(ctx context.Context, userID string) (store.StreamKey, error)
	PutStreamKey(ctx context.Context, k store.StreamKey) (store.StreamKey, error)
	SetStreamDefaults(ctx context.Context, userID, title, typ, category string) error
}

var _ StreamKeyStore = (*store.Store)(nil)

func (a *API) registerStreamKeys(r *trpc.Router) {
	trpc.Query(r, "streaming.getStreamKey", a.getStreamKey)
	trpc.Mutation(r, "streaming.resetStreamKey", a.resetStreamKey)
	trpc.Mutation(r, "streaming.setStreamDefaults", a.setStreamDefaults)
}

// streamKeyOutput is the caller's stream key and what WHIP starts with it.
type streamKeyOutput struct {
	StreamKey string    `json:"streamKey"`
	WHIPURL   string    `json:"whipUrl"`
	Title     string    `json:"title"`
	Type      string    `json:"type"`
	Category  string    `json:"category"`
	CreatedAt time.Time `json:"createdAt"`
}

func (a *API) streamKeyOf(ctx context.Context, k store.StreamKey) streamKeyOutput {
	return streamKeyOutput{
		StreamKey: a.StreamKeys.Key(k.UserID, k.Nonce), WHIPURL: httpBase(requestInfo(ctx).WSURL) + "/whip",
		Title: k.Title, Type: k.Type, Category: k.Category, CreatedAt: k.CreatedAt,
	}
}

// getStreamKey returns the caller's stream key, making it on first use.
func (a *API) getStreamKey(ctx context.Context, _ struct{}) (streamKeyOutput, error) {
	k, err := a.StreamKeyStore.StreamKey(ctx, caller(ctx))
	if errors.Is(err, rooms.ErrNotFound) {
		return a.newStreamKey(ctx)
	}
	if err != nil {
		return streamKeyOutput{}, err
	}
	return a.streamKeyOf(ctx, k), nil
}

// resetStreamKey replaces the caller's stream key: the old one stops
// working at once (a session it is publishing goes on).
func (a *API) resetStreamKey(ctx context.Context, _ struct{}) (streamKeyOutput, error) {
	return a.newStreamKey(ctx)
}

func (a *API) newStreamKey(ctx context.Context) (streamKeyOutput, error) {
	uid := caller(ctx)
	nonce := streamkey.NewNonce()
	k, err := a.StreamKeyStore.PutStreamKey(ctx, store.StreamKey{
		UserID: uid, Nonce: nonce, KeyHash: streamkey.Hash(a.StreamKeys.Key(uid, nonce)), Type: "video", CreatedAt: time.Now(),
	})
	if err != nil {
		return streamKeyOutput{}, err
	}
	return a.streamKeyOf(ctx, k), nil
}

type streamDefaultsInput struct {
	Title    string `json:"title"`
	Type     string `json:"type" ts:"optional,enum=video|audio"`
	Category string `json:"category"`
}

func (in *streamDefaultsInput) Validate(f *trpc.Fields) {
	checkText(f, "title", in.Title, 1, 100, true)
	if in.Type == "" {
		in.Type = "video"
	}
	checkEnum(f, "type", in.Type, "video", "audio")
	checkText(f, "category", in.Category, 1, 50, true)
}

// setStreamDefaults sets the title, type and category of the sessions the
// caller's stream key starts (the key is made if there is none yet).
func (a *API) setStreamDefaults(ctx context.Context, in streamDefaultsInput) (streamKeyOutput, error) {
	uid := caller(ctx)
	if _, err := a.getStreamKey(ctx, struct{}{}); err != nil {
		return streamKeyOutput{}, err
	}
	if err := a.StreamKeyStore.SetStreamDefaults(ctx, uid, in.Title, in.Type, in.Category); err != nil {
		return streamKeyOutput{}, err
	}
	k, err := a.StreamKeyStore.StreamKey(ctx, uid)
	if err != nil {
		return streamKeyOutput{}, err
	}
	return a.streamKeyOf(ctx, k), nil
}

// httpBase is this node's http(s) origin, from the URL of its /ws.
func httpBase(wsURL string) string {
	base := strings.TrimSuffix(wsURL, "/ws")
	if rest, ok := strings.CutPrefix(base, "wss://"); ok {
		return "https://" + rest
	}
	if rest, ok := strings.CutPrefix(base, "ws://"); ok {
		return "http://" + rest
	}
	return base
}
