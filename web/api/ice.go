package api

// iceServers are the ICE servers handed to userID: the configured ones
// (STUN_URLS, an external TURN_URLS) and the user's own, whose credentials
// expire (the embedded TURN relay).
func (a *API) iceServers(userID string) []ICEServer {
	if a.ICEServersFor == nil {
		return a.ICEServers
	}
	own := a.ICEServersFor(userID)
	out := make([]ICEServer, 0, len(a.ICEServers)+len(own))
	return append(append(out, a.ICEServers...), own...)
}
