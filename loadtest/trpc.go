package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api speaks the plain-JSON tRPC wire of PROTOCOL.md §1: mutations are
// POST /api/trpc/<path> with the input as the body, queries GET ?input=.
type api struct {
	base   string // http://127.0.0.1:port
	client *http.Client
}

func newAPI(base string) *api {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &api{base: base, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

func (a *api) close() { a.client.CloseIdleConnections() }

// trpcError is an error answer: its tRPC code name (NOT_FOUND, ...).
type trpcError struct {
	Path    string
	Code    string
	Status  int
	Message string
}

func (e *trpcError) Error() string {
	return fmt.Sprintf("%s: %s (%d): %s", e.Path, e.Code, e.Status, e.Message)
}

func (a *api) mutate(ctx context.Context, path, token string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/api/trpc/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return a.do(req, path, token, out)
}

func (a *api) do(req *http.Request, path, token string, out any) error {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var env struct {
		Result *struct {
			Data json.RawMessage `json:"data"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
			Data    struct {
				Code       string `json:"code"`
				HTTPStatus int    `json:"httpStatus"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not tRPC JSON: %.120s", path, resp.StatusCode, b)
	}
	if env.Error != nil {
		return &trpcError{Path: path, Code: env.Error.Data.Code, Status: resp.StatusCode, Message: env.Error.Message}
	}
	if env.Result == nil {
		return fmt.Errorf("%s: HTTP %d without result", path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Result.Data, out)
}

type guestOut struct {
	Token string `json:"token"`
	User  struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	} `json:"user"`
}

func (a *api) guest(ctx context.Context, name string) (guestOut, error) {
	var out guestOut
	err := a.mutate(ctx, "auth.guest", "", map[string]any{"displayName": name}, &out)
	return out, err
}

type sessionOut struct {
	ID    string `json:"id"`
	WSURL string `json:"wsUrl"`
}

func (a *api) createSession(ctx context.Context, token, title, typ string) (sessionOut, error) {
	var out sessionOut
	err := a.mutate(ctx, "streaming.createSession", token, map[string]any{
		"title": title, "description": "load test", "type": typ, "category": "loadtest", "isPrivate": false,
	}, &out)
	return out, err
}

func (a *api) endSession(ctx context.Context, token, sessionID string) error {
	return a.mutate(ctx, "streaming.endSession", token, map[string]any{"sessionId": sessionID}, nil)
}

func (a *api) topUp(ctx context.Context, token string, amount int, key string) error {
	return a.mutate(ctx, "wallet.topUp", token, map[string]any{"amount": amount, "idempotencyKey": key}, nil)
}

func (a *api) sendGift(ctx context.Context, token, sessionID, recipientID, key string) error {
	return a.mutate(ctx, "gifts.sendGift", token, map[string]any{
		"sessionId": sessionID, "giftId": "gift_rose", "recipientId": recipientID, "quantity": 1, "idempotencyKey": key,
	}, nil)
}
