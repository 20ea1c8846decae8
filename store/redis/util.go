package redis

import (
	"encoding/json"
	"strconv"

	"github.com/chobilive/chobi/rooms"
)

// memberInfo is a present user's entry in a session's users hash.
func memberInfo(name string, role rooms.Role) string {
	b, _ := json.Marshal(map[string]string{"n": name, "r": string(role)})
	return string(b)
}

func formatMs(ms int64) string { return strconv.FormatInt(ms, 10) }
