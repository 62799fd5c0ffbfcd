package gateway

import (
	"strconv"

	"github.com/apimgw/apimgw/appliance"
)

// recompileForBackendCA compiles the snapshot being served again after
// env.conf's backend.tls.ca changed, so the new bundle applies at once. On
// failure (an unreadable bundle) the running config keeps serving and the
// error is shown like any refused snapshot.
func (g *Gateway) recompileForBackendCA() {
	cur := g.handler.Current()
	if cur == nil {
		return
	}
	c, err := appliance.CompileWith(cur.Snapshot, g.state, appliance.Options{BackendCAFile: g.config().BackendCAFile})
	if err != nil {
		g.setError("backend.tls.ca not applied: " + err.Error())
		g.log.Error("backend.tls.ca not applied; the running config keeps serving", "err", err)
		return
	}
	g.handler.Swap(c)
	g.log.Info("backend.tls.ca applied", "snapshot", strconv.FormatUint(cur.Snapshot.Version, 10))
}
