package rooms_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/rooms/presencetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryPresence(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, clock *presencetest.Clock) func(int) rooms.Presence {
		p := rooms.NewMemoryPresence(clock.Now)
		return func(int) rooms.Presence { return p }
	})
}
