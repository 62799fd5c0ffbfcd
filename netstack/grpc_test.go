package netstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoService is a gRPC service written without generated code: Unary
// echoes, Fail returns NotFound, ServerStream sends three messages,
// ClientStream joins what it got, Bidi answers each message.
var echoService = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			md, _ := metadata.FromIncomingContext(ctx)
			grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t1"))
			return wrapperspb.String(fmt.Sprintf("echo:%s md:%v", in.Value, md.Get("x-md"))), nil
		}},
		{MethodName: "Fail", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return nil, status.Error(codes.NotFound, "no such thing")
		}},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := st.RecvMsg(in); err != nil {
				return err
			}
			for i := 0; i < 3; i++ {
				if err := st.SendMsg(wrapperspb.String(fmt.Sprint(in.Value, i))); err != nil {
					return err
				}
			}
			return nil
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			all := ""
			for {
				in := new(wrapperspb.StringValue)
				err := st.RecvMsg(in)
				if err == io.EOF {
					return st.SendMsg(wrapperspb.String(all))
				}
				if err != nil {
					return err
				}
				all += in.Value
			}
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				err := st.RecvMsg(in)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := st.SendMsg(wrapperspb.String("re:" + in.Value)); err != nil {
					return err
				}
			}
		}},
	},
}

// TestGRPCPassThrough: a real gRPC client speaks h2c to the engine, which
// forwards over HTTP/2 (h2c) to a real gRPC server: unary with metadata and
// trailers, a status error (the trailers-only form), and the three
// streaming modes, the bidirectional one message by message.
func TestGRPCPassThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&echoService, nil)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	h := &tlsHandler{}
	h.up.Store(NewUpstreamH2C(ln.Addr().String()))
	s := startProxy(t, h, Config{})
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out := new(wrapperspb.StringValue)
	var trailer metadata.MD
	mctx := metadata.AppendToOutgoingContext(ctx, "x-md", "m1")
	if err := cc.Invoke(mctx, "/test.Echo/Unary", wrapperspb.String("hi"), out, grpc.Trailer(&trailer)); err != nil {
		t.Fatalf("unary: %v", err)
	}
	if out.Value != "echo:hi md:[m1]" || fmt.Sprint(trailer.Get("x-trailer")) != "[t1]" {
		t.Errorf("unary: %q, trailer %v", out.Value, trailer)
	}

	err = cc.Invoke(ctx, "/test.Echo/Fail", wrapperspb.String("x"), out)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Errorf("status error: %v, want NotFound \"no such thing\"", err)
	}

	ss, err := cc.NewStream(ctx, &echoService.Streams[0], "/test.Echo/ServerStream")
	if err != nil {
		t.Fatal(err)
	}
	ss.SendMsg(wrapperspb.String("n"))
	ss.CloseSend()
	var got []string
	for {
		m := new(wrapperspb.StringValue)
		if err := ss.RecvMsg(m); err != nil {
			if err != io.EOF {
				t.Errorf("server stream: %v", err)
			}
			break
		}
		got = append(got, m.Value)
	}
	if fmt.Sprint(got) != "[n0 n1 n2]" {
		t.Errorf("server stream: %v", got)
	}

	cs, err := cc.NewStream(ctx, &echoService.Streams[1], "/test.Echo/ClientStream")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		cs.SendMsg(wrapperspb.String(v))
	}
	cs.CloseSend()
	m := new(wrapperspb.StringValue)
	if err := cs.RecvMsg(m); err != nil || m.Value != "abc" {
		t.Errorf("client stream: %q %v", m.Value, err)
	}

	bs, err := cc.NewStream(ctx, &echoService.Streams[2], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"x", "y", "z"} {
		if err := bs.SendMsg(wrapperspb.String(v)); err != nil {
			t.Fatal(err)
		}
		m := new(wrapperspb.StringValue)
		if err := bs.RecvMsg(m); err != nil || m.Value != "re:"+v {
			t.Fatalf("bidi %s: %q %v", v, m.Value, err)
		}
	}
	bs.CloseSend()
	if err := bs.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Errorf("bidi end: %v", err)
	}
}

type refuseAll struct{ status int }

func (r refuseAll) Serve(x *Exchange) { x.RespondError(r.status, "refused by a policy") }

// TestGRPCGatewayErrors: what a gRPC client makes today of an answer the
// gateway gives itself (a JSON error, not grpc-status): its library maps
// the HTTP status (gRPC's HTTP-to-gRPC status mapping), as docs/netstack.md
// says.
func TestGRPCGatewayErrors(t *testing.T) {
	for httpStatus, want := range map[int]codes.Code{
		401: codes.Unauthenticated, 403: codes.PermissionDenied, 404: codes.Unimplemented,
		429: codes.Unavailable, 502: codes.Unavailable, 504: codes.Unavailable,
	} {
		s := startProxy(t, refuseAll{httpStatus}, Config{Loops: 1})
		cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = cc.Invoke(ctx, "/test.Echo/Unary", wrapperspb.String("x"), new(wrapperspb.StringValue))
		cancel()
		cc.Close()
		if st, _ := status.FromError(err); st.Code() != want {
			t.Errorf("HTTP %d: %v, want %v", httpStatus, err, want)
		}
	}
}
