package loadtest

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// line is one curve of a panel.
type line struct {
	name  string
	color string
	y     func(Point) float64
}

// WriteHTML writes a self-contained page (inline SVG, no scripts) with the
// time series: viewers, bitrate, loss, latency and the server's CPU and
// memory, plus the summary table.
func (rep *Report) WriteHTML(path string) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>Chobi load test</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}
.panel{margin:8px 0}pre{background:#f6f6f6;padding:12px;font-size:12px;overflow:auto}
svg text{font:11px system-ui,sans-serif;fill:#444}</style></head><body>`)
	fmt.Fprintf(&b, "<h1>Chobi load test, %s</h1>\n", html.EscapeString(rep.StartedAt.Format("2006-01-02 15:04 UTC")))
	panels := []struct {
		title string
		unit  string
		lines []line
	}{
		{"Viewers", "", []line{
			{"receiving", "#1f77b4", func(p Point) float64 { return float64(p.Viewers) }},
			{"started", "#aec7e8", func(p Point) float64 { return float64(p.Started) }},
		}},
		{"Bitrate", "Mb/s", []line{
			{"out (server → subscribers)", "#2ca02c", func(p Point) float64 { return p.OutMbps }},
			{"in (publishers → server) ×10", "#98df8a", func(p Point) float64 { return p.InMbps * 10 }},
		}},
		{"Packet loss", "%", []line{{"loss", "#d62728", func(p Point) float64 { return p.LossPct }}}},
		{"End-to-end latency", "ms", []line{
			{"p99", "#ff7f0e", func(p Point) float64 { return p.LatP99Ms }},
			{"p50", "#ffbb78", func(p Point) float64 { return p.LatP50Ms }},
		}},
		{"Server", "", []line{
			{"CPU % of a core", "#9467bd", func(p Point) float64 { return p.ServerCPUPct }},
			{"RSS MB", "#8c564b", func(p Point) float64 { return p.ServerRSSMB }},
		}},
	}
	for _, p := range panels {
		b.WriteString(`<div class="panel">`)
		b.WriteString(svgPanel(p.title, p.unit, rep.Series, p.lines))
		b.WriteString("</div>\n")
	}
	fmt.Fprintf(&b, "<h2>Summary</h2><pre>%s</pre></body></html>\n", html.EscapeString(rep.Summary()))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func svgPanel(title, unit string, pts []Point, lines []line) string {
	const w, h, left, right, top, bottom = 900, 180, 60, 20, 24, 28
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	tMax, yMax := 1.0, 0.0
	for _, p := range pts {
		tMax = math.Max(tMax, p.T)
		for _, l := range lines {
			if v := l.y(p); !math.IsNaN(v) {
				yMax = math.Max(yMax, v)
			}
		}
	}
	yMax = niceCeil(yMax)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="14" style="font-weight:bold">%s</text>`, left, html.EscapeString(title))
	for i := 0; i <= 4; i++ { // grid and y labels
		y := float64(top) + ph - ph*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y+4, fmtAxis(yMax*float64(i)/4)+unitSuffix(unit, i))
	}
	for i := 0; i <= 6; i++ { // x labels
		x := float64(left) + pw*float64(i)/6
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0fs</text>`, x, h-8, tMax*float64(i)/6)
	}
	lx := float64(left) + 200
	for _, l := range lines {
		var path strings.Builder
		for _, p := range pts {
			v := l.y(p)
			if math.IsNaN(v) {
				continue
			}
			x := float64(left) + pw*p.T/tMax
			y := float64(top) + ph - ph*v/yMax
			if path.Len() == 0 {
				fmt.Fprintf(&path, "M%.1f %.1f", x, y)
			} else {
				fmt.Fprintf(&path, " L%.1f %.1f", x, y)
			}
		}
		if path.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6"/>`, path.String(), l.color)
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="6" width="10" height="10" fill="%s"/><text x="%.0f" y="15">%s</text>`, lx, l.color, lx+14, html.EscapeString(l.name))
		lx += 14 + float64(len(l.name))*6.5 + 16
	}
	b.WriteString("</svg>")
	return b.String()
}

func unitSuffix(unit string, i int) string {
	if i == 4 && unit != "" {
		return " " + unit
	}
	return ""
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fmtAxis(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
