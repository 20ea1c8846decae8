package main

import (
	"github.com/chobilive/chobi/cache"
	"github.com/prometheus/client_golang/prometheus"
)

func registerCacheMetrics(reg prometheus.Registerer, c *cache.Cache) {
	counter := func(name, help string, f func(cache.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(c.Stats())) })
	}
	reg.MustRegister(
		counter("chobi_cache_hits_total", "Profile and lobby reads served from the cache.", func(s cache.Stats) uint64 { return s.Hits }),
		counter("chobi_cache_misses_total", "Profile and lobby reads that went to the database.", func(s cache.Stats) uint64 { return s.Misses }),
		counter("chobi_cache_errors_total", "Cache operations that failed (Redis unreachable): the read went to the database, or a write's invalidation was lost (its values live at most 30 s).",
			func(s cache.Stats) uint64 { return s.Errors }),
	)
}
