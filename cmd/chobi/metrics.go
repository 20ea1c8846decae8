package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/connguard"
	"github.com/chobilive/chobi/sfu"
)

// registerMediaMetrics exports the SFU's figures, read when scraped.
func registerMediaMetrics(reg *prometheus.Registry, e *sfu.Engine) {
	gauge := func(name, help string, f func(sfu.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(e.Stats()) })
	}
	counter := func(name, help string, f func(sfu.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(e.Stats()) })
	}
	reg.MustRegister(
		gauge("chobi_sfu_rooms", "Rooms with media on this node.", func(s sfu.Stats) float64 { return float64(s.Rooms) }),
		gauge("chobi_sfu_peers", "Media peers (one per joined socket).", func(s sfu.Stats) float64 { return float64(s.Peers) }),
		counter("chobi_sfu_forwarded_packets_total", "RTP packets written to subscribers.", func(s sfu.Stats) float64 { return float64(s.PacketsForwarded) }),
		counter("chobi_sfu_forwarded_bytes_total", "RTP payload bytes written to subscribers.", func(s sfu.Stats) float64 { return float64(s.BytesForwarded) }),
		counter("chobi_sfu_dropped_packets_total", "RTP packets that could not be written to a subscriber.", func(s sfu.Stats) float64 { return float64(s.PacketsDropped) }),
		counter("chobi_sfu_negotiation_failures_total", "Offers and answers that failed.", func(s sfu.Stats) float64 { return float64(s.NegotiationFailures) }),
		counter("chobi_sfu_keyframe_requests_total", "Keyframe requests sent to publishers.", func(s sfu.Stats) float64 { return float64(s.KeyframeRequests) }),
		counter("chobi_sfu_probe_packets_total", "Padding packets sent to probe subscribers' bandwidth.", func(s sfu.Stats) float64 { return float64(s.ProbePackets) }),
		counter("chobi_sfu_retransmitted_packets_total", "Packets sent again from the layer caches on subscribers' NACKs.", func(s sfu.Stats) float64 { return float64(s.Retransmits) }),
		counter("chobi_sfu_replayed_packets_total", "Cached packets sent to start new subscribers at a keyframe.", func(s sfu.Stats) float64 { return float64(s.Replayed) }),
	)
}

// registerConnMetrics exports the HTTP listener's connection caps.
func registerConnMetrics(reg *prometheus.Registry, g *connguard.Guard) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chobi_http_connections", Help: "Open HTTP connections, WebSockets included."},
			func() float64 { return float64(g.Stats().Open) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chobi_http_connections_limit", Help: "The cap on open HTTP connections (HTTP_MAX_CONNECTIONS)."},
			func() float64 { return float64(g.Limit()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_http_connections_refused_total",
			Help:        "Connections closed at accept: one address over HTTP_MAX_CONNECTIONS_PER_ADDRESS, or the total cap with nothing to replace.",
			ConstLabels: prometheus.Labels{"reason": "address"}}, func() float64 { return float64(g.Stats().RefusedAddress) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_http_connections_refused_total",
			Help:        "Connections closed at accept: one address over HTTP_MAX_CONNECTIONS_PER_ADDRESS, or the total cap with nothing to replace.",
			ConstLabels: prometheus.Labels{"reason": "total"}}, func() float64 { return float64(g.Stats().RefusedTotal) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_http_connections_replaced_total",
			Help: "Slow or idle connections closed to make room for a new one at the total cap."},
			func() float64 { return float64(g.Stats().Replaced) }),
	)
}
