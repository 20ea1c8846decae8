package redis

import (
	"encoding/json"
	"strconv"
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func formatMs(ms int64) string { return strconv.FormatInt(ms, 10) }
