package status

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"
)

// pageData is what the template sees.
type pageData struct {
	*Report
	CSRF     string
	Refresh  int
	Flash    *flash
	Alerts   []alert
	Window   string
	Now      time.Time
	Rollback bool // the Source may roll back (not standalone)
}

type alert struct {
	Level string // "bad" or "warn"
	Text  string
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	rep := s.Report(r.Context())
	d := pageData{
		Report:   rep,
		CSRF:     s.csrf,
		Refresh:  int(math.Max(1, s.cfg.Refresh.Seconds())),
		Flash:    s.currentFlash(),
		Alerts:   alerts(rep),
		Window:   fmt.Sprintf("%d min", int(WindowLength.Minutes())),
		Now:      rep.GeneratedAt,
		Rollback: rep.Mode != ModeStandalone,
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		s.cfg.Logger.Error("status: render page", "err", err)
		http.Error(w, "status: render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Everything is inline: no external assets, works offline.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Write(buf.Bytes())
}

// alerts lists what a person should look at first.
func alerts(r *Report) []alert {
	var a []alert
	if !r.Ready {
		reason := r.NotReadyReason
		if reason == "" {
			reason = "no configuration loaded yet"
		}
		a = append(a, alert{"bad", "Not ready: " + reason})
	}
	if r.Mode == ModeHybrid && !r.ControlPlane.Connected {
		cp := r.ControlPlane
		t := "Control plane unreachable"
		switch {
		case !cp.Since.IsZero():
			t += " since " + fmtTime(cp.Since) + " (" + ago(r.GeneratedAt, cp.Since) + ")"
		case cp.LastSync.IsZero():
			t = "Control plane not reached yet"
		}
		if r.Snapshot.Current != "" {
			t += ": serving the last good snapshot (" + r.Snapshot.Current + ")."
		} else {
			t += ": no snapshot stored yet, the data plane answers 503."
		}
		a = append(a, alert{"bad", t})
	}
	if sc := r.SharedCounters; sc != nil && !sc.Sharing {
		t := "Redis " + sc.Addr + " unreachable"
		if !sc.Since.IsZero() {
			t += " since " + fmtTime(sc.Since) + " (" + ago(r.GeneratedAt, sc.Since) + ")"
		}
		t += ": rate-limit and quota counters are local to this replica until it answers"
		if sc.LastError != "" {
			t += " (" + sc.LastError + ")"
		}
		a = append(a, alert{"warn", t + "."})
	}
	a = append(a, externalCacheAlert(r)...) // external_cache.go
	switch r.TokenState {
	case "expired":
		a = append(a, alert{"bad", "Gateway token expired " + fmtTime(r.Token.Expiry) + ": generate a new one and put it in env.conf."})
	case "expiring":
		a = append(a, alert{"warn", "Gateway token expires in " + fmtDur(r.TokenExpiresInSeconds) + " (" + fmtTime(r.Token.Expiry) + ")."})
	}
	if r.Telemetry.Dropped > 0 {
		a = append(a, alert{"warn", fmt.Sprintf("%d telemetry records dropped to stay within the queue budget.", r.Telemetry.Dropped)})
	}
	if r.Host.DiskUsedPercent >= 90 {
		a = append(a, alert{"warn", fmt.Sprintf("Disk holding the store is %.0f%% full.", r.Host.DiskUsedPercent)})
	}
	if r.Host.MemTotal > 0 && r.Host.MemUsedPercent >= 90 {
		a = append(a, alert{"warn", fmt.Sprintf("Memory %.0f%% used.", r.Host.MemUsedPercent)})
	}
	return a
}

var funcs = template.FuncMap{
	"bytes": fmtBytes,
	"dur":   fmtDur,
	"time":  fmtTime,
	"ago":   ago,
	"pct":   func(v float64) string { return fmt.Sprintf("%.1f%%", v) },
	"ratio": func(v float64) string { return fmt.Sprintf("%.2f%%", v*100) },
	"ms": func(v float64) string {
		if v == 0 {
			return "–"
		}
		if v < 10 {
			return fmt.Sprintf("%.2f ms", v)
		}
		return fmt.Sprintf("%.0f ms", v)
	},
	"rate": func(n uint64) string { return fmt.Sprintf("%.2f/s", float64(n)/WindowLength.Seconds()) },
	"f2":   func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"bar": func(v float64) string { // width for a usage bar, 0–100
		return fmt.Sprintf("%.0f", clamp(v))
	},
	"hot": func(v, warn float64) bool { return v >= warn },
}

func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// fmtDur writes seconds as "3d 4h", "2h 5m", "4m 10s" or "12s".
func fmtDur(secs float64) string {
	neg := secs < 0
	if neg {
		secs = -secs
	}
	d := time.Duration(secs * float64(time.Second))
	days := int(d / (24 * time.Hour))
	h := int(d/time.Hour) % 24
	m := int(d/time.Minute) % 60
	s := int(d/time.Second) % 60
	var out string
	switch {
	case days > 0:
		out = fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		out = fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		out = fmt.Sprintf("%dm %ds", m, s)
	default:
		out = fmt.Sprintf("%ds", s)
	}
	if neg {
		return "-" + out
	}
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Seconds()
	if d < 0 {
		return "in " + fmtDur(-d)
	}
	return fmtDur(d) + " ago"
}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(strings.TrimSpace(pageHTML)))

const pageHTML = `
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{if .GatewayName}}{{.GatewayName}} · {{end}}apimgw status</title>
<style>
:root{--bg:#f4f6f8;--card:#fff;--ink:#1d2733;--mute:#5d6b7a;--line:#dde3e9;--ok:#1a7f37;--warn:#9a6700;--bad:#c0392b;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#14202e;color:#fff;padding:14px 24px;display:flex;flex-wrap:wrap;align-items:center;gap:10px 18px}
header h1{font-size:20px;margin:0;font-weight:600}
header .meta{color:#b8c4d0;font-size:13px}
main{padding:18px 24px;max-width:1400px;margin:0 auto}
.badge{display:inline-block;padding:2px 9px;border-radius:11px;font-size:12px;font-weight:600;letter-spacing:.02em;text-transform:uppercase}
.b-ok{background:#dafbe1;color:var(--ok)}.b-warn{background:#fff3c4;color:var(--warn)}.b-bad{background:#ffe0dc;color:var(--bad)}.b-info{background:#ddeeff;color:var(--accent)}
.alerts{list-style:none;padding:0;margin:0 0 16px}
.alerts li{padding:9px 14px;border-radius:6px;margin-bottom:6px;font-weight:500}
.alerts .bad{background:#ffe0dc;color:#8a1c12;border-left:4px solid var(--bad)}
.alerts .warn{background:#fff3c4;color:#6b4700;border-left:4px solid #d4a72c}
.alerts .ok{background:#dafbe1;color:#0f5323;border-left:4px solid var(--ok)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px;margin-bottom:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute);margin:0 0 10px;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
dt{color:var(--mute)}dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-word}
.big{font-size:22px;font-weight:600}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line)}
th{font-size:12px;color:var(--mute);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
td.n,th.n{text-align:right}
.meter{height:6px;background:#e6ebf0;border-radius:3px;overflow:hidden;margin-top:3px}
.meter i{display:block;height:100%;background:var(--accent)}
.meter i.hot{background:var(--bad)}
.err{color:var(--bad)}.mute{color:var(--mute)}
button{font:inherit;font-size:12px;padding:3px 10px;border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:4px;cursor:pointer}
footer{color:var(--mute);font-size:12px;padding:6px 24px 24px;max-width:1400px;margin:0 auto}
footer a{color:var(--accent)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
</style>
</head>
<body>
<header>
  <h1>apimgw{{if .GatewayName}} · {{.GatewayName}}{{end}}</h1>
  {{if .Ready}}<span class="badge b-ok" id="ready">ready</span>{{else}}<span class="badge b-bad" id="ready">not ready</span>{{end}}
  <span class="badge b-info" id="mode">{{.Mode}}</span>
  <span class="meta">version <b id="version">{{.Version}}</b> · up <b id="uptime">{{dur .UptimeSeconds}}</b>{{if .Activity}} · <span id="activity">{{.Activity}}</span>{{end}}</span>
</header>
<main>
{{if or .Flash .Alerts}}<ul class="alerts" id="alerts">
  {{with .Flash}}<li class="{{if .OK}}ok{{else}}bad{{end}}">{{.Message}}</li>{{end}}
  {{range .Alerts}}<li class="{{.Level}}">{{.Text}}</li>{{end}}
</ul>{{end}}

<div class="grid">
  <section class="card" id="controlplane"><h2>Control plane</h2>
  {{if eq .Mode "standalone"}}<p class="mute">Standalone: configuration from a local snapshot file, no control plane.</p>
  {{else}}{{with .ControlPlane}}<dl>
    <dt>State</dt><dd>{{if .Connected}}<span class="badge b-ok">connected</span>{{else}}<span class="badge b-bad">offline</span>{{end}}{{if not .Since.IsZero}} since {{time .Since}}{{end}}</dd>
    <dt>Endpoint</dt><dd><code>{{if .Endpoint}}{{.Endpoint}}{{else}}not set{{end}}</code></dd>
    <dt>Last sync</dt><dd>{{ago $.Now .LastSync}}</dd>
    <dt>Last heartbeat</dt><dd>{{ago $.Now .LastHeartbeat}}</dd>
    <dt>Last error</dt><dd id="lasterror">{{if not .LastError}}<span class="mute">none</span>{{else if .LastErrorActive}}<span class="err">{{.LastError}}</span> <span class="mute">({{if .LastErrorAt.IsZero}}time unknown{{else}}{{time .LastErrorAt}}, {{ago $.Now .LastErrorAt}}{{end}})</span>{{else}}<span class="mute">none now · earlier{{if not .LastErrorAt.IsZero}}, {{time .LastErrorAt}} ({{ago $.Now .LastErrorAt}}){{end}}: {{.LastError}}</span>{{end}}</dd>
  </dl>{{end}}{{end}}
  </section>

  <section class="card" id="snapshot"><h2>Configuration snapshot</h2>
  <dl>
    <dt>Serving</dt><dd class="big">{{if .Snapshot.Current}}{{.Snapshot.Current}}{{else}}none{{end}}</dd>
    <dt>Applied</dt><dd>{{ago .Now .Snapshot.AppliedAt}}</dd>
    <dt>APIs</dt><dd>{{len .APIs}}</dd>
    <dt>Stored</dt><dd>{{len .Snapshot.History}} snapshot(s)</dd>
  </dl>
  </section>

  <section class="card" id="token"><h2>Gateway token</h2>
  {{if .Token}}<dl>
    <dt>Gateway</dt><dd>{{.Token.GatewayID}}</dd>
    <dt>Expires</dt><dd>{{time .Token.Expiry}}</dd>
    <dt>State</dt><dd>{{if eq .TokenState "ok"}}<span class="badge b-ok">valid</span> {{dur .TokenExpiresInSeconds}} left{{else if eq .TokenState "expiring"}}<span class="badge b-warn">expires soon</span> {{dur .TokenExpiresInSeconds}} left{{else}}<span class="badge b-bad">expired</span>{{end}}</dd>
  </dl>{{else}}<p class="mute">No token (standalone or not configured).</p>{{end}}
  </section>

  <section class="card" id="telemetry"><h2>Telemetry backlog</h2>
  {{with .Telemetry}}<dl>
    <dt>Queued</dt><dd class="big">{{.Records}} <span class="mute" style="font-size:14px">records</span></dd>
    <dt>Size</dt><dd>{{bytes .Bytes}}{{if .MaxBytes}} of {{bytes .MaxBytes}}{{end}}</dd>
    <dt>Oldest</dt><dd>{{if .Records}}{{dur $.TelemetryOldestAgeSec}} old{{else}}<span class="mute">queue empty</span>{{end}}</dd>
    <dt>Dropped</dt><dd>{{if .Dropped}}<span class="err">{{.Dropped}}</span>{{else}}0{{end}}</dd>
    <dt>Last upload</dt><dd>{{ago $.Now .LastUpload}}</dd>
  </dl>{{end}}
  </section>

  <section class="card" id="host"><h2>Host</h2>
  {{with .Host}}<dl>
    <dt>Name</dt><dd>{{.Hostname}} <span class="mute">{{.Platform}} {{.Arch}}</span></dd>
    <dt>CPU</dt><dd>{{pct .CPUPercent}} of {{.CPUs}} · load {{f2 .Load1}} {{f2 .Load5}} {{f2 .Load15}}<div class="meter"><i class="{{if hot .CPUPercent 90.0}}hot{{end}}" style="width:{{bar .CPUPercent}}%"></i></div></dd>
    <dt>Memory</dt><dd>{{bytes .MemAvailable}} free of {{bytes .MemTotal}}<div class="meter"><i class="{{if hot .MemUsedPercent 90.0}}hot{{end}}" style="width:{{bar .MemUsedPercent}}%"></i></div></dd>
    <dt>Disk</dt><dd>{{bytes .DiskFree}} free of {{bytes .DiskTotal}} <span class="mute">({{.DiskPath}})</span><div class="meter"><i class="{{if hot .DiskUsedPercent 90.0}}hot{{end}}" style="width:{{bar .DiskUsedPercent}}%"></i></div></dd>
    {{range .Errors}}<dt>Unread</dt><dd class="err">{{.}}</dd>{{end}}
  </dl>{{end}}
  </section>

  {{with .SharedCounters}}<section class="card" id="sharedcounters"><h2>Shared counters</h2>
  <dl>
    <dt>Redis</dt><dd><code>{{.Addr}}</code></dd>
    <dt>State</dt><dd id="sharing">{{if .Sharing}}<span class="badge b-ok">sharing</span>{{else}}<span class="badge b-bad">local fallback</span>{{end}}{{if not .Since.IsZero}} since {{time .Since}}{{end}}</dd>
    <dt>Updates</dt><dd>{{.Sent}} sent · {{.Local}} local only · {{.Failed}} failed · {{.Dropped}} dropped</dd>
    <dt>Fallbacks</dt><dd>{{.Fallbacks}}</dd>
    <dt>Last error</dt><dd>{{if .LastError}}<span class="err">{{.LastError}}</span> <span class="mute">({{time .LastErrorAt}})</span>{{else}}<span class="mute">none</span>{{end}}</dd>
  </dl>
  </section>{{end}}

  <section class="card" id="listeners"><h2>Listeners</h2>
  {{if .Listeners}}<table><tr><th>Name</th><th>Address</th><th>Protocol</th></tr>
  {{range .Listeners}}<tr><td>{{.Name}}</td><td><code>{{.Addr}}</code></td><td>{{.Protocol}}</td></tr>{{end}}
  </table>{{else}}<p class="mute">No listeners open.</p>{{end}}
  </section>
</div>

<section class="card" id="apis"><h2>APIs · last {{.Window}}</h2>
{{if .Traffic}}<table>
<tr><th>API</th><th>Path</th><th class="n">Ops</th><th class="n">Requests</th><th class="n">Rate</th><th class="n">5xx</th><th class="n">4xx</th><th class="n">Error rate</th><th class="n">Avg</th><th class="n">p50</th><th class="n">p95</th><th class="n">p99</th></tr>
{{range .Traffic}}<tr>
<td>{{if .Name}}{{.Name}}{{else}}{{.ID}}{{end}}{{if and .Name (ne .Name .ID) .ID}} <span class="mute">{{.ID}}</span>{{end}}</td>
<td><code>{{if .Path}}/{{.Path}}{{end}}</code></td><td class="n">{{.Operations}}</td>
<td class="n">{{.Requests}}</td><td class="n">{{rate .Requests}}</td>
<td class="n{{if .Errors}} err{{end}}">{{.Errors}}</td><td class="n">{{.Rejected}}</td>
<td class="n{{if hot .ErrorRate 0.01}} err{{end}}">{{ratio .ErrorRate}}</td>
<td class="n">{{ms .LatencyAvgMs}}</td><td class="n">{{ms .LatencyP50Ms}}</td><td class="n">{{ms .LatencyP95Ms}}</td><td class="n">{{ms .LatencyP99Ms}}</td>
</tr>{{end}}
</table>{{else}}<p class="mute">No APIs in the current snapshot.</p>{{end}}
</section>

<div class="grid" style="margin-top:14px">
<section class="card" id="history"><h2>Snapshot history</h2>
{{if .Snapshot.History}}<table>
<tr><th>Version</th><th>Received</th><th>Origin</th><th class="n">APIs</th><th></th></tr>
{{range .Snapshot.History}}<tr>
<td><b>{{.Version}}</b></td><td>{{time .ReceivedAt}}</td><td>{{if .Origin}}{{.Origin}}{{else}}<span class="mute" title="stored before the gateway recorded it">unknown</span>{{end}}</td><td class="n">{{if .Origin}}{{.APIs}}{{else}}<span class="mute">—</span>{{end}}</td>
<td>{{if .Current}}<span class="badge b-ok">current</span>{{else if eq .Version $.Snapshot.Current}}<span class="mute">same version</span>{{else if $.Rollback}}<form method="post" action="/rollback" style="margin:0"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="version" value="{{.Version}}"><button type="submit" title="Serve snapshot {{.Version}} again">Roll back</button></form>{{end}}</td>
</tr>{{end}}
</table>{{else}}<p class="mute">No snapshot stored yet.</p>{{end}}
</section>
<section class="card" id="settings"><h2>Settings</h2>
{{if .Settings}}<table>
<tr><th>Key</th><th>Value</th><th>From</th></tr>
{{range .Settings}}<tr><td><code>{{.Key}}</code></td><td><code>{{.Value}}</code></td><td{{if eq .From "default"}} class="mute"{{end}}>{{.From}}</td></tr>{{end}}
</table>{{else}}<p class="mute">Not reported.</p>{{end}}
</section>
</div>
</main>
<footer>Generated {{time .GeneratedAt}} · refreshes every {{.Refresh}}s · <a href="/status.json">status.json</a> · <a href="/metrics">metrics</a> · <a href="/healthz">healthz</a> · <a href="/readyz">readyz</a></footer>
</body>
</html>
`
