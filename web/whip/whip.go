// Package whip serves WHIP ingest (RFC 9725) and WHEP playback over HTTP:
// encoders such as OBS publish into a session, and players watch one,
// each over one PeerConnection. Who may do what, and the sessions, are
// rooms'; this package is the HTTP: media types, tokens, resources,
// ETags, CORS and problem answers (RFC 9457).
package whip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/ratelimit"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/streamkey"
)

// Store is what the handlers read: stream keys, and a host's live session.
// Implemented by *store.Store.
type Store interface {
	StreamKeyByHash(ctx context.Context, keyHash string) (store.StreamKey, error)
	StreamKey(ctx context.Context, userID string) (store.StreamKey, error)
	LiveSessionOf(ctx context.Context, hostID string) (rooms.Session, error)
}

var _ Store = (*store.Store)(nil)

// ICEServer is an ICE server as clients get it.
type ICEServer = protocol.ICEServer

// Params wire the handlers.
type Params struct {
	Rooms  *rooms.Service
	Store  Store
	Tokens *auth.Tokens
	Logger *slog.Logger
	// ICEServers are the ICE servers for a user ("" for an anonymous
	// viewer), sent as Link headers; nil sends none.
	ICEServers func(userID string) []protocol.ICEServer
	// AnonymousViewers lets WHEP viewers without a token watch public
	// sessions (WHEP_ANONYMOUS).
	AnonymousViewers bool
	// Posts bounds the POSTs (new resources) per client address per
	// minute; 0 takes 30.
	Posts int
	// ClientAddr is the request's client address (behind trusted
	// proxies, from X-Forwarded-For); nil takes the connection's peer.
	ClientAddr func(r *http.Request) string
}

// Handler serves /whip and /whep.
type Handler struct {
	p     Params
	posts *ratelimit.Limiter

	mu        sync.Mutex
	resources map[string]*resource
}

// resource is one WHIP or WHEP session (RFC 9725's "WHIP session").
type resource struct {
	id       string
	ingest   bool
	userID   string // "" for an anonymous viewer
	endpoint *rooms.Endpoint

	mu    sync.Mutex // serialises PATCHes
	offer string     // the client's last offer (an ICE restart edits it)
	etag  string     // the ICE session's entity tag
}

// New builds the handlers.
func New(p Params) *Handler {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Posts == 0 {
		p.Posts = 30
	}
	if p.ClientAddr == nil {
		p.ClientAddr = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	return &Handler{p: p, posts: ratelimit.New(p.Posts, time.Minute), resources: map[string]*resource{}}
}

// Routes are the handlers' mux patterns, for web.Params.Routes.
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"/whip":                http.HandlerFunc(h.whipEndpoint),
		"/whip/{session}":      http.HandlerFunc(h.whipEndpoint),
		"/whip/resources/{id}": http.HandlerFunc(h.resourceHandler),
		"/whep/{session}":      http.HandlerFunc(h.whepEndpoint),
		"/whep/resources/{id}": http.HandlerFunc(h.resourceHandler),
	}
}

// Resources counts the live resources (tests, metrics).
func (h *Handler) Resources() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.resources)
}

const (
	typeSDP  = "application/sdp"
	typeFrag = "application/trickle-ice-sdpfrag"
	maxSDP   = 60 << 10
)

// exposed are the headers a browser client must be able to read.
const exposed = "Location, ETag, Link, Accept-Patch, Accept-Post"

func (h *Handler) whipEndpoint(w http.ResponseWriter, r *http.Request) { h.endpoint(w, r, true) }
func (h *Handler) whepEndpoint(w http.ResponseWriter, r *http.Request) { h.endpoint(w, r, false) }

func (h *Handler) endpoint(w http.ResponseWriter, r *http.Request, ingest bool) {
	w.Header().Set("Access-Control-Expose-Headers", exposed)
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", "OPTIONS, POST")
		w.Header().Set("Accept-Post", typeSDP)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		if ingest {
			h.postWHIP(w, r)
		} else {
			h.postWHEP(w, r)
		}
	default:
		w.Header().Set("Allow", "OPTIONS, POST")
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "%s is not a method of this endpoint: POST an offer", r.Method))
	}
}

// readOffer checks the POST's media type and reads its SDP offer.
func readOffer(r *http.Request) (string, error) {
	if mt := mediaType(r); mt != typeSDP {
		return "", newProblem(http.StatusUnsupportedMediaType, "the offer must be sent as %s, not %q", typeSDP, mt).with("Accept-Post", typeSDP)
	}
	offer, err := readBody(r, maxSDP)
	if err != nil {
		return "", err
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return "", newProblem(http.StatusBadRequest, "the offer is not SDP: %v", err)
	}
	return offer, nil
}

func mediaType(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func readBody(r *http.Request, limit int) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return "", newProblem(http.StatusBadRequest, "reading the body failed: %v", err)
	}
	if len(b) > limit {
		return "", newProblem(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", limit)
	}
	if len(b) == 0 {
		return "", newProblem(http.StatusBadRequest, "the body is empty")
	}
	return string(b), nil
}

// caller is who a Bearer token names. A stream key is good for WHIP
// only (whip); a missing token is "" with no error.
func (h *Handler) caller(r *http.Request, whip bool) (userID string, key *store.StreamKey, err error) {
	tok := auth.BearerToken(r)
	if tok == "" {
		return "", nil, nil
	}
	if streamkey.Is(tok) {
		if !whip {
			return "", nil, newProblem(http.StatusForbidden, "a stream key publishes over WHIP only: watch with a user's token")
		}
		k, err := h.p.Store.StreamKeyByHash(r.Context(), streamkey.Hash(tok))
		if errors.Is(err, rooms.ErrNotFound) {
			return "", nil, unauthorized("the stream key is not valid (it may have been reset)")
		}
		if err != nil {
			return "", nil, err
		}
		return k.UserID, &k, nil
	}
	c, err := h.p.Tokens.VerifyContext(r.Context(), tok)
	if err != nil {
		return "", nil, unauthorized("the token is not valid or has expired")
	}
	return c.UserID, nil, nil
}

func unauthorized(detail string) *problem {
	return newProblem(http.StatusUnauthorized, "%s", detail).with("WWW-Authenticate", `Bearer realm="chobi"`)
}

// allowPost applies the per-address limit on new resources.
func (h *Handler) allowPost(r *http.Request) error {
	if !h.posts.Allow(h.p.ClientAddr(r)) {
		return newProblem(http.StatusTooManyRequests, "too many new WHIP/WHEP sessions from this address: try again in a minute").with("Retry-After", "60")
	}
	return nil
}

func (h *Handler) postWHIP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	userID, key, err := h.caller(r, true)
	if err == nil && userID == "" {
		err = unauthorized("send the host's token or stream key as Authorization: Bearer <token>")
	}
	if err == nil {
		err = h.allowPost(r)
	}
	var offer string
	if err == nil {
		offer, err = readOffer(r)
	}
	if err == nil {
		err = h.p.Rooms.CheckOffer(offer) // before a session is started for it
	}
	if err != nil {
		writeProblem(w, err)
		return
	}
	sessionID, created, err := h.sessionFor(ctx, r.PathValue("session"), userID, key)
	if err != nil {
		writeProblem(w, err)
		return
	}
	res := &resource{id: newID(), ingest: true, userID: userID, offer: offer}
	e, answer, err := h.p.Rooms.StartIngest(ctx, rooms.IngestParams{
		UserID: userID, SessionID: sessionID, PeerID: "whip-" + res.id, Offer: offer, OnGone: func() { h.forget(res.id) },
	})
	if err != nil {
		if created { // nothing changed: the session started for this offer goes
			if _, endErr := h.p.Rooms.EndSession(context.WithoutCancel(ctx), userID, sessionID); endErr != nil {
				h.p.Logger.Warn("ending a session WHIP started for a refused offer", "session", sessionID, "err", endErr)
			}
		}
		writeProblem(w, err)
		return
	}
	h.created(w, r, res, e, answer, "/whip/resources/")
}

// sessionFor is the session a WHIP POST publishes into: the one named,
// else the host's live one, else a new one with the stream key's defaults.
func (h *Handler) sessionFor(ctx context.Context, named, userID string, key *store.StreamKey) (string, bool, error) {
	if named != "" {
		return named, false, nil
	}
	live, err := h.p.Store.LiveSessionOf(ctx, userID)
	if err == nil {
		return live.ID, false, nil
	}
	if !errors.Is(err, rooms.ErrNotFound) {
		return "", false, err
	}
	if key == nil { // a JWT: the host's key record may still hold defaults
		if k, err := h.p.Store.StreamKey(ctx, userID); err == nil {
			key = &k
		}
	}
	params := rooms.CreateParams{Title: "Live", Type: "video", Category: "general"}
	if key != nil {
		if key.Title != "" {
			params.Title = key.Title
		}
		if key.Type != "" {
			params.Type = key.Type
		}
		if key.Category != "" {
			params.Category = key.Category
		}
	}
	sess, err := h.p.Rooms.CreateSession(ctx, userID, params)
	if err != nil {
		return "", false, err
	}
	return sess.ID, true, nil
}

func (h *Handler) postWHEP(w http.ResponseWriter, r *http.Request) {
	userID, _, err := h.caller(r, false)
	if err == nil {
		err = h.allowPost(r)
	}
	var offer string
	if err == nil {
		offer, err = readOffer(r)
	}
	if err != nil {
		writeProblem(w, err)
		return
	}
	res := &resource{id: newID(), userID: userID, offer: offer}
	e, answer, err := h.p.Rooms.StartViewer(r.Context(), rooms.ViewerParams{
		UserID: userID, SessionID: r.PathValue("session"), PeerID: "whep-" + res.id, Offer: offer,
		Anonymous: h.p.AnonymousViewers, OnGone: func() { h.forget(res.id) },
	})
	if err != nil {
		writeProblem(w, err)
		return
	}
	h.created(w, r, res, e, answer, "/whep/resources/")
}

// created records the resource and answers 201 with the answer.
func (h *Handler) created(w http.ResponseWriter, r *http.Request, res *resource, e *rooms.Endpoint, answer, base string) {
	res.endpoint = e
	res.etag = etag()
	h.mu.Lock()
	h.resources[res.id] = res
	h.mu.Unlock()
	if !e.Live() { // gone while answering (its connection failed at once)
		h.forget(res.id)
	}
	hd := w.Header()
	hd.Set("Content-Type", typeSDP)
	hd.Set("Location", base+res.id)
	hd.Set("ETag", res.etag)
	hd.Set("Accept-Patch", typeFrag)
	for _, l := range h.links(res.userID) {
		hd.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// links are the ICE servers as RFC 9725 §4.6 Link headers.
func (h *Handler) links(userID string) []string {
	if h.p.ICEServers == nil {
		return nil
	}
	var out []string
	for _, s := range h.p.ICEServers(userID) {
		for _, u := range s.URLs {
			l := fmt.Sprintf(`<%s>; rel="ice-server"`, u)
			if s.Username != "" {
				l += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`, quote(s.Username), quote(s.Credential))
			}
			out = append(out, l)
		}
	}
	return out
}

func quote(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

func (h *Handler) forget(id string) {
	h.mu.Lock()
	delete(h.resources, id)
	h.mu.Unlock()
}

func (h *Handler) resourceHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Expose-Headers", exposed)
	const allow = "OPTIONS, PATCH, DELETE"
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", allow)
		w.Header().Set("Accept-Patch", typeFrag)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPatch && r.Method != http.MethodDelete {
		w.Header().Set("Allow", allow)
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "%s is not a method of a WHIP/WHEP session: PATCH or DELETE it", r.Method))
		return
	}
	res, err := h.resourceOf(r)
	if err != nil {
		writeProblem(w, err)
		return
	}
	if r.Method == http.MethodDelete {
		res.endpoint.Stop(context.WithoutCancel(r.Context()))
		h.forget(res.id)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.patch(w, r, res)
}

// resourceOf finds the request's resource and checks that its caller is
// the one who made it (a resource made without a token is held by whoever
// has its unguessable URL).
func (h *Handler) resourceOf(r *http.Request) (*resource, error) {
	h.mu.Lock()
	res := h.resources[r.PathValue("id")]
	h.mu.Unlock()
	wantIngest := strings.HasPrefix(r.URL.Path, "/whip/")
	if res == nil || res.ingest != wantIngest || !res.endpoint.Live() {
		return nil, newProblem(http.StatusNotFound, "no such WHIP/WHEP session (it ended, or was never made)")
	}
	if res.userID == "" {
		return res, nil
	}
	uid, _, err := h.caller(r, res.ingest)
	switch {
	case err != nil:
		return nil, err
	case uid == "":
		return nil, unauthorized("send the token this session was made with")
	case uid != res.userID:
		return nil, newProblem(http.StatusForbidden, "this WHIP/WHEP session is another user's")
	}
	return res, nil
}

// patch is trickle ICE, or an ICE restart (RFC 9725 §4.3).
func (h *Handler) patch(w http.ResponseWriter, r *http.Request, res *resource) {
	if mt := mediaType(r); mt != typeFrag {
		writeProblem(w, newProblem(http.StatusUnsupportedMediaType, "PATCH takes %s, not %q", typeFrag, mt).with("Accept-Patch", typeFrag))
		return
	}
	body, err := readBody(r, maxFragBytes)
	if err != nil {
		writeProblem(w, err)
		return
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	ifMatch := strings.TrimSpace(r.Header.Get("If-Match"))
	if ifMatch != "" && ifMatch != "*" && ifMatch != res.etag {
		writeProblem(w, newProblem(http.StatusPreconditionFailed, "the ICE session changed (If-Match %s, now %s)", ifMatch, res.etag))
		return
	}
	ufrag, pwd, mid := iceOf(res.offer)
	frag, err := parseFrag(body, mid)
	if err != nil {
		writeProblem(w, newProblem(http.StatusBadRequest, "%v", err))
		return
	}
	if frag.ufrag != "" && (frag.ufrag != ufrag || frag.pwd != pwd) {
		if ifMatch != "*" {
			writeProblem(w, newProblem(http.StatusUnprocessableEntity, "new ICE credentials without If-Match: * (an ICE restart); the session's are other"))
			return
		}
		h.restart(w, res, frag)
		return
	}
	for i := range frag.candidates {
		// A candidate that cannot be used is dropped silently (RFC 9725 §4.3.1).
		if err := res.endpoint.AddCandidate(&frag.candidates[i]); err != nil {
			h.p.Logger.Debug("a trickled candidate was dropped", "resource", res.id, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// restart answers an ICE restart with the server's new credentials and
// candidates and a new ETag. res.mu is held.
func (h *Handler) restart(w http.ResponseWriter, res *resource, frag sdpFrag) {
	offer := restartedOffer(res.offer, frag.ufrag, frag.pwd)
	answer, err := res.endpoint.Renegotiate(offer)
	if err != nil {
		writeProblem(w, err)
		return
	}
	res.offer, res.etag = offer, etag()
	for i := range frag.candidates {
		if err := res.endpoint.AddCandidate(&frag.candidates[i]); err != nil {
			h.p.Logger.Debug("a candidate of an ICE restart was dropped", "resource", res.id, "err", err)
		}
	}
	w.Header().Set("Content-Type", typeFrag)
	w.Header().Set("ETag", res.etag)
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, answerFrag(answer))
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func etag() string { return `"` + newID()[:16] + `"` }
