package main
import (
 _ "github.com/jackc/pgx/v5/stdlib"
 _ "modernc.org/sqlite"
 _ "github.com/golang-jwt/jwt/v5"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/prometheus/client_golang/prometheus/promhttp"
 _ "github.com/prometheus/client_golang/prometheus/collectors"
 _ "golang.org/x/crypto/argon2"
 _ "go.uber.org/goleak"
 _ "github.com/redis/go-redis/v9"
)
func main(){}
