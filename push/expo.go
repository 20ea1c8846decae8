// Package push delivers push notifications through Expo's push service
// (the app is an Expo app): an HTTP client of its send and receipts API,
// and a Sender that drains a durable outbox (Outbox, kept by the store) in
// batches, within Expo's rate, retrying what may succeed later and
// recording what never will.
package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Expo's documented limits.
const (
	MaxBatch        = 100  // messages per send request
	MaxReceiptBatch = 1000 // ids per receipts request
	DefaultRate     = 600  // messages per second per project
)

// DefaultSendURL is Expo's send endpoint; its receipts endpoint is beside it.
const DefaultSendURL = "https://exp.host/--/api/v2/push/send"

// Message is one push, as Expo's send API takes it.
type Message struct {
	To       string          `json:"to"`
	Title    string          `json:"title,omitempty"`
	Body     string          `json:"body,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Sound    string          `json:"sound,omitempty"`
	Priority string          `json:"priority,omitempty"`
}

// Ticket is Expo's answer for one message of a send, in the order sent.
type Ticket struct {
	Status  string `json:"status"` // "ok" or "error"
	ID      string `json:"id"`     // the receipt's id, when ok
	Message string `json:"message"`
	Details struct {
		Error string `json:"error"` // DeviceNotRegistered, MessageTooBig, MessageRateExceeded, ...
	} `json:"details"`
}

// Receipt is Expo's later word on a ticket.
type Receipt = Ticket

// The ticket and receipt errors this package acts on.
const (
	ErrDeviceNotRegistered = "DeviceNotRegistered" // the token is dead: never use it again
	ErrMessageRateExceeded = "MessageRateExceeded" // too many to this device: later
	ErrMessageTooBig       = "MessageTooBig"
)

// Client speaks Expo's push API.
type Client struct {
	SendURL     string // default DefaultSendURL
	ReceiptsURL string // default SendURL with "getReceipts" for "send"
	AccessToken string // Expo's enhanced push security; "" sends none
	HTTP        *http.Client
}

// RetryableError is a failure that may pass if tried again later: the
// network, 429, or a 5xx. The whole request failed.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return "expo push (retryable): " + e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable reports whether err is a RetryableError.
func Retryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}

func (c *Client) sendURL() string {
	if c.SendURL == "" {
		return DefaultSendURL
	}
	return c.SendURL
}

func (c *Client) receiptsURL() string {
	if c.ReceiptsURL != "" {
		return c.ReceiptsURL
	}
	u := c.sendURL()
	if i := strings.LastIndex(u, "/send"); i >= 0 {
		return u[:i] + "/getReceipts" + u[i+len("/send"):]
	}
	return u + "/getReceipts"
}

// Send posts at most MaxBatch messages and returns one ticket per message,
// in order.
func (c *Client) Send(ctx context.Context, msgs []Message) ([]Ticket, error) {
	if len(msgs) == 0 || len(msgs) > MaxBatch {
		return nil, fmt.Errorf("expo push: %d messages in one request, want 1 to %d", len(msgs), MaxBatch)
	}
	var out struct {
		Data []Ticket `json:"data"`
	}
	if err := c.post(ctx, c.sendURL(), msgs, &out); err != nil {
		return nil, err
	}
	if len(out.Data) != len(msgs) {
		return nil, &RetryableError{fmt.Errorf("%d tickets for %d messages", len(out.Data), len(msgs))}
	}
	return out.Data, nil
}

// Receipts fetches the receipts of at most MaxReceiptBatch ticket ids; an
// id Expo has no receipt for yet is absent from the map.
func (c *Client) Receipts(ctx context.Context, ids []string) (map[string]Receipt, error) {
	if len(ids) == 0 || len(ids) > MaxReceiptBatch {
		return nil, fmt.Errorf("expo push: %d receipt ids in one request, want 1 to %d", len(ids), MaxReceiptBatch)
	}
	var out struct {
		Data map[string]Receipt `json:"data"`
	}
	if err := c.post(ctx, c.receiptsURL(), map[string][]string{"ids": ids}, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// post sends body as gzipped JSON, as Expo recommends for batches, and
// decodes the answer into out.
func (c *Client) post(ctx context.Context, url string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(raw)
	zw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &zipped)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &RetryableError{err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &RetryableError{err}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, requestErrors(answer))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return &RetryableError{err}
		}
		return fmt.Errorf("expo push: %w", err)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return &RetryableError{fmt.Errorf("undecodable answer: %v", err)}
	}
	return nil
}

// requestErrors is the message of Expo's request-level errors
// ({"errors":[{"code","message"}]}), or the answer itself.
func requestErrors(answer []byte) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(answer, &e) == nil && len(e.Errors) > 0 {
		parts := make([]string, len(e.Errors))
		for i, x := range e.Errors {
			parts[i] = x.Code + ": " + x.Message
		}
		return strings.Join(parts, "; ")
	}
	if len(answer) > 200 {
		answer = answer[:200]
	}
	return strings.TrimSpace(string(answer))
}

var tokenPattern = regexp.MustCompile(`^Expo(nent)?PushToken\[[A-Za-z0-9_\-]{1,200}\]$`)

// ValidToken reports whether s is an Expo push token
// ("ExponentPushToken[...]" or "ExpoPushToken[...]").
func ValidToken(s string) bool { return tokenPattern.MatchString(s) }
