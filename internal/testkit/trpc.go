package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// TRPC calls a tRPC API the way @trpc/client does: a query is GET
// /api/trpc/<path>?input=<JSON>, a mutation POST with the JSON input as its
// body, a batch both paths joined by commas with ?batch=1 and the inputs
// by index; the token goes as "Authorization: Bearer".
type TRPC struct {
	URL    string       // the server's base URL
	Client *http.Client // nil: http.DefaultClient
}

// RawInput is an input sent exactly as given (already JSON).
type RawInput string

// CallOption changes a request before it is sent (a header).
type CallOption func(*http.Request)

// Header sets a request header.
func Header(k, v string) CallOption { return func(r *http.Request) { r.Header.Set(k, v) } }

// TRPCError is a tRPC error's shape.
type TRPCError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
	Data    struct {
		Code        string              `json:"code"`
		HTTPStatus  int                 `json:"httpStatus"`
		Path        string              `json:"path"`
		FieldErrors map[string][]string `json:"fieldErrors"`
	} `json:"data"`
}

// Reply is one procedure's answer.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte          // the whole response body
	Data   json.RawMessage // result.data
	Err    *TRPCError
}

// OK reports whether the call succeeded.
func (r *Reply) OK() bool { return r.Status == http.StatusOK && r.Err == nil }

// Into decodes a successful call's output into out, or says how it failed.
func (r *Reply) Into(out any) error {
	if !r.OK() {
		return fmt.Errorf("HTTP %d: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		return fmt.Errorf("decode output %s: %w", r.Data, err)
	}
	return nil
}

func encodeInput(input any) (string, bool, error) {
	switch in := input.(type) {
	case nil:
		return "", false, nil
	case RawInput:
		return string(in), true, nil
	}
	b, err := json.Marshal(input)
	return string(b), true, err
}

func (c *TRPC) endpoint(path string) string {
	return strings.TrimSuffix(c.URL, "/") + "/api/trpc/" + path
}

// Query runs a query (input nil: no ?input).
func (c *TRPC) Query(token, path string, input any, opts ...CallOption) (*Reply, error) {
	u := c.endpoint(path)
	in, has, err := encodeInput(input)
	if err != nil {
		return nil, err
	}
	if has {
		sep := "?"
		if strings.Contains(path, "?") { // a batch: "a,b?batch=1"
			sep = "&"
		}
		u += sep + "input=" + url.QueryEscape(in)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req, token, opts...)
}

// Mutation runs a mutation.
func (c *TRPC) Mutation(token, path string, input any, opts ...CallOption) (*Reply, error) {
	in, _, err := encodeInput(input)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.endpoint(path), strings.NewReader(in))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req, token, opts...)
}

// Call is one procedure of a batch.
type Call struct {
	Path  string
	Input any // nil: none
}

// Batch runs calls in one request (all queries, or all mutations) and
// returns each one's reply; the replies share the response's status,
// header and body.
func (c *TRPC) Batch(token string, mutation bool, calls []Call, opts ...CallOption) ([]Reply, error) {
	paths := make([]string, len(calls))
	inputs := map[string]json.RawMessage{}
	for i, call := range calls {
		paths[i] = call.Path
		in, has, err := encodeInput(call.Input)
		if err != nil {
			return nil, err
		}
		if has {
			inputs[strconv.Itoa(i)] = json.RawMessage(in)
		}
	}
	body, _ := json.Marshal(inputs)
	u := c.endpoint(strings.Join(paths, ",")) + "?batch=1"
	var req *http.Request
	var err error
	if mutation {
		req, err = http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = http.NewRequest(http.MethodGet, u+"&input="+url.QueryEscape(string(body)), nil)
	}
	if err != nil {
		return nil, err
	}
	whole, err := c.Do(req, token, opts...)
	if err != nil {
		return nil, err
	}
	var each []json.RawMessage
	if err := json.Unmarshal(whole.Body, &each); err != nil {
		return nil, fmt.Errorf("batch reply HTTP %d is not an array: %s", whole.Status, whole.Body)
	}
	out := make([]Reply, len(each))
	for i, e := range each {
		out[i] = Reply{Status: whole.Status, Header: whole.Header, Body: whole.Body}
		out[i].Data, out[i].Err = envelope(e)
	}
	return out, nil
}

// Do sends a request built by hand as a tRPC call with the token and opts.
func (c *TRPC) Do(req *http.Request, token string, opts ...CallOption) (*Reply, error) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, o := range opts {
		o(req)
	}
	hc := c.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	r.Data, r.Err = envelope(body)
	return r, nil
}

func envelope(body []byte) (json.RawMessage, *TRPCError) {
	var env struct {
		Result *struct {
			Data json.RawMessage `json:"data"`
		} `json:"result"`
		Error *TRPCError `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil, nil
	}
	var data json.RawMessage
	if env.Result != nil {
		data = env.Result.Data
	}
	return data, env.Error
}
