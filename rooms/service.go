package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chobilive/chobi/cache"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/ratelimit"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/textkey"
	"github.com/chobilive/chobi/validation"
)

// Config tunes the rooms service. Zero values take the defaults.
type Config struct {
	MaxCoHosts   int           // default 8
	ChatPerUser  int           // chat messages per ChatWindow per user per session; default 5
	ChatWindow   time.Duration // default 5s
	MaxListLimit int           // default 100
}

// The default chat limit: DefaultChatPerUser messages per DefaultChatWindow
// per user and session.
const (
	DefaultChatPerUser = 5
	DefaultChatWindow  = 5 * time.Second
)

// Service is the rooms domain. Safe for concurrent use.
type Service struct {
	store    SessionStore
	audience Audience
	log      *slog.Logger
	cfg      Config
	presence Presence
	dir      Directory // nil: a single node
	hosted   hosted
	ending   endings
	draining atomic.Bool
	chat     interface{ Allow(key string) bool }
	media    *sfu.Engine // nil: no media (chat and events only)
	peers    mediaPeers
	fanout   chan struct{} // kicked when a fan-out is queued here
	cache    *cache.Cache  // the lobby's list; nil: none
	filter   chatFilter
	// endpoints are the WHIP publishers and WHEP viewers (endpoints.go).
	endpoints endpoints
	now       func() time.Time
}

// Params wire a Service.
type Params struct {
	Store SessionStore
	// Audience hears what happens: the sockets (signaling.Hub), on every
	// node through store/redis.Bus; nil tells nobody.
	Audience Audience
	Logger   *slog.Logger
	Config   Config
	// Media is the SFU; nil runs without media.
	Media *sfu.Engine
	// Presence is shared live state; nil keeps it in this process.
	Presence Presence
	// Directory places sessions on the nodes of a cluster; nil: one node.
	Directory Directory
	// Cache keeps the lobby's list (ActiveSessions) between the session
	// changes that bump it; nil reads the store every time.
	Cache *cache.Cache
	// ChatLimiter limits chat per user and session (Config.ChatPerUser per
	// ChatWindow): in Redis on a cluster; nil keeps it in this process.
	ChatLimiter interface{ Allow(key string) bool }
}

// NewService builds the rooms service.
func NewService(p Params) *Service {
	cfg := p.Config
	if cfg.MaxCoHosts <= 0 {
		cfg.MaxCoHosts = 8
	}
	if cfg.ChatPerUser <= 0 {
		cfg.ChatPerUser = DefaultChatPerUser
	}
	if cfg.ChatWindow <= 0 {
		cfg.ChatWindow = DefaultChatWindow
	}
	if cfg.MaxListLimit <= 0 {
		cfg.MaxListLimit = 100
	}
	audience := p.Audience
	if audience == nil {
		audience = Audiences{}
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	now := func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	var chat interface{ Allow(key string) bool } = ratelimit.New(cfg.ChatPerUser, cfg.ChatWindow)
	if p.ChatLimiter != nil {
		chat = p.ChatLimiter
	}
	presence := p.Presence
	if presence == nil {
		presence = NewMemoryPresence(now)
	}
	return &Service{
		store: p.Store, audience: audience, log: log, cfg: cfg, now: now,
		presence: presence, media: p.Media, dir: p.Directory,
		chat: chat, fanout: make(chan struct{}, 1), cache: p.Cache,
	}
}

// CreateParams are a new session's fields as the host sends them.
type CreateParams struct {
	Title       string
	Description string
	Type        string
	Category    string
	IsPrivate   bool
}

// CreateSession starts a live session hosted by hostID and tells the host's
// followers it is live.
func (s *Service) CreateSession(ctx context.Context, hostID string, p CreateParams) (Session, error) {
	var v validation.Fields
	v.Text("title", p.Title, 1, 100, true)
	v.Text("description", p.Description, 0, 500, false)
	if p.Type != "audio" && p.Type != "video" {
		v.Add("type", `must be "audio" or "video"`)
	}
	v.Text("category", p.Category, 1, 50, true)
	if err := v.Err(); err != nil {
		return Session{}, err
	}
	if s.draining.Load() {
		return Session{}, ErrUnavailable
	}
	host, err := s.store.User(ctx, hostID)
	if err != nil {
		return Session{}, err
	}
	sess := Session{
		HostID: hostID, Title: p.Title, Description: p.Description, Type: p.Type,
		Category: p.Category, IsPrivate: p.IsPrivate, Status: StatusLive, CreatedAt: s.now(), Host: host,
	}
	if p.IsPrivate {
		sess.InviteCode = inviteCode()
	}
	sess, err = s.store.CreateSession(ctx, sess)
	if err != nil {
		return Session{}, err
	}
	s.lobbyChanged(ctx)
	sess.Host = host
	if err := s.store.SetParticipant(ctx, Participant{SessionID: sess.ID, UserID: hostID, Role: RoleHost}); err != nil {
		return Session{}, err
	}
	s.hosted.add(sess.ID)
	if s.dir != nil {
		if err := s.dir.Claim(ctx, sess.ID); err != nil {
			// Served here either way; other nodes learn where once the
			// heartbeat finds the lease missing and claims it again.
			s.log.WarnContext(ctx, "placing the session in the directory failed", "session", sess.ID, "err", err)
		}
	}
	// Followers learn of public sessions only: a private one is by invitation.
	if !sess.IsPrivate {
		notice := Notice{
			Type: "stream", Title: host.DisplayName + " is live",
			Body: sess.Title, Data: map[string]any{"sessionId": sess.ID, "hostId": hostID, "type": sess.Type},
		}
		if err := s.store.QueueFollowerNotice(ctx, hostID, notice); err != nil {
			// The session is live either way; a lost notice is logged, not fatal.
			s.log.ErrorContext(ctx, "queueing the followers' notice failed", "session", sess.ID, "err", err)
		}
		s.fanoutKick()
	}
	s.log.InfoContext(ctx, "session started", "session", sess.ID, "host", hostID, "type", sess.Type, "private", sess.IsPrivate)
	return sess, nil
}

// listLimit bounds a list's length to 1..Config.MaxListLimit: the
// transports check it, but a limit of 0 or below must not reach a slice
// bound or the store's LIMIT (where SQLite reads -1 as none).
func (s *Service) listLimit(limit int) int {
	if limit < 1 || limit > s.cfg.MaxListLimit {
		return s.cfg.MaxListLimit
	}
	return limit
}

// inviteCode makes an 8-character code from an alphabet without look-alikes.
func inviteCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// liveSession loads a session that must be live.
func (s *Service) liveSession(ctx context.Context, id string) (Session, error) {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if sess.Status != StatusLive {
		return Session{}, fmt.Errorf("session %s: %w", id, ErrEnded)
	}
	return sess, nil
}

// Session returns a session's record with its live viewer count.
func (s *Service) Session(ctx context.Context, id string) (Session, int, error) {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return Session{}, 0, err
	}
	return sess, s.ViewerCount(ctx, id), nil
}

// ViewerCount is the number of viewers present now (0 when presence cannot
// be read: the error is logged).
func (s *Service) ViewerCount(ctx context.Context, sessionID string) int {
	n, err := s.presence.ViewerCounts(ctx, sessionID)
	if err != nil {
		s.log.WarnContext(ctx, "reading the viewer count failed", "session", sessionID, "err", err)
		return 0
	}
	return n[0]
}

// JoinResult is the role granted by JoinSession.
type JoinResult struct {
	Session Session
	Role    Role
}

// JoinSession grants userID a role in a live session. Asking for "co-host"
// makes a pending request that the host answers; the host keeps "host".
func (s *Service) JoinSession(ctx context.Context, userID, sessionID string, want Role, inviteCode string) (JoinResult, error) {
	if want != RoleViewer && want != RoleCoHost {
		return JoinResult{}, validation.Field("role", `must be "viewer" or "co-host"`)
	}
	sess, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return JoinResult{}, err
	}
	part, err := s.store.Participant(ctx, sessionID, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		part = Participant{SessionID: sessionID, UserID: userID}
	case err != nil:
		return JoinResult{}, err
	}
	if part.Banned {
		return JoinResult{}, fmt.Errorf("you were removed from this session: %w", ErrForbidden)
	}
	if userID != sess.HostID {
		if blocked, err := s.store.Blocked(ctx, userID, sess.HostID); err != nil {
			return JoinResult{}, err
		} else if blocked {
			return JoinResult{}, fmt.Errorf("you cannot join this session: %w", ErrForbidden)
		}
	}
	if part.Role == RoleHost || part.Role == RoleCoHost {
		return JoinResult{Session: sess, Role: part.Role}, nil
	}
	if sess.IsPrivate && part.Role == "" && inviteCode != sess.InviteCode {
		return JoinResult{}, fmt.Errorf("this session is private and the invite code is wrong: %w", ErrForbidden)
	}
	role := RoleViewer
	if want == RoleCoHost {
		role = RolePending
	}
	if part.Role == RolePending && want == RoleViewer {
		role = RolePending // an open request stays open
	}
	part.Role = role
	if err := s.store.SetParticipant(ctx, part); err != nil {
		return JoinResult{}, err
	}
	if role == RolePending && want == RoleCoHost {
		if user, err := s.store.User(ctx, userID); err == nil {
			s.audience.Send(ctx, Event{SessionID: sessionID, UserID: sess.HostID, Message: protocol.CoHostRequest{
				SessionID: sessionID, User: protocol.UserCard{ID: user.ID, DisplayName: user.DisplayName, AvatarURL: user.AvatarURL},
			}})
		}
	}
	return JoinResult{Session: sess, Role: role}, nil
}

// EndSession ends a live session (host only) and returns its final record.
// Ending an ended session returns the same record again.
func (s *Service) EndSession(ctx context.Context, userID, sessionID string) (Session, error) {
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		return Session{}, err
	}
	if sess.HostID != userID {
		return Session{}, fmt.Errorf("only the host can end the session: %w", ErrForbidden)
	}
	if sess.Status != StatusLive {
		return sess, nil
	}
	// One end at a time: a caller that waited finds the session ended.
	defer s.ending.lock(sessionID)()
	if sess, err = s.store.Session(ctx, sessionID); err != nil {
		return Session{}, err
	}
	if sess.Status != StatusLive {
		return sess, nil
	}
	viewerSeconds, present, err := s.presence.Close(ctx, sessionID)
	if err != nil {
		// The session ends regardless; only its average-viewers figure suffers.
		s.log.WarnContext(ctx, "closing the session's presence failed", "session", sessionID, "err", err)
	}
	ended, err := s.store.EndSession(ctx, sessionID, s.now(), viewerSeconds)
	if err != nil {
		return Session{}, err
	}
	s.lobbyChanged(ctx)
	s.log.InfoContext(ctx, "session ended", "session", sessionID, "duration", ended.Duration(s.now()).Round(time.Second),
		"peak_viewers", ended.Stats.PeakViewers, "messages", ended.Stats.Messages)
	s.audience.SessionEnded(ctx, protocol.SessionEnded{SessionID: sessionID, Stats: EndStats(ended, s.now())})
	// After everyone present was told: their PeerConnections close.
	s.closeMedia(sessionID)
	s.hosted.remove(sessionID)
	if s.dir != nil {
		s.dir.Release(ctx, sessionID)
	}
	s.log.DebugContext(ctx, "session closed for the users present", "session", sessionID, "present", len(present))
	return ended, nil
}

// EndStats summarises a session as streaming.endSession and session_ended
// give it.
func EndStats(sess Session, now time.Time) protocol.SessionStats {
	return protocol.SessionStats{
		SessionID: sess.ID, Duration: int64(sess.Duration(now) / time.Second),
		PeakViewers: sess.Stats.PeakViewers, TotalViewers: sess.Stats.TotalViewers, Messages: sess.Stats.Messages,
		GiftsReceived: sess.Stats.GiftsReceived, CoinsEarned: sess.Stats.CoinsEarned,
	}
}

// ActiveSessions lists live public sessions, most viewers first (newest
// first among equals), with their live viewer counts.
func (s *Service) ActiveSessions(ctx context.Context, f ActiveFilter, limit int) ([]Session, []int, error) {
	list, err := cache.Load(ctx, s.cache, LobbyGroup, f.Type+"|"+f.Category, func() ([]Session, error) {
		return s.store.ActiveSessions(ctx, f)
	})
	if err != nil {
		return nil, nil, err
	}
	if f.Query != "" {
		list = matching(list, textkey.Fold(f.Query))
	}
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	counts, err := s.presence.ViewerCounts(ctx, ids...)
	if err != nil {
		s.log.WarnContext(ctx, "reading viewer counts failed", "err", err)
		counts = make([]int, len(list))
	}
	order := make([]int, len(list))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if counts[ia] != counts[ib] {
			return counts[ia] > counts[ib]
		}
		return list[ia].CreatedAt.After(list[ib].CreatedAt)
	})
	if limit = s.listLimit(limit); len(order) > limit {
		order = order[:limit]
	}
	outS, outC := make([]Session, len(order)), make([]int, len(order))
	for i, idx := range order {
		outS[i], outC[i] = list[idx], counts[idx]
	}
	return outS, outC, nil
}

// SessionFor returns a session to a user who may see it: anyone for a
// public session, its participants for a private one.
func (s *Service) SessionFor(ctx context.Context, userID, sessionID string) (Session, int, error) {
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		return Session{}, 0, err
	}
	if err := s.canRead(ctx, sess, userID); err != nil {
		return Session{}, 0, err
	}
	return sess, s.ViewerCount(ctx, sessionID), nil
}

// NotificationMessage is a stored notification as the socket's
// "notification" message carries it.
func NotificationMessage(d Delivered, n Notice) protocol.Notification {
	var data protocol.JSONObject
	if len(n.Data) > 0 {
		if b, err := json.Marshal(n.Data); err == nil {
			data = b
		}
	}
	return protocol.Notification{Notification: protocol.NotificationBody{
		ID: d.ID, Type: n.Type, Title: n.Title, Body: n.Body, Data: data, CreatedAt: d.CreatedAt,
	}}
}

// PushNotification sends a stored notification to the user's open sockets.
func (s *Service) PushNotification(ctx context.Context, userID string, n protocol.Notification) {
	s.audience.Send(ctx, Event{UserID: userID, Message: n})
}

// SignOut disconnects a user's sockets everywhere.
func (s *Service) SignOut(ctx context.Context, userID string) {
	s.audience.SignedOut(ctx, userID)
}

// matching keeps the sessions a search key finds (ActiveFilter.Query).
func matching(list []Session, key string) []Session {
	out := list[:0:0]
	for _, ss := range list {
		host := " " + textkey.Fold(ss.Host.DisplayName)
		if strings.Contains(textkey.Fold(ss.Title), key) || strings.Contains(textkey.Fold(ss.Category), key) ||
			strings.Contains(host, " "+key) {
			out = append(out, ss)
		}
	}
	return out
}

// LobbyGroup is the cache group of the lobby's lists: a session starting or
// ending, or a host renaming, bumps it.
const LobbyGroup = "lobby"

// lobbyChanged invalidates the cached lobby lists (a failure is counted by
// the cache; the lists then live out their TTL).
func (s *Service) lobbyChanged(ctx context.Context) {
	if err := s.cache.Bump(ctx, LobbyGroup); err != nil {
		s.log.WarnContext(ctx, "invalidating the cached lobby failed", "err", err)
	}
}
