package api

import (
	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/trpc"
)

// Describe registers on r every procedure a fully wired API serves (the
// economy's, the account deletion and the stream keys included), with no
// dependency behind them: r is for reading the registry
// (Router.Procedures), never for serving. The client kit's TypeScript
// types are generated from it (chobi gen ts), so a procedure added to
// Register appears there on regeneration.
func Describe(r *trpc.Router) {
	a := &API{Params: Params{Store: (*store.Store)(nil), Economy: new(economy.Service),
		StreamKeys: new(streamkey.Keys), StreamKeyStore: (*store.Store)(nil)}}
	a.Register(r)
}
