package appliance

import (
	"strconv"

	"github.com/apimgw/apimgw/policy"
)

// failOnStatus reports whether forward-request fail-on-error-status-code
// turns the backend's answer into an error: APIM runs on-error for status
// codes 400 to 599 inclusive when the attribute is true.
func (st *reqState) failOnStatus(status int) bool {
	return st.pc.Upstream.FailOnErrorStatus && status >= 400 && status <= 599
}

// runOnStatusError starts the on-error section for a backend answer that
// fail-on-error-status-code made an error. The rest of the backend section
// and the outbound section are skipped (the error is raised by
// forward-request, as in APIM); on-error sees the backend's status and
// headers in context.Response and context.LastError set. If on-error leaves
// the response alone, the backend's answer goes to the client as on-error
// left it.
func (st *reqState) runOnStatusError(status int) policy.Result {
	pc := st.pc
	st.err = "backend-error-status"
	pc.LastError = &policy.RuntimeError{Source: "forward-request", File: "(backend)", Section: policy.Backend,
		Reason: "BackendErrorStatusCode: the backend answered " + strconv.Itoa(status)}
	st.sec = policy.OnError
	return st.pl.Run(pc, policy.OnError)
}
