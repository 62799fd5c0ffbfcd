package appliance

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apimgw/apimgw/wire"
)

// grpcEcho is a gRPC service without generated code: Unary echoes the
// x-md metadata the gateway's set-header policy adds, Fail answers
// NotFound.
var grpcEcho = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			md, _ := metadata.FromIncomingContext(ctx)
			return wrapperspb.String(in.Value + " md=" + strings.Join(md.Get("x-md"), ",")), nil
		}},
		{MethodName: "Limited", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return wrapperspb.String("ok"), dec(new(wrapperspb.StringValue))
		}},
		{MethodName: "Fail", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return nil, status.Error(codes.NotFound, "no such thing")
		}},
	},
}

// TestGRPCThroughGateway: a real gRPC client (h2c) through the whole
// gateway to a real gRPC backend (a backend entity with httpVersion 2):
// pass-through with a policy that sets metadata and the backend's own
// status; the gateway's own answers as gRPC statuses with APIM's messages
// (401 no key and invalid key → UNAUTHENTICATED, 404 no operation →
// UNIMPLEMENTED, 429 rate-limit → UNAVAILABLE, backend down → UNAVAILABLE);
// each call's telemetry record carries its gRPC status beside the HTTP one.
func TestGRPCThroughGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&grpcEcho, nil)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String() + "/test.Echo"
	dead.Close()

	op := func(name, policy string) wire.Operation {
		return wire.Operation{ID: name, Method: "POST", URLTemplate: "/" + name, Policy: policy}
	}
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "echo", Path: "test.Echo", ServiceURL: "http://" + ln.Addr().String() + "/test.Echo",
			Protocols: []string{"http"}, SubscriptionRequired: true,
			Policy: `<policies><inbound><base/><set-backend-service backend-id="grpc"/>` +
				`<set-header name="x-md" exists-action="override"><value>from-policy</value></set-header></inbound>` +
				`<backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
			Operations: []wire.Operation{
				op("Unary", ""), op("Fail", ""),
				op("Limited", `<policies><inbound><base/><rate-limit calls="1" renewal-period="60"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`),
				op("Down", `<policies><inbound><base/><set-backend-service backend-id="down"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`),
			}}},
		Backends: []wire.Backend{
			{ID: "grpc", URL: "http://" + ln.Addr().String() + "/test.Echo", Protocol: "http", HTTPVersion: "2"},
			{ID: "down", URL: deadURL, Protocol: "http", HTTPVersion: "2"},
		},
		Subscriptions: []wire.Subscription{{ID: "sub1", Scope: "/apis", State: wire.SubscriptionActive,
			PrimaryKeySHA256: wire.KeyDigest(testKey), SecondaryKeySHA256: wire.KeyDigest("second")}},
	}
	c := compileWith(t, snap, Options{})
	g := startGateway(t, nil)
	g.h.Swap(c)
	cc, err := grpc.NewClient(strings.TrimPrefix(g.base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	type want struct {
		code        codes.Code
		msg         string
		http, grpcS int
	}
	for _, c := range []struct {
		name, method, key string
		want              want
	}{
		{"pass-through", "/test.Echo/Unary", testKey, want{codes.OK, "", 200, 0}},
		{"backend status", "/test.Echo/Fail", testKey, want{codes.NotFound, "no such thing", 200, 5}},
		{"no key", "/test.Echo/Unary", "", want{codes.Unauthenticated, msgMissingKey, 401, 16}},
		{"invalid key", "/test.Echo/Unary", "wrong", want{codes.Unauthenticated, msgInvalidKey, 401, 16}},
		{"no operation", "/test.Echo/Nope", testKey, want{codes.Unimplemented, msgNotFound, 404, 12}},
		{"no API", "/other.Svc/Unary", testKey, want{codes.Unimplemented, msgNotFound, 404, 12}},
		{"under the limit", "/test.Echo/Limited", testKey, want{codes.OK, "", 200, 0}},
		{"rate limit", "/test.Echo/Limited", testKey, want{codes.Unavailable, "Rate limit is exceeded.", 429, 14}},
		{"backend down", "/test.Echo/Down", testKey, want{codes.Unavailable, "Backend service unreachable", 502, 14}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if c.key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "ocp-apim-subscription-key", c.key)
		}
		out := new(wrapperspb.StringValue)
		err := cc.Invoke(ctx, c.method, wrapperspb.String("hi"), out)
		cancel()
		st, _ := status.FromError(err)
		if st.Code() != c.want.code || !strings.HasPrefix(st.Message(), c.want.msg) {
			t.Errorf("%s: %v %q, want %v %q", c.name, st.Code(), st.Message(), c.want.code, c.want.msg)
		}
		if c.name == "pass-through" && out.Value != "hi md=from-policy" {
			t.Errorf("%s: %q, want the policy's metadata at the backend", c.name, out.Value)
		}
		r := g.waitRecord(t)
		if r.Status != c.want.http || !r.GRPC || r.GRPCStatus != c.want.grpcS {
			t.Errorf("%s: record status %d gRPC %t/%d, want %d and gRPC %d", c.name, r.Status, r.GRPC, r.GRPCStatus, c.want.http, c.want.grpcS)
		}
	}
}

// waitRecord waits for the next telemetry record and takes it.
func (g *gw) waitRecord(t *testing.T) Record {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		g.mu.Lock()
		if len(g.recs) > 0 {
			r := g.recs[0]
			g.recs = g.recs[1:]
			g.mu.Unlock()
			return r
		}
		g.mu.Unlock()
	}
	t.Fatal("no telemetry record")
	return Record{}
}
