// Package appliance is the gateway appliance's composition root: env.conf, the
// APIM request handler (route, subscription, policies, forward), the sync agent,
// the telemetry pipeline and the status page. It wires netstack, policy, store,
// wire and systemd together; nothing imports it but cmd/apimgw.
package appliance
