package whip

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/validation"
)

// problem is an RFC 9457 problem description, the body of every error.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	header map[string]string
}

func (p *problem) Error() string { return p.Detail }

func newProblem(status int, format string, args ...any) *problem {
	return &problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...)}
}

// with adds a header to the problem's answer.
func (p *problem) with(k, v string) *problem {
	if p.header == nil {
		p.header = map[string]string{}
	}
	p.header[k] = v
	return p
}

// writeProblem answers with err as a problem: errors of the layers below
// are translated here, once.
func writeProblem(w http.ResponseWriter, err error) {
	p := asProblem(err)
	for k, v := range p.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func asProblem(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	var elsewhere *rooms.ElsewhereError
	var fields *validation.Error
	switch {
	case errors.As(err, &elsewhere):
		return newProblem(http.StatusConflict, "this session is served by another node (%s): use that node's endpoint", elsewhere.WSURL)
	case errors.Is(err, sfu.ErrNothingToWatch):
		return newProblem(http.StatusServiceUnavailable, "nothing is published in this session yet: try again shortly").with("Retry-After", "3")
	case errors.Is(err, sfu.ErrBadSDP):
		return newProblem(http.StatusUnprocessableEntity, "%s", strings.TrimPrefix(err.Error(), "sfu: "))
	case errors.Is(err, rooms.ErrUnauthenticated):
		return newProblem(http.StatusUnauthorized, "%s", err.Error()).with("WWW-Authenticate", `Bearer realm="chobi"`)
	case errors.Is(err, rooms.ErrForbidden):
		return newProblem(http.StatusForbidden, "%s", err.Error())
	case errors.Is(err, rooms.ErrConflict):
		return newProblem(http.StatusConflict, "%s", err.Error())
	case errors.Is(err, rooms.ErrNotFound), errors.Is(err, rooms.ErrEnded):
		return newProblem(http.StatusNotFound, "%s", err.Error())
	case errors.As(err, &fields):
		return newProblem(http.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, rooms.ErrNoMedia):
		return newProblem(http.StatusNotImplemented, "%s", err.Error())
	case errors.Is(err, rooms.ErrUnavailable), errors.Is(err, rooms.ErrNoDirectory), store.Unavailable(err):
		return newProblem(http.StatusServiceUnavailable, "the service cannot take this right now: try again shortly").with("Retry-After", "5")
	}
	return newProblem(http.StatusInternalServerError, "internal error")
}
