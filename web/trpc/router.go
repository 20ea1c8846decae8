// Package trpc serves procedures over the tRPC v11 HTTP wire protocol, as
// @trpc/client's httpLink, httpBatchLink and httpBatchStreamLink speak it,
// with plain JSON and superjson clients (../shared/fixtures/trpc/README.md).
package trpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"sort"
	"time"
)

// Transformer pins how inputs and outputs are encoded.
type Transformer string

const (
	// TransformerAuto answers each request in the encoding it was sent in
	// (a superjson client always sends an envelope).
	TransformerAuto      Transformer = ""
	TransformerSuperJSON Transformer = "superjson"
	TransformerNone      Transformer = "none"
)

// ParseTransformer reads TRPC_TRANSFORMER's value.
func ParseTransformer(s string) (Transformer, error) {
	switch s {
	case "", "auto":
		return TransformerAuto, nil
	case "superjson":
		return TransformerSuperJSON, nil
	case "none", "json":
		return TransformerNone, nil
	}
	return "", fmt.Errorf("TRPC_TRANSFORMER must be auto, superjson or none, got %q", s)
}

type kind int

const (
	kindQuery kind = iota
	kindMutation
)

func (k kind) String() string {
	if k == kindQuery {
		return "query"
	}
	return "mutation"
}

type procedure struct {
	kind         kind
	public       bool
	cacheControl string        // sent with successful GET answers; "" sends none
	timeout      time.Duration // longer than Options.Timeout for a request calling it; 0: that
	call         func(ctx context.Context, input json.RawMessage) (any, error)
	input        reflect.Type // the handler's In and Out, for Procedures
	output       reflect.Type
}

// Options configure a Router.
type Options struct {
	Transformer  Transformer
	MaxBodyBytes int64 // default 1 MiB
	// MaxBatchCalls bounds the calls of one batch (default 50; the app
	// batches a handful). A longer batch is refused as a whole before its
	// input is decoded or a call runs, so its size costs little.
	MaxBatchCalls int
	// MaxResponseBytes bounds the encoded results of one request (default
	// 4 MiB). Once the results reach it, the queries left are not run and
	// answer PAYLOAD_TOO_LARGE, as does the query that crossed it.
	MaxResponseBytes int64
	// Timeout bounds the server's work on one request once it is read:
	// authentication and every call share the deadline (default 2 s;
	// negative: none), so that a dependency that stops answering turns
	// into errors rather than requests that hang.
	Timeout time.Duration
	Logger  *slog.Logger
	// Authenticate reads the caller's identity from the request into the
	// context. Its error makes protected procedures answer UNAUTHORIZED;
	// public ones run without the identity.
	Authenticate func(r *http.Request) (context.Context, error)
	// MapError translates domain errors into *Error (or FieldErrorer);
	// errors it returns unchanged become INTERNAL_SERVER_ERROR.
	MapError func(error) error
	// Observe is told of every call: its path ("" if unknown), tRPC code
	// ("OK" on success) and duration. Used for metrics.
	Observe func(path, code string, d time.Duration)
}

// The defaults of Options.MaxBatchCalls, MaxResponseBytes and Timeout.
const (
	DefaultMaxBatchCalls    = 50
	DefaultMaxResponseBytes = 4 << 20
	DefaultTimeout          = 2 * time.Second
)

// Router maps procedure paths to handlers and serves them over HTTP.
// Register every procedure before serving.
type Router struct {
	opts  Options
	procs map[string]*procedure
}

// NewRouter makes an empty router.
func NewRouter(opts Options) *Router {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxBatchCalls <= 0 {
		opts.MaxBatchCalls = DefaultMaxBatchCalls
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Router{opts: opts, procs: map[string]*procedure{}}
}

// ProcOption changes how a procedure is registered.
type ProcOption func(*procedure)

// Public lets callers without a valid token call the procedure.
func Public() ProcOption { return func(p *procedure) { p.public = true } }

// CacheControl makes a public query's successful answers cacheable by
// browsers and proxies: value is the Cache-Control header sent with them
// (a batch carries it only when every call in it has the same value).
func CacheControl(value string) ProcOption { return func(p *procedure) { p.cacheControl = value } }

// Timeout gives a request that calls the procedure d for its work instead
// of Options.Timeout when d is longer: for a procedure whose work grows
// with the caller's data, which a retry would not make shorter.
func Timeout(d time.Duration) ProcOption { return func(p *procedure) { p.timeout = d } }

// Handler is a procedure's implementation.
type Handler[In, Out any] func(ctx context.Context, in In) (Out, error)

// Query registers a query (HTTP GET) at path.
func Query[In, Out any](r *Router, path string, h Handler[In, Out], opts ...ProcOption) {
	register(r, path, kindQuery, h, opts)
}

// Mutation registers a mutation (HTTP POST) at path.
func Mutation[In, Out any](r *Router, path string, h Handler[In, Out], opts ...ProcOption) {
	register(r, path, kindMutation, h, opts)
}

func register[In, Out any](r *Router, path string, k kind, h Handler[In, Out], opts []ProcOption) {
	if _, dup := r.procs[path]; dup {
		panic("trpc: procedure registered twice: " + path) // a wiring bug, found at start-up
	}
	p := &procedure{kind: k, call: func(ctx context.Context, raw json.RawMessage) (any, error) {
		in, err := decodeInput[In](raw)
		if err != nil {
			return nil, err
		}
		return h(ctx, in)
	}, input: reflect.TypeFor[In](), output: reflect.TypeFor[Out]()}
	for _, o := range opts {
		o(p)
	}
	r.procs[path] = p
}

// Paths lists the registered procedure paths (for docs and tests).
func (r *Router) Paths() []string {
	paths := make([]string, 0, len(r.procs))
	for p := range r.procs {
		paths = append(paths, p)
	}
	return paths
}

// ProcedureInfo describes a registered procedure: its path, kind and the
// Go types of its input and output, from which the client kit's
// TypeScript types are generated (cmd/chobi gen ts).
type ProcedureInfo struct {
	Path   string
	Kind   string // "query" or "mutation"
	Public bool
	Input  reflect.Type // decoded from the call's JSON input
	Output reflect.Type // encoded as the call's result
}

// Procedures describes every registered procedure, sorted by path.
func (r *Router) Procedures() []ProcedureInfo {
	out := make([]ProcedureInfo, 0, len(r.procs))
	for path, p := range r.procs {
		out = append(out, ProcedureInfo{Path: path, Kind: p.kind.String(), Public: p.public, Input: p.input, Output: p.output})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// callResult is one call's outcome before it is rendered for the client.
type callResult struct {
	cache string          // the procedure's Cache-Control, for a successful answer
	body  json.RawMessage // the rendered item, once counted against MaxResponseBytes
	path  string
	data  any
	err   *Error
	noPth bool // a request-level error: no data.path
}

// Call runs one procedure in-process, as if a client had called it, and
// returns its output. Tests and other transports (the WebSocket) use it to
// share validation and error mapping with HTTP.
func (r *Router) Call(ctx context.Context, path string, input json.RawMessage) (any, error) {
	p, ok := r.procs[path]
	if !ok {
		return nil, Errorf(CodeNotFound, "No procedure found on path %q", path)
	}
	res := r.run(ctx, path, p, input, nil)
	if res.err != nil {
		return nil, res.err
	}
	return res.data, nil
}

// run executes one call with panic recovery, error translation, logging
// and observation.
func (r *Router) run(ctx context.Context, path string, p *procedure, input json.RawMessage, authErr error) (res callResult) {
	start := time.Now()
	res.path = path
	defer func() {
		if v := recover(); v != nil {
			r.opts.Logger.ErrorContext(ctx, "procedure panicked", "path", path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res.data, res.err = nil, &Error{Code: CodeInternal, Message: "Internal server error"}
		}
		if r.opts.Observe != nil {
			code := "OK"
			if res.err != nil {
				code = string(res.err.Code)
			}
			r.opts.Observe(path, code, time.Since(start))
		}
	}()
	if authErr != nil && !p.public {
		res.err = &Error{Code: CodeUnauthorized, Message: authErr.Error()}
		return res
	}
	out, err := p.call(ctx, input)
	if err != nil {
		cause := err
		if r.opts.MapError != nil {
			err = r.opts.MapError(err)
		}
		e, internal := asError(err)
		switch {
		case internal:
			r.opts.Logger.ErrorContext(ctx, "procedure failed", "path", path, "err", err)
		case e.Code == CodeServiceUnavailable:
			r.opts.Logger.WarnContext(ctx, "procedure unavailable", "path", path, "err", cause)
		}
		res.err = e
		return res
	}
	res.data = out
	return res
}

// errShape is the tRPC error shape; Path is omitted for request-level errors.
type errShape struct {
	Message string       `json:"message"`
	Code    int          `json:"code"`
	Data    errShapeData `json:"data"`
}

type errShapeData struct {
	Code        Code                `json:"code"`
	HTTPStatus  int                 `json:"httpStatus"`
	Path        string              `json:"path,omitempty"`
	FieldErrors map[string][]string `json:"fieldErrors,omitempty"`
}

func shapeOf(res callResult) errShape {
	s := errShape{Message: res.err.Message, Code: res.err.Code.RPCCode(), Data: errShapeData{
		Code: res.err.Code, HTTPStatus: res.err.Code.HTTPStatus(), FieldErrors: res.err.FieldErrors,
	}}
	if !res.noPth {
		s.Data.Path = res.path
	}
	return s
}

// errNotAuthenticated is the UNAUTHORIZED message when Authenticate is unset.
var errNotAuthenticated = errors.New("authentication is not configured")
